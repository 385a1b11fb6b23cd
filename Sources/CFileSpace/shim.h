// fallocate(2), which glibc declares only under _GNU_SOURCE (a macro a Swift module cannot set for
// the system headers it shares). Declared as glibc exports it on 64-bit Linux, where off_t is long.
extern int fallocate(int fd, int mode, long offset, long len);

// FALLOC_FL_KEEP_SIZE (linux/falloc.h): allocate the blocks, leave the file's length alone.
static const int subscriber_sync_falloc_keep_size = 0x01;

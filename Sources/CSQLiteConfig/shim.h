// Process-wide settings of the system SQLite (Debian: libsqlite3-dev). sqlite3_config is variadic,
// which Swift cannot call, hence these wrappers. They only take effect before SQLite initializes
// (the first connection opened in the process); later they return SQLITE_MISUSE and change nothing.
#include <sqlite3.h>

// Debian builds SQLite without lookaside memory, so every statement step allocates through
// sqlite3_malloc, and with memory statistics on (the default) each of those allocations takes a
// process-wide mutex. Nothing here reads the statistics.
static inline int subscriber_sync_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

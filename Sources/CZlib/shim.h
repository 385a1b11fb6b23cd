// The system zlib (Debian: zlib1g-dev). Only compress2/uncompress are used: they need no macros.
#include <zlib.h>

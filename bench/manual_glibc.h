/* manual_glibc.h: glibc's malloc/free for backend_manual.c (backend
 * "malloc"). Force-included with -include; see backend_manual.c. */
#include <gnu/libc-version.h>
#include <stdio.h>
#include <stdlib.h>

#define MANUAL_NAME "malloc"
#define manual_malloc malloc
#define manual_calloc calloc
#define manual_free free

static inline void manual_describe(char *buf, size_t n)
{
    snprintf(buf, n, "glibc %s malloc/free", gnu_get_libc_version());
}

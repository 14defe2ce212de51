/* manual_mimalloc.h: mimalloc's allocation calls for backend_manual.c
 * (backend "mimalloc"), called by name, not through malloc interposition.
 * Force-included with -include; see backend_manual.c. */
#include <mimalloc.h>
#include <stdio.h>

#define MANUAL_NAME "mimalloc"
#define manual_malloc mi_malloc
#define manual_calloc mi_calloc
#define manual_free mi_free

static inline void manual_describe(char *buf, size_t n)
{
    int v = mi_version();
    snprintf(buf, n, "mimalloc %d.%d.%d mi_malloc/mi_free", v / 100, v / 10 % 10, v % 10);
}

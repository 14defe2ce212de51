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

/* Memory mimalloc has committed from the OS now. */
static inline size_t manual_heap_bytes(void)
{
    size_t commit = 0;
    mi_process_info(NULL, NULL, NULL, NULL, NULL, &commit, NULL, NULL);
    return commit;
}

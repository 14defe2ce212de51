/* manual_floor.h: no allocator at all, for backend_manual.c (backend
 * "floor", run on the latency experiment only). A freed block goes on a
 * list of its size and the next allocation of that size takes it back, so
 * once the window is full a push does no allocator work: it fills 1 KiB,
 * stores a pointer and takes two clock readings. Its worst push is the
 * machine's own floor, the longest the program was held off the CPU (the
 * host taking the virtual CPU, the kernel, a page fault), measured in the
 * same run as the allocators and collectors it sits beside. A backend's
 * worst push can be read only against that. Force-included with -include;
 * see backend_manual.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANUAL_NAME "floor"

/* Each block carries its size in a 16-byte header; the lists hold a few
 * exact sizes (the latency experiment uses two). Locked, though the
 * experiment has one thread: the lock is never contended there. */
#define FLOOR_SIZES 8
static struct {
    size_t size;
    void *head;
} floor_lists[FLOOR_SIZES];
static pthread_mutex_t floor_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void *floor_malloc(size_t size)
{
    pthread_mutex_lock(&floor_lock); /* released below */
    for (int i = 0; i < FLOOR_SIZES; i++)
        if (floor_lists[i].size == size && floor_lists[i].head) {
            void *p = floor_lists[i].head;
            floor_lists[i].head = *(void **)p;
            pthread_mutex_unlock(&floor_lock);
            return p;
        }
    pthread_mutex_unlock(&floor_lock);
    char *b = malloc(size + 16);
    if (!b)
        return NULL;
    memcpy(b, &size, sizeof size);
    return b + 16;
}

static inline void *floor_calloc(size_t n, size_t size)
{
    void *p = floor_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

static inline void floor_free(void *p)
{
    if (!p)
        return;
    size_t size;
    memcpy(&size, (char *)p - 16, sizeof size);
    pthread_mutex_lock(&floor_lock); /* released below */
    for (int i = 0; i < FLOOR_SIZES; i++)
        if (floor_lists[i].size == size || floor_lists[i].size == 0) {
            floor_lists[i].size = size;
            *(void **)p = floor_lists[i].head;
            floor_lists[i].head = p;
            pthread_mutex_unlock(&floor_lock);
            return;
        }
    pthread_mutex_unlock(&floor_lock);
    free((char *)p - 16);
}

#define manual_malloc floor_malloc
#define manual_calloc floor_calloc
#define manual_free floor_free

static inline void manual_describe(char *buf, size_t n)
{
    snprintf(buf, n, "no allocator: freed blocks reused (the machine's floor)");
}

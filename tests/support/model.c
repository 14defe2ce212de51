/* model.c: test support (see model.h). */
#include "model.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tricolor.h"

uint64_t test_seed(const char *test, uint64_t fallback)
{
    const char *s = getenv("TC_TEST_SEED");
    uint64_t seed = fallback;
    if (s && *s) {
        char *end;
        seed = strtoull(s, &end, 10);
        if (*end) {
            fprintf(stderr, "TC_TEST_SEED=\"%s\": expected a decimal number\n", s);
            exit(2);
        }
    }
    printf("%s: seed=%llu (TC_TEST_SEED=%llu reproduces)\n", test,
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    return seed;
}

typedef struct fresh_arg {
    void (*fn)(void *);
    void *arg;
} fresh_arg;

static void *fresh_main(void *p)
{
    fresh_arg *fa = p;
    if (tc_thread_attach() != 0) {
        fprintf(stderr, "test_run_on_fresh_stack: tc_thread_attach failed\n");
        abort();
    }
    fa->fn(fa->arg);
    tc_thread_detach();
    return NULL;
}

typedef struct fresh_call {
    uintptr_t (*fn)(uintptr_t, uintptr_t, uintptr_t);
    uintptr_t a, b, c, ret;
} fresh_call;

static void fresh_call_main(void *p)
{
    fresh_call *k = p;
    k->ret = k->fn(k->a, k->b, k->c);
}

uintptr_t test_fresh_call(uintptr_t (*fn)(uintptr_t, uintptr_t, uintptr_t), uintptr_t a,
                          uintptr_t b, uintptr_t c)
{
    fresh_call k = {fn, a, b, c, 0};
    test_run_on_fresh_stack(fresh_call_main, &k);
    return k.ret;
}

void test_run_on_fresh_stack(void (*fn)(void *), void *arg)
{
    /* One page more, left inaccessible above the stack: the stack's end
     * (stack + size, which this frame and the thread library keep) then
     * points into that page, never into whatever the kernel maps next,
     * which may be a heap arena: the conservative scan kept an object at
     * exactly that address alive (found under TSan). */
    size_t size = (size_t)8 << 20, guard = (size_t)sysconf(_SC_PAGESIZE);
    void *stack = mmap(NULL, size + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
    if (stack == MAP_FAILED || mprotect((char *)stack + size, guard, PROT_NONE) != 0) {
        perror("test_run_on_fresh_stack: mmap");
        abort();
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack, size);
    fresh_arg fa = { fn, arg };
    pthread_t th;
    if (pthread_create(&th, &attr, fresh_main, &fa) != 0) {
        perror("test_run_on_fresh_stack: pthread_create");
        abort();
    }
    pthread_attr_destroy(&attr);
    tc_blocking_begin();
    pthread_join(th, NULL);
    tc_blocking_end();
    munmap(stack, size + guard);
}

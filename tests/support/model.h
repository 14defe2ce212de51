/* model.h: test support: the random seed (printed, and taken back from
 * TC_TEST_SEED) and a small deterministic PRNG. */
#ifndef TC_TEST_MODEL_H
#define TC_TEST_MODEL_H

#include <stdint.h>

/* The seed for this run: TC_TEST_SEED if set (decimal), else `fallback`.
 * Printed once as "seed=N (TC_TEST_SEED=N reproduces)". */
uint64_t test_seed(const char *test, uint64_t fallback);

/* Runs fn(arg) on a new attached thread whose stack is freshly mapped (all
 * zero) and waits for it inside a blocking region. A conservative stack scan
 * of such a thread sees only words its own live frames wrote: no address an
 * earlier test left in an unwritten slot keeps a dropped object alive, so a
 * test may demand that dropped objects are freed. */
void test_run_on_fresh_stack(void (*fn)(void *), void *arg);

/* fn(a, b, c) through test_run_on_fresh_stack, returning its result: for
 * the builds and checks of a test that demands dropped objects be freed.
 * The addresses they load stay in no frame of the caller's (a dead frame's
 * slot that a stack clearing misses kept an object alive under ASan and
 * TSan), so pass and return handles and flags, never objects. */
uintptr_t test_fresh_call(uintptr_t (*fn)(uintptr_t, uintptr_t, uintptr_t), uintptr_t a,
                          uintptr_t b, uintptr_t c);

typedef struct test_rng { uint64_t s; } test_rng;
static inline uint64_t test_rand(test_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline uint64_t test_below(test_rng *r, uint64_t n)
{
    return test_rand(r) % n;
}

#endif

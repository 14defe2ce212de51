/* model.c: test support (see model.h). */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>

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

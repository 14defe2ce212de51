/* assertion.c: tci_assert's failure (assertion.h). */
#include <stdio.h>
#include <stdlib.h>

#include "assertion.h"

void tci_assertion_fail(const char *file, int line, const char *fn, const char *cond)
{
    fprintf(stderr, "tricolor: %s:%d: %s: assertion failed: %s\n", file, line, fn, cond);
    abort();
}

/* test_graph.c: the torture test's reference model (tests/support/graph.c)
 * against a plain walk from the roots after every change: random graphs
 * with few roots (big subtrees hang on each), cycles, self-loops, the same
 * target in several slots, and everything dropped at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph.h"
#include "model.h"

/* What the roots reach, by a walk that knows nothing of the model's
 * bookkeeping, must be what the model says is reachable. */
static void check_against_walk(test_graph *g)
{
    unsigned char *seen = calloc(g->n ? g->n : 1, 1);
    int64_t *queue = malloc((g->n ? g->n : 1) * sizeof *queue);
    assert_non_null(seen);
    assert_non_null(queue);
    size_t nq = 0;
    for (size_t r = 0; r < g->nroots; r++) {
        int64_t t = g->roots[r];
        if (t >= 0 && !seen[t]) {
            seen[t] = 1;
            queue[nq++] = t;
        }
    }
    for (size_t k = 0; k < nq; k++) {
        assert_true(test_graph_is_reachable(g, queue[k]));
        for (uint32_t j = 0; j < g->v[queue[k]].nslots; j++) {
            int64_t t = test_graph_target(g, queue[k], j);
            if (t >= 0 && !seen[t]) {
                seen[t] = 1;
                queue[nq++] = t;
            }
        }
    }
    assert_int_equal(nq, g->nreach);
    for (size_t x = 0; x < g->n; x++)
        assert_int_equal(seen[x], test_graph_is_reachable(g, (int64_t)x));
    free(seen);
    free(queue);
}

static int64_t pick(test_graph *g, test_rng *r)
{
    return g->nreach ? g->reach[test_below(r, g->nreach)] : -1;
}

static void test_graph_random_changes_match_a_walk(void **state)
{
    (void)state;
    test_rng r = { test_seed("graph", 31337) };
    test_graph g;
    test_graph_init(&g, 32);
    size_t most = 0;
    for (int op = 0; op < 40000; op++) {
        unsigned k = (unsigned)test_below(&r, 100);
        int64_t a = pick(&g, &r), b = pick(&g, &r);
        if (k < 40 || a < 0) { /* a new vertex, in a slot or a root */
            int64_t x = test_graph_add(&g, (uint32_t)test_below(&r, 16));
            if (a >= 0 && g.v[a].nslots && test_below(&r, 4) != 0)
                test_graph_set(&g, a, (uint32_t)test_below(&r, g.v[a].nslots), x);
            else
                test_graph_set_root(&g, test_below(&r, g.nroots), x);
        } else if (k < 78) { /* a link, sometimes a self-loop */
            if (g.v[a].nslots)
                test_graph_set(&g, a, (uint32_t)test_below(&r, g.v[a].nslots),
                               test_below(&r, 8) == 0 ? a : b);
        } else if (k < 88) { /* an unlink */
            if (g.v[a].nslots)
                test_graph_set(&g, a, (uint32_t)test_below(&r, g.v[a].nslots), -1);
        } else if (k < 95) { /* a root dropped */
            test_graph_set_root(&g, test_below(&r, g.nroots), -1);
        } else { /* a root moved */
            test_graph_set_root(&g, test_below(&r, g.nroots), b);
        }
        check_against_walk(&g);
        most = g.nreach > most ? g.nreach : most;
        /* Now and then, as the torture test does at each collection: the
         * model's own checks, and its chains made short again. */
        if (test_below(&r, 500) == 0)
            assert_true(test_graph_walk(&g));
    }
    assert_true(test_graph_walk(&g));
    printf("graph: 40000 changes, %zu vertices, up to %zu reachable at once, %zu now; "
           "%llu visited by the searches\n", g.n, most, g.nreach, (unsigned long long)g.visits);
    for (size_t i = 0; i < g.nroots; i++)
        test_graph_set_root(&g, i, -1);
    check_against_walk(&g);
    assert_int_equal(g.nreach, 0);
    test_graph_fini(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_random_changes_match_a_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

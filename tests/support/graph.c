/* graph.c: test support: reachability kept up to date edge by edge (see
 * graph.h). */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *graph_alloc(void *p, size_t n, size_t size)
{
    p = realloc(p, (n ? n : 1) * size);
    if (!p) {
        fprintf(stderr, "test_graph: out of memory\n");
        abort();
    }
    return p;
}

static void graph_require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "test_graph: contract broken: %s\n", what);
        abort();
    }
}

/* n empty slots (a vertex's, or the roots) and their places in `in`. */
static void slots_alloc(int64_t **to, uint32_t **inpos, size_t n)
{
    *to = graph_alloc(NULL, n, sizeof **to);
    *inpos = graph_alloc(NULL, n, sizeof **inpos);
    for (size_t i = 0; i < n; i++)
        (*to)[i] = -1;
}

static void vertex_free(test_vertex *v)
{
    free(v->to);
    free(v->inpos);
    free(v->in);
    v->to = NULL;
    v->inpos = NULL;
    v->in = NULL;
    v->nslots = v->nin = v->incap = 0;
}

void test_graph_init(test_graph *g, size_t nroots)
{
    memset(g, 0, sizeof *g);
    g->nroots = nroots;
    slots_alloc(&g->roots, &g->root_inpos, nroots);
}

void test_graph_fini(test_graph *g)
{
    for (size_t i = 0; i < g->n; i++)
        vertex_free(&g->v[i]);
    free(g->v);
    free(g->roots);
    free(g->root_inpos);
    free(g->reach);
    free(g->queue);
    free(g->pending);
    memset(g, 0, sizeof *g);
}

int64_t test_graph_add(test_graph *g, uint32_t nslots)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 1024;
        g->v = graph_alloc(g->v, g->cap, sizeof *g->v);
        g->reach = graph_alloc(g->reach, g->cap, sizeof *g->reach);
        g->queue = graph_alloc(g->queue, g->cap, sizeof *g->queue);
        g->pending = graph_alloc(g->pending, g->cap, sizeof *g->pending);
    }
    test_vertex *x = &g->v[g->n];
    memset(x, 0, sizeof *x);
    slots_alloc(&x->to, &x->inpos, nslots);
    x->nslots = nslots;
    x->state = TEST_V_NEW;
    return (int64_t)g->n++;
}

static int64_t *edge_to(test_graph *g, test_edge e)
{
    return e.from < 0 ? &g->roots[e.slot] : &g->v[e.from].to[e.slot];
}

static uint32_t *edge_inpos(test_graph *g, test_edge e)
{
    return e.from < 0 ? &g->root_inpos[e.slot] : &g->v[e.from].inpos[e.slot];
}

static int edge_eq(test_edge a, test_edge b)
{
    return a.from == b.from && a.slot == b.slot;
}

/* An edge from a root or a reachable vertex. */
static int edge_from_reachable(const test_graph *g, test_edge e)
{
    return e.from < 0 || g->v[e.from].state == TEST_V_REACHABLE;
}

static void in_add(test_graph *g, int64_t x, test_edge e)
{
    test_vertex *v = &g->v[x];
    if (v->nin == v->incap) {
        v->incap = v->incap ? v->incap * 2 : 2;
        v->in = graph_alloc(v->in, v->incap, sizeof *v->in);
    }
    *edge_inpos(g, e) = v->nin;
    v->in[v->nin++] = e;
}

/* Removes the edge at index pos of x's `in`; the last one takes its place. */
static void in_remove(test_graph *g, int64_t x, uint32_t pos)
{
    test_vertex *v = &g->v[x];
    test_edge last = v->in[--v->nin];
    if (pos != v->nin) {
        v->in[pos] = last;
        *edge_inpos(g, last) = pos;
    }
}

static void reach_add(test_graph *g, int64_t x, test_edge parent)
{
    test_vertex *v = &g->v[x];
    v->state = TEST_V_REACHABLE;
    v->parent = parent;
    v->reachpos = g->nreach;
    g->reach[g->nreach++] = x;
}

static void reach_remove(test_graph *g, int64_t x)
{
    size_t pos = g->v[x].reachpos;
    int64_t last = g->reach[--g->nreach];
    g->reach[pos] = last;
    g->v[last].reachpos = pos;
}

/* parent.from of a vertex whose parent edge went, until it finds another. */
#define NO_PARENT (-2)

/* Whether x's parent chain ends at a root (no vertex on it lost its
 * parent), judged once per vertex and search. */
static int chain_ok(test_graph *g, int64_t x)
{
    int64_t end = x;
    size_t steps = 0;
    int ok;
    for (;;) {
        test_vertex *v = &g->v[end];
        graph_require(steps++ <= g->n, "a cycle of parent edges");
        if (v->judged == g->search) {
            ok = v->chain_ok;
            break;
        }
        if (v->parent.from < 0) {
            ok = v->parent.from == -1;
            break;
        }
        end = v->parent.from;
    }
    g->visits += steps;
    for (int64_t w = x;; w = g->v[w].parent.from) {
        g->v[w].judged = g->search;
        g->v[w].chain_ok = ok;
        if (w == end)
            break;
    }
    return ok;
}

/* The search from x found edge e into w, whose source a root reaches:
 * hangs w on e and each vertex of the path the search took from w down to
 * x on the one before. The path's vertices were all found cut off from
 * the roots, so none is on e's chain: the parents stay a forest. */
static void anchor_path(test_graph *g, test_edge e, int64_t w, int64_t x)
{
    g->v[w].parent = e;
    while (w != x) {
        uint32_t j = g->v[w].via_slot;
        int64_t next = g->v[w].to[j];
        g->v[next].parent = (test_edge){ w, j };
        w = next;
    }
}

static void push_pending(test_graph *g, int64_t x)
{
    graph_require(g->npending < g->n, "a vertex waits twice for a parent");
    g->pending[g->npending++] = x;
}

/* The search's vertices (g->queue, n of them) are what no root reaches:
 * out of the reachable set, their edges out of the `in` of the living,
 * whose children they were waiting on g->pending. Two passes: in_remove
 * moves edges, which may be a dead vertex's, so none is freed before all
 * are removed. */
static void bury(test_graph *g, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        g->v[g->queue[k]].state = TEST_V_DEAD;
        reach_remove(g, g->queue[k]);
    }
    for (size_t k = 0; k < n; k++) {
        int64_t w = g->queue[k];
        test_vertex *v = &g->v[w];
        for (uint32_t j = 0; j < v->nslots; j++) {
            int64_t t = v->to[j];
            if (t < 0 || g->v[t].state == TEST_V_DEAD)
                continue;
            in_remove(g, t, v->inpos[j]);
            if (edge_eq(g->v[t].parent, (test_edge){ w, j })) {
                g->v[t].parent.from = NO_PARENT;
                push_pending(g, t);
            }
        }
    }
    for (size_t k = 0; k < n; k++)
        vertex_free(&g->v[g->queue[k]]);
}

/* Vertex x lost its parent edge: searches backward, along the edges that
 * name it, for a vertex a root reaches. Those it passes are cut off from
 * the roots (their chains run through a vertex without a parent); if it
 * finds none, neither they nor x can be reached from anywhere. */
static void resolve(test_graph *g, int64_t x)
{
    size_t n = 0;
    g->search++;
    g->v[x].seen = g->search;
    g->queue[n++] = x;
    for (size_t k = 0; k < n; k++) {
        int64_t w = g->queue[k];
        test_vertex *v = &g->v[w];
        for (uint32_t i = 0; i < v->nin; i++) {
            test_edge e = v->in[i];
            if (e.from >= 0 && g->v[e.from].seen == g->search)
                continue;
            if (e.from < 0 || chain_ok(g, e.from)) {
                anchor_path(g, e, w, x);
                g->visits += n;
                return;
            }
            g->v[e.from].seen = g->search;
            g->v[e.from].via_slot = e.slot;
            g->queue[n++] = e.from;
        }
    }
    g->visits += n;
    bury(g, n);
}

/* Vertex c lost its parent edge: it and what hangs on it find other
 * parents or are dead. A vertex waits at most once: it waits when its
 * parent dies, and what a search anchors is reachable, so never dies in
 * the same cut. */
static void cut(test_graph *g, int64_t c)
{
    g->v[c].parent.from = NO_PARENT;
    push_pending(g, c);
    while (g->npending > 0) {
        int64_t x = g->pending[--g->npending];
        if (g->v[x].state == TEST_V_REACHABLE && g->v[x].parent.from == NO_PARENT)
            resolve(g, x);
    }
}

static void set_edge(test_graph *g, test_edge e, int64_t to)
{
    graph_require(edge_from_reachable(g, e), "an edge from a vertex that is not reachable");
    int64_t *target = edge_to(g, e);
    int64_t old = *target;
    if (old == to)
        return;
    if (old >= 0)
        in_remove(g, old, *edge_inpos(g, e));
    *target = to;
    if (to >= 0) {
        graph_require(g->v[to].state == TEST_V_REACHABLE || g->v[to].state == TEST_V_NEW,
                      "an edge to a dead vertex");
        in_add(g, to, e);
        if (g->v[to].state == TEST_V_NEW)
            reach_add(g, to, e);
    }
    /* After the new edge is in: what old reached may be reached through it. */
    if (old >= 0 && edge_eq(g->v[old].parent, e))
        cut(g, old);
}

void test_graph_set(test_graph *g, int64_t from, uint32_t slot, int64_t to)
{
    graph_require(from >= 0 && (size_t)from < g->n && slot < g->v[from].nslots,
                  "no such slot");
    set_edge(g, (test_edge){ from, slot }, to);
}

void test_graph_set_root(test_graph *g, size_t root, int64_t to)
{
    graph_require(root < g->nroots, "no such root");
    set_edge(g, (test_edge){ -1, (uint32_t)root }, to);
}

static int check_fail(const char *what, int64_t x)
{
    fprintf(stderr, "test_graph_walk: %s (vertex %lld)\n", what, (long long)x);
    return 0;
}

/* One edge of the walk: it names a reachable vertex and is at its place in
 * that one's `in`; its target joins the walk if this is the first edge to
 * it (g->queue, `first`). */
static int walk_edge(test_graph *g, test_edge e, test_edge *first, size_t *nq)
{
    int64_t t = *edge_to(g, e);
    if (t < 0)
        return 1;
    if (g->v[t].state != TEST_V_REACHABLE)
        return check_fail("an edge from the reachable names a vertex not marked reachable", t);
    uint32_t pos = *edge_inpos(g, e);
    if (pos >= g->v[t].nin || !edge_eq(g->v[t].in[pos], e))
        return check_fail("an edge is not where it says in its target's in", t);
    if (g->v[t].seen != g->search) {
        g->v[t].seen = g->search;
        first[t] = e;
        g->queue[(*nq)++] = t;
    }
    return 1;
}

int test_graph_walk(test_graph *g)
{
    int ok = 1;
    test_edge *first = graph_alloc(NULL, g->n, sizeof *first);
    size_t nq = 0, nin = 0;
    g->search++;
    for (size_t r = 0; ok && r < g->nroots; r++)
        ok = walk_edge(g, (test_edge){ -1, (uint32_t)r }, first, &nq);
    for (size_t k = 0; ok && k < nq; k++) {
        test_vertex *v = &g->v[g->queue[k]];
        for (uint32_t j = 0; ok && j < v->nslots; j++)
            ok = walk_edge(g, (test_edge){ g->queue[k], j }, first, &nq);
    }
    if (ok && nq != g->nreach)
        ok = check_fail("the walk reaches a different number of vertices than the set holds",
                        (int64_t)nq);
    uint64_t walk = g->search++, visits = g->visits;
    for (size_t k = 0; ok && k < g->nreach; k++) {
        int64_t x = g->reach[k];
        test_vertex *v = &g->v[x];
        nin += v->nin;
        if (v->seen != walk || v->reachpos != k)
            ok = check_fail("the reachable set holds a vertex the walk did not reach", x);
        else if (v->parent.from < -1 || *edge_to(g, v->parent) != x ||
                 !edge_from_reachable(g, v->parent))
            ok = check_fail("a parent edge does not name its child from the reachable", x);
        else if (!chain_ok(g, x))
            ok = check_fail("a parent chain does not end at a root", x);
    }
    g->visits = visits; /* what a change costs, which this is not */
    /* Every edge into the reachable comes from the reachable: any other in
     * an `in` (a dead vertex's) would be counted here too; the walk saw
     * each of the others once. */
    size_t nedges = 0;
    for (size_t r = 0; r < g->nroots; r++)
        nedges += g->roots[r] >= 0;
    for (size_t k = 0; ok && k < nq; k++) {
        test_vertex *v = &g->v[g->queue[k]];
        for (uint32_t j = 0; j < v->nslots; j++)
            nedges += v->to[j] >= 0;
    }
    if (ok && nin != nedges)
        ok = check_fail("the reachable are named by edges from vertices not reachable",
                        (int64_t)(nin - nedges));
    /* The walk's first edges are the shortest chains: searches stay short. */
    for (size_t k = 0; ok && k < nq; k++)
        g->v[g->queue[k]].parent = first[g->queue[k]];
    free(first);
    return ok;
}

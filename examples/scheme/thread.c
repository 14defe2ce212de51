/* thread.c: interpreter threads, each a pthread attached to tricolor with a
 * VM of its own, and mutexes.
 *
 * (spawn thunk) starts a thread that runs the thunk and keeps its value;
 * (join t) waits for it in a blocking region (a stop of the world does not
 * wait for a thread blocked in pthread_join) and returns the value, or
 * raises an error if the thunk failed. A thread object holds the thunk,
 * the result and its state; the C side (the pthread_t) is in a
 * pointer-free block. The new thread holds its thread object on its own C
 * stack, which is a root once it has attached; until then the creator's
 * frame holds it, and the creator waits for the attach before returning.
 */
#include <pthread.h>
#include <stdlib.h>

#include "vm.h"

enum { TH_THUNK = 1, TH_RESULT, TH_STATE, TH_C, TH_SLOTS = 4 };
enum { TH_RUNNING, TH_DONE, TH_FAILED };

typedef struct thread_c {
    sc_val hdr;
    pthread_t tid;
    int joined;
    pthread_mutex_t lock; /* attached, and the creator's wait for it */
    pthread_cond_t cond;
    int attached;
} thread_c;

static thread_c *c_of(sc_val th)
{
    return (thread_c *)sc_obj(SC_SLOT(th, TH_C));
}

typedef struct run_state {
    sc_val th, result;
} run_state;

static void run_thunk(void *arg)
{
    run_state *rs = arg;
    rs->result = sc_run_thunk(SC_SLOT(rs->th, TH_THUNK));
}

static void *thread_main(void *arg)
{
    sc_val th = (sc_val)arg;
    if (tc_thread_attach() != 0) {
        fprintf(stderr, "spawn: cannot attach the thread to the collector\n");
        exit(1);
    }
    sc_vm_attach();
    thread_c *c = c_of(th);
    pthread_mutex_lock(&c->lock);
    c->attached = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    run_state rs = { th, SC_UNSPEC };
    int rc = sc_run_protected(run_thunk, &rs);
    SC_SET(th, TH_RESULT, rc == 0 ? rs.result : SC_FALSE);
    SC_SET(th, TH_STATE, sc_fixnum(rc == 0 ? TH_DONE : TH_FAILED));
    sc_port_flush(sc_current_output());
    sc_vm_detach();
    tc_thread_detach();
    return NULL;
}

static sc_val p_spawn(int argc, sc_val *argv)
{
    (void)argc;
    if (!sc_is_procedure(argv[0]))
        sc_error(argv[0], "spawn: not a procedure:");
    sc_val th = sc_alloc_slots(SC_THREAD, TH_SLOTS);
    SC_SET(th, TH_THUNK, argv[0]);
    SC_SLOT(th, TH_STATE) = sc_fixnum(TH_RUNNING);
    sc_val cblock = sc_alloc_atomic(SC_BYTEVECTOR, sizeof(thread_c), sizeof(thread_c) - sizeof(sc_val));
    SC_SET(th, TH_C, cblock);
    thread_c *c = c_of(th);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pthread_create(&c->tid, NULL, thread_main, (void *)th) != 0)
        sc_error(SC_DEFAULT, "spawn: cannot start a thread");
    /* th lives in this frame until the new thread, attached, holds it. */
    tc_blocking_begin();
    pthread_mutex_lock(&c->lock);
    while (!c->attached)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    tc_blocking_end();
    return th;
}

static sc_val p_join(int argc, sc_val *argv)
{
    (void)argc;
    sc_val th = argv[0];
    sc_check_kind("join", th, SC_THREAD);
    thread_c *c = c_of(th);
    if (!c->joined) {
        tc_blocking_begin();
        pthread_join(c->tid, NULL);
        tc_blocking_end();
        c->joined = 1;
    }
    if (sc_fixnum_value(SC_SLOT(th, TH_STATE)) == TH_FAILED)
        sc_error(th, "join: the thread ended with an error:");
    return SC_SLOT(th, TH_RESULT);
}

static sc_val p_thread_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is(argv[0], SC_THREAD));
}

/* ---- Mutexes ------------------------------------------------------------------------ */

enum { MX_C = 1, MX_SLOTS = 1 };

typedef struct mutex_c {
    sc_val hdr;
    pthread_mutex_t m;
} mutex_c;

/* A mutex dropped while unlocked is just memory; pthread mutexes need no
 * destroy on Linux, so no finalizer. */
static sc_val p_make_mutex(int argc, sc_val *argv)
{
    (void)argc, (void)argv;
    sc_val mx = sc_alloc_slots(SC_MUTEX, MX_SLOTS);
    sc_val cblock = sc_alloc_atomic(SC_BYTEVECTOR, sizeof(mutex_c), sizeof(mutex_c) - sizeof(sc_val));
    pthread_mutex_init(&((mutex_c *)sc_obj(cblock))->m, NULL);
    SC_SET(mx, MX_C, cblock);
    return mx;
}

static pthread_mutex_t *mutex_of(const char *who, sc_val mx)
{
    sc_check_kind(who, mx, SC_MUTEX);
    return &((mutex_c *)sc_obj(SC_SLOT(mx, MX_C)))->m;
}

static sc_val p_mutex_lock(int argc, sc_val *argv)
{
    (void)argc;
    pthread_mutex_t *m = mutex_of("mutex-lock!", argv[0]);
    /* Its holder may allocate, and so wait for a stop: wait blocked. */
    tc_blocking_begin();
    pthread_mutex_lock(m);
    tc_blocking_end();
    return SC_TRUE;
}

static sc_val p_mutex_unlock(int argc, sc_val *argv)
{
    (void)argc;
    pthread_mutex_unlock(mutex_of("mutex-unlock!", argv[0]));
    return SC_TRUE;
}

static sc_val p_mutex_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is(argv[0], SC_MUTEX));
}

void sc_init_threads(void)
{
    sc_defprim("spawn", p_spawn, 1, 1);
    sc_defprim("join", p_join, 1, 1);
    sc_defprim("thread?", p_thread_p, 1, 1);
    sc_defprim("make-mutex", p_make_mutex, 0, 1);
    sc_defprim("mutex-lock!", p_mutex_lock, 1, 1);
    sc_defprim("mutex-unlock!", p_mutex_unlock, 1, 1);
    sc_defprim("mutex?", p_mutex_p, 1, 1);
}

/* thread.h: attached threads, safepoints, blocking regions and stopping the
 * world. */
#ifndef TCI_THREAD_H
#define TCI_THREAD_H

#include <pthread.h>
#include <stdint.h>

#include "atomic.h"
#include "lock.h"
#include "os.h"
#include "tricolor.h"

enum tci_thread_state {
    TCI_RUNNING = 0,  /* may touch the heap */
    TCI_BLOCKING = 1, /* in a blocking region: counts as stopped */
    TCI_PARKED = 2,   /* waiting at a safepoint for the world to restart */
};

#define TCI_SPILL_WORDS 96

/* For the code that reads other threads' stacks and frames word by word:
 * those words include sanitizer red zones on purpose. */
#define TCI_NO_SANITIZE __attribute__((no_sanitize_address, no_sanitize("thread")))

#define TCI_PARK_LOG 8

typedef struct tci_thread tci_thread;

/* A stack a thread may run on (runtime/stack.c): each attached thread's
 * own, embedded in its record, and the ones tc_stack_register adds. All
 * are in one registry, protected by world_lock, so a suspended stack may
 * be resumed by any attached thread. A stack is either running (runner
 * set: its live part is [runner->stack_lo, hi), its registers in
 * runner->spill, as for any thread) or suspended (runner NULL: [sp, hi)
 * and its own spill, saved by tc_stack_switch as it was left). */
struct tc_stack {
    uintptr_t lo, hi;       /* immutable after registration */
    uint32_t magic;         /* TCI_STACK_MAGIC while registered (misuse checks) */
    int own;                /* a thread's own stack; immutable */
    /* Written by the thread that runs on the stack or leaves it
     * (tc_stack_switch, detach), while RUNNING; read by the stopper with
     * the world stopped (ordered by park_lock, as stack_lo is). A stack
     * passed between threads is handed over by the program's own
     * synchronisation, which it needs to resume a context anyway. */
    tci_thread *runner;
    uintptr_t sp;           /* suspended: the lowest live address */
    uintptr_t spill[TCI_SPILL_WORDS]; /* suspended: the registers at the switch */
    size_t spill_words;
    /* The collector's: the live part's start at the first stop of mark
     * number `mark_id` (tci_roots_note_stacks). World stopped. */
    uintptr_t mark_lo;
    uint64_t mark_id;
    tc_stack *next, **pprev; /* the registry: world_lock */
};
#define TCI_STACK_MAGIC 0x7c57ac6bu

struct tci_thread {
    /* Written by the owner under park_lock; read by the stopper under it. */
    int state;
    int blocking_depth;     /* owner only */
    uintptr_t stack_hi;     /* own.hi: immutable after attach */
    uintptr_t stack_lo;     /* published with the state (park_lock): the
                               lowest live address of the stack it runs on
                               (stack_cur) */
    /* The frame in which a blocking region began, copied (it dies when
     * tc_blocking_begin returns, but holds the caller's callee-saved
     * registers). Published with the state. */
    uintptr_t spill[TCI_SPILL_WORDS];
    size_t spill_words;
    /* The last time this thread was held by a stop (parked, or kept from
     * leaving a blocking region), CLOCK_MONOTONIC as tci_os_now_ns, and how
     * many times that happened: written by the owner under park_lock. The
     * tests check them against the pauses the collector reports. */
    uint64_t park_begin_ns, park_end_ns;
    uint64_t parks;
    /* The last TCI_PARK_LOG held intervals, [parks % TCI_PARK_LOG]: one
     * call (an allocation that sweeps, then assists) may be held by more
     * than one stop. */
    uint64_t park_log[TCI_PARK_LOG][2];
    /* The stack the thread runs on: &own, or one it switched to
     * (tc_stack_switch). Written by the owner while RUNNING; read by the
     * stopper with the world stopped. */
    tc_stack *stack_cur;
    tc_stack own;            /* lo, hi: the thread's own stack, from attach */
    pthread_t tid;
    int os_tid;             /* gettid(2)'s: immutable after attach */
    /* The owner's last poll, for the safepoint watchdog's report (world.c):
     * where it last called into the library (the return address into its
     * caller); polls counted, and when the last of the slow ones was
     * (tci_os_coarse_now_ns) with the count then: tc_safepoint's fast path
     * stores the address and the count only (a clock read, even a coarse
     * one, made it 7 times slower: 0.85 -> 6.2 ns), so the report knows
     * the time of the last poll exactly only when no fast one came after;
     * and the record of its last heap-profile sample (observe/profile.c's;
     * records are never freed), or 0. Atomic: written only by the owner,
     * read by a stopper that found the thread running; relaxed but for
     * poll_sample (release/acquire: the record's frames are read through
     * it); they may be read torn, which costs the report a line's
     * accuracy, no more. */
    tci_atomic poll_pc, polls, poll_ns, polls_at_ns, poll_sample;
    void *gc_local;         /* the collector's per-thread data (its cache) */
    tci_thread *next, *prev; /* registry: protected by world_lock */
};

/* The hooks by which the collector sets up and tears down its per-thread data:
 * attach runs before the thread is published, detach after it is removed
 * (both with world_lock held). Set once at init. */
typedef struct tci_thread_hooks {
    int (*attach)(tci_thread *t);
    void (*detach)(tci_thread *t);
    /* By the owner, as its outermost blocking region begins (inside 1) and
     * ends (0): the heap's fast paths are closed to it meanwhile. */
    void (*region)(tci_thread *t, int inside);
} tci_thread_hooks;

/* ncpu: the CPU count tc_init read (tci_os_ncpu), for the stop's spin bound. */
int tci_thread_init(const tci_thread_hooks *hooks, int ncpu);

/* The calling thread, or NULL when it is not attached. */
tci_thread *tci_thread_self(void);

/* The library's own threads (the collector's, the markers', the
 * scavenger's, the notifiers' and the finalizer thread) say so first
 * thing: a program's callback running on one must not attach it (a stop
 * would wait for a thread that never polls) or detach it. The finalizer
 * thread attaches with tci_thread_attach_library, which tc_thread_detach
 * then refuses. */
void tci_thread_set_library(void);
int tci_thread_attach_library(void);
/* tc_init's attach of the calling thread: its poll site (the watchdog's
 * "where") is tc_init's caller, not tc_init. */
int tci_thread_attach_from(uintptr_t caller);


/* In the child of a fork, one thread, no lock held: drops every attached
 * thread's record but the caller's (detach hook run for each); returns
 * how many. */
int tci_thread_fork_child(void);

/* With the world stopped (or world_lock held): iterate attached threads. */
tci_thread *tci_thread_first(void);
int tci_thread_count(void);

/* Records a poll at pc (the return address into the caller of the
 * library's entry point): tc_safepoint's, two stores. */
static inline void tci_thread_note_fast_poll(tci_thread *t, uintptr_t pc)
{
    tci_atomic_store_relaxed(&t->poll_pc, pc);
    tci_atomic_store_relaxed(&t->polls, tci_atomic_load_relaxed(&t->polls) + 1);
}
/* The same with its time, on the paths that cost far more than the coarse
 * clock's few ns (an allocation's slow path, a blocking region, attach). */
static inline void tci_thread_note_poll(tci_thread *t, uintptr_t pc)
{
    tci_thread_note_fast_poll(t, pc);
    tci_atomic_store_relaxed(&t->poll_ns, (uintptr_t)tci_os_coarse_now_ns());
    tci_atomic_store_relaxed(&t->polls_at_ns, tci_atomic_load_relaxed(&t->polls));
}
#define TCI_CALLER() ((uintptr_t)__builtin_return_address(0))

/* A frame address below the caller's whole frame. */
uintptr_t tci_thread_deeper_frame(void);


/* Copies the frame of the function this is inlined into (its callee-saved
 * registers, which __builtin_unwind_init makes the prologue save there)
 * into spill[TCI_SPILL_WORDS], its length in *words; returns the address
 * just above the frame, where the caller's live stack begins. Always
 * inlined, so the frame is the caller's. */
static inline __attribute__((always_inline)) TCI_NO_SANITIZE uintptr_t
tci_thread_spill_frame(uintptr_t *spill, size_t *words)
{
    __builtin_unwind_init();
    uintptr_t lo = tci_thread_deeper_frame();
    uintptr_t hi = (uintptr_t)__builtin_frame_address(0) + 2 * sizeof(void *);
    size_t n = (hi - lo) / sizeof(uintptr_t);
    if (n > TCI_SPILL_WORDS) {
        /* The saved registers sit at the top of the frame, next to the
         * return address: keep the top. */
        lo = hi - TCI_SPILL_WORDS * sizeof(uintptr_t);
        n = TCI_SPILL_WORDS;
    }
    const volatile uintptr_t *src = (const volatile uintptr_t *)lo;
    for (size_t i = 0; i < n; i++)
        spill[i] = src[i];
    *words = n;
    return hi;
}

/* Aborts, naming tc_stack_register and tc_stack_switch, when sp is not
 * inside the stack self is known to run on (self->stack_cur): the thread
 * switched stacks without saying so, and a scan from sp to the top of
 * that stack would read memory that is no stack. Called wherever a thread
 * publishes its frame for a stop (tci_thread_save_frame, tci_world_park). */
void tci_thread_check_stack_slow(const tci_thread *self, uintptr_t sp, const char *where);
static inline void tci_thread_check_stack(const tci_thread *self, uintptr_t sp, const char *where)
{
    if (sp < self->stack_cur->lo || sp > self->stack_cur->hi)
        tci_thread_check_stack_slow(self, sp, where);
}

/* Publishes the frame of the function this is inlined into as the lowest
 * part of the caller's stack that holds live values: its callee-saved
 * registers are copied into self->spill, and the stack scan starts above
 * it. Used where a frame is about to die (tc_blocking_begin returns) and
 * where the frames below it hold only the library's own stale values (the
 * collector's deeper calls). Always inlined, so the frame is the caller's. */
static inline __attribute__((always_inline)) TCI_NO_SANITIZE void
tci_thread_save_frame(tci_thread *self)
{
    uintptr_t hi = tci_thread_spill_frame(self->spill, &self->spill_words);
    tci_thread_check_stack(self, hi, "a blocking region or a collection");
    self->stack_lo = hi;
}

/* ---- stack.c: the registry of stacks ------------------------------------- */
/* With world_lock held (attach, detach): a thread's own stack joins or
 * leaves the registry; leaving, a registered stack the thread still runs
 * on becomes suspended and empty. */
void tci_stack_add_own_locked(tci_thread *t);
void tci_stack_remove_own_locked(tci_thread *t);
/* With the world stopped (or world_lock held): every stack, own ones
 * included, through ->next. */
tc_stack *tci_stack_first(void);
/* With the world stopped: where a stack's live part begins, and its saved
 * registers (its runner's, or its own when suspended). */
static inline uintptr_t tci_stack_live_lo(const tc_stack *s)
{
    return s->runner ? s->runner->stack_lo : s->sp;
}
static inline const uintptr_t *tci_stack_spill(const tc_stack *s, size_t *words)
{
    *words = s->runner ? s->runner->spill_words : s->spill_words;
    return s->runner ? s->runner->spill : s->spill;
}

#endif

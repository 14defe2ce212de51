/* os.h: what tricolor needs from the operating system; one implementation
 * file per platform (os_linux.c). */
#ifndef TCI_OS_H
#define TCI_OS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Reserves and commits `size` bytes aligned to `align` (a power of two),
 * zero-filled, committed lazily by the OS. NULL on failure. At `hint` (a
 * multiple of align) when that range is free, elsewhere when not (0: no
 * preference). */
void *tci_os_map_aligned(size_t size, size_t align, uintptr_t hint);
/* Maps `size` bytes of zeroed metadata memory. NULL on failure. */
void *tci_os_map(size_t size);
void tci_os_unmap(void *p, size_t size);
/* Gives the pages of [p, p + size) back to the OS, keeping the mapping:
 * they hold no memory until touched, and then read as zeros. 0, or -1
 * when the OS refused (locked memory, a range not aligned to its pages):
 * then nothing changed. */
int tci_os_release(void *p, size_t size);
/* Fault injection for tests: the Nth map from now on fails (0: never). */
void tci_os_fail_map_after(unsigned n);
/* The same, but every map from the Nth on fails, until the next call of
 * either (tci_os_fail_map_after(0) ends it). */
void tci_os_fail_map_from(unsigned n);
/* Fault injection for tests: while on, tci_os_thread_start fails with
 * EAGAIN, as pthread_create does under an address-space limit. */
void tci_os_fail_thread_start(int on);

uint64_t tci_os_now_ns(void);          /* monotonic */
uint64_t tci_os_wall_ns(void);         /* since the epoch */
uint64_t tci_os_thread_cpu_ns(void);   /* CPU time of the calling thread */
uint64_t tci_os_process_cpu_ns(void);  /* CPU time of all the process's threads */
/* CLOCK_MONOTONIC at the kernel tick's resolution (1-4 ms), a few ns a
 * read: for the poll's timestamp (runtime/thread.c), compared only with
 * itself. */
uint64_t tci_os_coarse_now_ns(void);
/* The CPUs the process may use: the smaller of its affinity mask's count
 * and its cgroup's CPU quota (v2 cpu.max, v1 cpu.cfs_quota_us over
 * cpu.cfs_period_us; the tightest of its cgroup and every ancestor's),
 * rounded up, at least 1. Reads /proc and /sys (tens of microseconds):
 * once, at tc_init, never in a pause. */
int tci_os_ncpu(void);
/* The same with the files read below root ("": the system's own; a test's
 * fake tree: root/proc/self/cgroup, root/proc/self/mountinfo, and the
 * mount points it names under root). The affinity mask is the process's
 * own either way. */
int tci_os_cpu_count_at(const char *root);
/* The cgroup's quota alone, in whole CPUs rounded up; 0 for none: no
 * quota ("max", -1), no cgroup found, or files that do not parse. */
int tci_os_cpu_quota_at(const char *root);
/* The calling thread's time on a CPU and time runnable but waiting for one,
 * since it started: 0, or -1 where the kernel does not say (then neither is
 * written). For the library's own long-lived threads: the first call keeps
 * a descriptor open for the thread's life. */
int tci_os_thread_sched(uint64_t *run_ns, uint64_t *wait_ns);
/* 1 if tci_os_thread_sched can work on this system. */
int tci_os_thread_sched_available(void);
void tci_os_sleep_ns(uint64_t ns);
/* Starts a detached library thread running fn(arg): 0, or an errno value. */
int tci_os_thread_start(void *(*fn)(void *), void *arg);
/* The absolute time ns from now, for pthread_cond_timedwait (whose default
 * clock is CLOCK_REALTIME). */
void tci_os_deadline_after(struct timespec *ts, uint64_t ns);

/* Whether every byte of [lo, lo + size) is mapped readable now: 1, 0, or
 * -1 with errno when the process's map cannot be read. *private_rw (when
 * not NULL) is set to whether all of it is also writable and private to
 * the process (no other process writes it behind our back). Reads the
 * whole map (tens of microseconds): for registrations, not for a hot path. */
int tci_os_range_readable(uintptr_t lo, size_t size, int *private_rw);

/* The size of a page of the memory protections below. */
size_t tci_os_page_size(void);
/* Makes whole pages [p, p + size) read-only (writable 0) or readable and
 * writable (1): 0, or -1 with errno (ENOMEM: too many mappings). Safe in a
 * signal handler. */
int tci_os_protect(void *p, size_t size, int writable);
/* Routes the process's write faults on protected memory (SIGSEGV with
 * SEGV_ACCERR) through fn, on the faulting thread, before any handler the
 * program installed: fn returns 1 when the fault was its own (the write is
 * then retried), 0 to pass it on to the program's handler, or to the
 * default action when there is none. fn must be async-signal-safe. Called
 * again, it installs the hook anew when the program has replaced it since
 * (chaining to the program's handler): the roots call it at each use. 0,
 * or -1 with errno. */
int tci_os_fault_hook(int (*fn)(uintptr_t addr));

/* Installs fork handlers (pthread_atfork): prepare in the forking thread
 * before the copy, parent and child after it. 0, or an errno value. */
int tci_os_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

/* The calling thread's id as gettid(2) gives it (what ps -L, top -H, gdb
 * and /proc/self/task show). */
int tci_os_thread_id(void);
/* Thread tid's name as the kernel has it now (/proc/self/task/TID/comm,
 * what pthread_setname_np set), in buf (at least 16 bytes): 0, or -1 with
 * "?" in buf when it cannot be read (the thread exited). */
int tci_os_thread_name(int tid, char *buf, size_t len);
/* The calling thread's stack, [*lo, *hi) (the main thread's as far as
 * its size limit lets it grow). 0, or -1. */
int tci_os_stack_range(uintptr_t *lo, uintptr_t *hi);
/* Whether every page of [lo, hi) is mapped: 1, or 0. */
int tci_os_range_mapped(uintptr_t lo, uintptr_t hi);

/* One executable file mapping of the process: what a profile's Mapping
 * records, and where a code address's symbols are looked up. */
typedef struct tci_os_mapping {
    uintptr_t start, limit;  /* [start, limit) */
    uint64_t offset;         /* the file offset mapped at start */
    char *path;              /* malloc'd */
} tci_os_mapping;
/* The process's executable mappings of files, lowest address first: a
 * malloc'd array in *out (free it with tci_os_mappings_free), its length
 * in *n. 0, or -1 with errno (ENOMEM, or why the list could not be read);
 * *n is 0 and *out NULL after a failure. */
int tci_os_exec_mappings(tci_os_mapping **out, size_t *n);
void tci_os_mappings_free(tci_os_mapping *m, size_t n);

#endif

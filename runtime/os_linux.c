/* os_linux.c: the OS contract (os.h) on Linux. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "lock.h"

static tci_atomic fail_countdown; /* fault injection; 0 means off */

void tci_os_fail_map_after(unsigned n)
{
    tci_atomic_store_relaxed(&fail_countdown, n);
}

static tci_atomic fail_threads; /* fault injection; 0 means off */

void tci_os_fail_thread_start(int on)
{
    tci_atomic_store_relaxed(&fail_threads, (uintptr_t)on);
}

static int injected_failure(void)
{
    for (;;) {
        uintptr_t n = tci_atomic_load_relaxed(&fail_countdown);
        if (n == 0)
            return 0;
        if (tci_atomic_cas_full(&fail_countdown, n, n - 1))
            return n == 1;
    }
}

void *tci_os_map(size_t size)
{
    if (injected_failure())
        return NULL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *tci_os_map_aligned(size_t size, size_t align, uintptr_t hint)
{
    if (injected_failure())
        return NULL;
    /* Over-map and trim: mmap has no alignment argument. Without
     * MAP_FIXED the hint is taken only if the whole range is free. */
    size_t span = size + align;
    char *p = mmap((void *)hint, span, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)p;
    size_t tail = span - head - size;
    if (head)
        munmap(p, head);
    if (tail)
        munmap((char *)start + size, tail);
    return (void *)start;
}

void tci_os_unmap(void *p, size_t size)
{
    munmap(p, size);
}

static uint64_t ts_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t tci_os_now_ns(void) { return ts_ns(CLOCK_MONOTONIC); }
uint64_t tci_os_wall_ns(void) { return ts_ns(CLOCK_REALTIME); }
uint64_t tci_os_thread_cpu_ns(void) { return ts_ns(CLOCK_THREAD_CPUTIME_ID); }
uint64_t tci_os_process_cpu_ns(void) { return ts_ns(CLOCK_PROCESS_CPUTIME_ID); }

/* /proc/thread-self/schedstat: "run_ns wait_ns timeslices" (the kernel's
 * CONFIG_SCHED_INFO). The descriptor names the thread that opened it, so
 * each thread keeps its own; -2: tried, not there. */
static __thread int sched_fd = -1;

int tci_os_thread_sched(uint64_t *run_ns, uint64_t *wait_ns)
{
    if (sched_fd == -2)
        return -1;
    if (sched_fd < 0) {
        sched_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        if (sched_fd < 0) {
            sched_fd = -2;
            return -1;
        }
    }
    char buf[96];
    ssize_t n = pread(sched_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    unsigned long long run, wait;
    if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
        return -1;
    *run_ns = run;
    *wait_ns = wait;
    return 0;
}

int tci_os_thread_sched_available(void)
{
    int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

int tci_os_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

int tci_os_stack_range(uintptr_t *lo, uintptr_t *hi)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return -1;
    int rc = pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return -1;
    *lo = (uintptr_t)addr;
    *hi = (uintptr_t)addr + size;
    return 0;
}

uintptr_t tci_os_stack_base(void)
{
    uintptr_t lo, hi;
    return tci_os_stack_range(&lo, &hi) == 0 ? hi : 0;
}

int tci_os_range_mapped(uintptr_t lo, uintptr_t hi)
{
    /* msync fails with ENOMEM on a page that is not mapped, and with
     * MS_ASYNC does nothing to one that is. */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = lo & ~(page - 1);
    return msync((void *)a, hi - a, MS_ASYNC) == 0;
}

void tci_os_sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void tci_os_deadline_after(struct timespec *ts, uint64_t ns)
{
    clock_gettime(CLOCK_REALTIME, ts);
    uint64_t nsec = (uint64_t)ts->tv_nsec + ns;
    ts->tv_sec += (time_t)(nsec / 1000000000u);
    ts->tv_nsec = (long)(nsec % 1000000000u);
}

int tci_os_thread_start(void *(*fn)(void *), void *arg)
{
    if (tci_atomic_load_relaxed(&fail_threads))
        return EAGAIN;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}

int tci_os_release(void *p, size_t size)
{
    /* MADV_DONTNEED, not MADV_FREE: the resident size drops at once (an
     * operator watching RSS, a container's memory limit), and the pages
     * read as zeros afterwards, which the heap relies on to skip zeroing. */
    return madvise(p, size, MADV_DONTNEED) == 0 ? 0 : -1;
}

void tci_os_mappings_free(tci_os_mapping *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].path);
    free(m);
}

/* One line of /proc/self/maps: "start-limit perms offset dev inode path".
 * 1 and *m filled (path not yet copied: *path_at points into line) for an
 * executable mapping of a file; 0 for any other line. Anonymous memory,
 * [vdso] and [stack] have no file whose symbols could be read. */
static int maps_parse_line(char *line, tci_os_mapping *m, char **path_at)
{
    unsigned long long start, limit, offset, inode;
    char perms[5];
    int at = 0;
    if (sscanf(line, "%llx-%llx %4s %llx %*s %llu %n", &start, &limit, perms, &offset,
               &inode, &at) != 5 || at == 0)
        return 0;
    if (perms[2] != 'x' || line[at] != '/')
        return 0;
    line[strcspn(line, "\n")] = 0;
    m->start = (uintptr_t)start;
    m->limit = (uintptr_t)limit;
    m->offset = offset;
    *path_at = line + at;
    return 1;
}

int tci_os_exec_mappings(tci_os_mapping **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return -1;
    tci_os_mapping *m = NULL;
    size_t len = 0, cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    int err = 0;
    while (getline(&line, &line_cap, f) > 0) {
        tci_os_mapping one;
        char *path;
        if (!maps_parse_line(line, &one, &path))
            continue;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            tci_os_mapping *grown = realloc(m, ncap * sizeof *m);
            if (!grown) {
                err = ENOMEM;
                break;
            }
            m = grown;
            cap = ncap;
        }
        one.path = strdup(path);
        if (!one.path) {
            err = ENOMEM;
            break;
        }
        m[len++] = one;
    }
    /* getline also stops on a read error or when it cannot grow its
     * buffer: then the list is not at its end. */
    if (!err && !feof(f))
        err = errno ? errno : EIO;
    free(line);
    fclose(f);
    if (err) {
        tci_os_mappings_free(m, len);
        errno = err;
        return -1;
    }
    *out = m;
    *n = len;
    return 0;
}

int tci_os_range_readable(uintptr_t lo, size_t size, int *private_rw)
{
    uintptr_t hi = lo + size, cur = lo;
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return -1;
    char line[512];
    int ok = 0, rw = 1;
    /* Mappings come lowest first: walk them until [lo, hi) is covered by
     * readable ones or a gap or an unreadable one is found. */
    while (!ok && fgets(line, sizeof line, f)) {
        unsigned long start, end;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3)
            continue;
        if (end <= cur)
            continue;
        if (start > cur || perms[0] != 'r')
            break;
        rw &= perms[1] == 'w' && perms[3] == 'p';
        cur = end;
        ok = cur >= hi;
        /* A line longer than the buffer: skip its rest. */
        while (!strchr(line, '\n') && fgets(line, sizeof line, f))
            ;
    }
    fclose(f);
    if (private_rw)
        *private_rw = ok && rw;
    return ok;
}

size_t tci_os_page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

int tci_os_protect(void *p, size_t size, int writable)
{
    return mprotect(p, size, writable ? PROT_READ | PROT_WRITE : PROT_READ);
}

/* The fault hook. The program's handler that ours displaced, in one of two
 * slots: installing anew writes the other slot and then publishes its
 * index, so a handler running meanwhile reads a whole one. Written under
 * hook_lock, read by the signal handler. */
static tci_mutex hook_lock = TCI_MUTEX_INIT(TCI_RANK_HOOK, "hook_lock");
static struct sigaction hook_prev[2];
static tci_atomic hook_prev_slot;
static tci_atomic hook_fn; /* int (*)(uintptr_t), set once under hook_lock */
/* Set while this thread's handler passes a fault on: a program handler
 * that calls ours back (it saved ours as its previous one) then gets the
 * default action instead of a loop between the two. */
static __thread int hook_passing __attribute__((tls_model("initial-exec")));

static void fault_default(int sig, const siginfo_t *si)
{
    /* The default action for a fault is to die with the signal: retrying
     * the instruction faults again with no handler. A signal sent by
     * kill(2) is not retried, so it is raised again. */
    signal(sig, SIG_DFL);
    if (si->si_code <= 0)
        raise(sig);
}

static void fault_handler(int sig, siginfo_t *si, void *ctx)
{
    int (*fn)(uintptr_t) = (int (*)(uintptr_t))tci_atomic_load_acquire(&hook_fn);
    if (hook_passing) {
        fault_default(sig, si);
        return;
    }
    if (fn && si->si_code == SEGV_ACCERR && fn((uintptr_t)si->si_addr))
        return;
    const struct sigaction *prev = &hook_prev[tci_atomic_load_acquire(&hook_prev_slot)];
    if (prev->sa_flags & SA_SIGINFO) {
        hook_passing = 1;
        prev->sa_sigaction(sig, si, ctx);
        hook_passing = 0;
    } else if (prev->sa_handler == SIG_DFL || prev->sa_handler == SIG_IGN) {
        fault_default(sig, si); /* an ignored fault is fatal too */
    } else {
        hook_passing = 1;
        prev->sa_handler(sig);
        hook_passing = 0;
    }
}

int tci_os_fault_hook(int (*fn)(uintptr_t addr))
{
    tci_mutex_lock(&hook_lock); /* released on every path */
    struct sigaction cur;
    if (sigaction(SIGSEGV, NULL, &cur) != 0) {
        tci_mutex_unlock(&hook_lock);
        return -1;
    }
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == fault_handler) {
        tci_mutex_unlock(&hook_lock);
        return 0; /* still ours */
    }
    uintptr_t slot = tci_atomic_load_relaxed(&hook_prev_slot) ^ 1;
    hook_prev[slot] = cur;
    tci_atomic_store_release(&hook_prev_slot, slot);
    tci_atomic_store_release(&hook_fn, (uintptr_t)fn);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault_handler;
    /* On the program's alternate stack when it has one (its own stack may
     * be what overflowed); SA_NODEFER so a fault inside a handler the
     * fault is passed to is delivered, not a hang. */
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    int rc = sigaction(SIGSEGV, &sa, NULL);
    tci_mutex_unlock(&hook_lock);
    return rc;
}

/* os_linux.c: the OS contract (os.h) on Linux. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "fork.h"
#include "lock.h"

static tci_atomic fail_countdown; /* fault injection; 0 means off */

static tci_atomic fail_sticky; /* fault injection: the failure repeats */

void tci_os_fail_map_after(unsigned n)
{
    tci_atomic_store_relaxed(&fail_sticky, 0);
    tci_atomic_store_relaxed(&fail_countdown, n);
}

void tci_os_fail_map_from(unsigned n)
{
    tci_atomic_store_relaxed(&fail_sticky, 1);
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
        if (n == 1 && tci_atomic_load_relaxed(&fail_sticky))
            return 1;
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
uint64_t tci_os_coarse_now_ns(void) { return ts_ns(CLOCK_MONOTONIC_COARSE); }

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

/* ---- The CPUs the process may use -----------------------------------------
 * The smaller of the CPUs its affinity mask allows and its cgroup's CPU
 * quota (rounded up), at least 1: what Go 1.25 sets GOMAXPROCS to. In a
 * container limited to 2 CPUs on a 64-CPU host, _SC_NPROCESSORS_ONLN says
 * 64: 8 markers and 64 CPUs of limiter budget. Read once, at tc_init. */

/* The CPUs sched_getaffinity allows; the online CPUs when it fails. The
 * mask grows past glibc's 1024 CPUs (CPU_SETSIZE) while the kernel's is
 * bigger (EINVAL). */
static int affinity_count(void)
{
    for (int n = CPU_SETSIZE; n <= (1 << 22); n *= 2) {
        cpu_set_t *set = CPU_ALLOC(n);
        if (!set)
            break;
        size_t size = CPU_ALLOC_SIZE(n);
        int rc = sched_getaffinity(0, size, set);
        int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
        int err = errno;
        CPU_FREE(set);
        if (rc == 0 && count > 0)
            return count;
        if (rc != 0 && err != EINVAL)
            break;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

/* The first line of root + path, newline cut, in buf: 0, or -1. */
static int read_first_line(const char *root, const char *path, char *buf, size_t n)
{
    char full[PATH_MAX];
    if (snprintf(full, sizeof full, "%s%s", root, path) >= (int)sizeof full)
        return -1;
    FILE *f = fopen(full, "re");
    if (!f)
        return -1;
    int ok = fgets(buf, (int)n, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

/* A decimal number filling the whole of s but for trailing blanks: 0 and
 * *v, or -1 (empty, a sign, garbage, overflow). */
static int parse_u64(const char *s, unsigned long long *v)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    return *end ? -1 : 0;
}

/* ceil(quota / period) CPUs, at least 1; 0 for a figure the kernel would
 * not have written (no quota then, as for none). */
static int quota_cpus(unsigned long long quota, unsigned long long period)
{
    if (quota == 0 || period == 0)
        return 0;
    unsigned long long c = quota / period + (quota % period != 0);
    return c > INT_MAX ? INT_MAX : (int)c;
}

/* One cgroup directory's quota: v2's cpu.max ("max 100000", "200000
 * 100000"), v1's cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us. The
 * CPUs, or 0 for none, no file or a malformed one. */
static int dir_quota(const char *dir, int v2)
{
    char buf[128];
    unsigned long long quota, period;
    if (v2) {
        if (read_first_line(dir, "/cpu.max", buf, sizeof buf) != 0)
            return 0;
        char *sp = strchr(buf, ' ');
        if (!sp)
            return 0; /* "max" alone, or garbage */
        *sp = 0;
        if (strcmp(buf, "max") == 0 || parse_u64(buf, &quota) != 0 ||
            parse_u64(sp + 1, &period) != 0)
            return 0;
        return quota_cpus(quota, period);
    }
    if (read_first_line(dir, "/cpu.cfs_quota_us", buf, sizeof buf) != 0 ||
        parse_u64(buf, &quota) != 0) /* -1 fails here: no quota */
        return 0;
    if (read_first_line(dir, "/cpu.cfs_period_us", buf, sizeof buf) != 0 ||
        parse_u64(buf, &period) != 0)
        return 0;
    return quota_cpus(quota, period);
}

/* Whether the comma-separated list has the token word. */
static int has_token(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p; p = strchr(p, ',')) {
        p += *p == ',';
        if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == 0))
            return 1;
    }
    return 0;
}

/* The process's cgroup from root/proc/self/cgroup ("id:controllers:path"
 * lines): the v1 hierarchy with the cpu controller when there is one (a
 * hybrid system keeps cpu there), else v2's "0::path". 0 with *v2 and
 * path, or -1. */
static int cgroup_path(const char *root, int *v2, char *path, size_t n)
{
    char file[PATH_MAX];
    if (snprintf(file, sizeof file, "%s/proc/self/cgroup", root) >= (int)sizeof file)
        return -1;
    FILE *f = fopen(file, "re");
    if (!f)
        return -1;
    char line[PATH_MAX + 256];
    int found = 0; /* 1: v2 seen; 2: v1's cpu seen */
    while (found < 2 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || c2[1] != '/' || strlen(c2 + 1) >= n)
            continue;
        *c1 = *c2 = 0;
        int is_v1_cpu = has_token(c1 + 1, "cpu");
        int is_v2 = strcmp(line, "0") == 0 && c1[1] == 0;
        if (is_v1_cpu || (is_v2 && !found)) {
            strcpy(path, c2 + 1);
            *v2 = !is_v1_cpu;
            found = is_v1_cpu ? 2 : 1;
        }
    }
    fclose(f);
    /* "/.." : the process sits outside its cgroup namespace's root, whose
     * files are not in this mount. */
    return found && !strstr(path, "/..") ? 0 : -1;
}

/* mountinfo escapes a blank, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

/* One root/proc/self/mountinfo line ("id parent dev root mountpoint opts
 * [optional...] - fstype source superopts"): 1 when it mounts the cgroup
 * hierarchy wanted (cgroup2, or v1's with the cpu controller) at a root
 * that holds cgroup `path`; then dir = root + mountpoint + the rest of
 * path below the mount's root, and *mount_len the length of its
 * root + mountpoint part. */
static int mount_line(char *line, const char *root, int v2, const char *path, char *dir,
                      size_t n, size_t *mount_len)
{
    char *save, *field[5];
    for (int k = 0; k < 5; k++)
        if (!(field[k] = strtok_r(k ? NULL : line, " \n", &save)))
            return 0;
    char *t;
    while ((t = strtok_r(NULL, " \n", &save)) && strcmp(t, "-") != 0)
        ; /* the optional fields */
    char *fstype = strtok_r(NULL, " \n", &save);
    char *source = fstype ? strtok_r(NULL, " \n", &save) : NULL;
    char *super = source ? strtok_r(NULL, " \n", &save) : NULL;
    if (!super || strcmp(fstype, v2 ? "cgroup2" : "cgroup") != 0 ||
        (!v2 && !has_token(super, "cpu")))
        return 0;
    char *mroot = field[3], *mpoint = field[4];
    unescape_octal(mroot);
    unescape_octal(mpoint);
    size_t rl = strcmp(mroot, "/") == 0 ? 0 : strlen(mroot);
    if (strncmp(path, mroot, rl) != 0 || (path[rl] != '/' && path[rl] != 0))
        return 0; /* this mount shows another part of the hierarchy */
    int len = snprintf(dir, n, "%s%s", root, mpoint);
    if (len < 0 || (size_t)len >= n)
        return 0;
    *mount_len = (size_t)len;
    const char *rest = path + rl;
    if (strcmp(rest, "/") == 0)
        rest = "";
    if (snprintf(dir + len, n - (size_t)len, "%s", rest) >= (int)(n - (size_t)len))
        return 0;
    return 1;
}

int tci_os_cpu_quota_at(const char *root)
{
    int v2;
    char path[PATH_MAX];
    if (cgroup_path(root, &v2, path, sizeof path) != 0)
        return 0;
    char file[PATH_MAX];
    if (snprintf(file, sizeof file, "%s/proc/self/mountinfo", root) >= (int)sizeof file)
        return 0;
    FILE *f = fopen(file, "re");
    if (!f)
        return 0;
    char dir[PATH_MAX], *line = NULL;
    size_t cap = 0, mount_len = 0;
    int found = 0;
    while (!found && getline(&line, &cap, f) > 0)
        found = mount_line(line, root, v2, path, dir, sizeof dir, &mount_len);
    free(line);
    fclose(f);
    if (!found)
        return 0;
    /* The kernel applies every ancestor's quota: the tightest, from the
     * process's cgroup up to the mount's root (v2's root has no cpu.max). */
    int best = 0;
    for (;;) {
        int q = dir_quota(dir, v2);
        if (q > 0 && (best == 0 || q < best))
            best = q;
        char *slash = strrchr(dir + mount_len, '/');
        if (!slash)
            break;
        *slash = 0;
    }
    return best;
}

int tci_os_cpu_count_at(const char *root)
{
    int n = affinity_count();
    int q = tci_os_cpu_quota_at(root);
    if (q > 0 && q < n)
        n = q;
    return n < 1 ? 1 : n;
}

int tci_os_ncpu(void)
{
    return tci_os_cpu_count_at("");
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

int tci_os_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    return pthread_atfork(prepare, parent, child);
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
TCI_FORK_LOCK(hook_lock)
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

int tci_os_thread_id(void)
{
    return (int)syscall(SYS_gettid);
}

int tci_os_thread_name(int tid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);
    if (fd >= 0)
        close(fd);
    if (n <= 0) {
        snprintf(buf, len, "?");
        return -1;
    }
    buf[n] = '\0';
    if (buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    return 0;
}

/* test_cpus.c: the CPUs the collector counts (runtime/os_linux.c's
 * tci_os_ncpu): the affinity mask, set in a child before tc_init, and the
 * cgroup quota, read from fake /proc and /sys trees in a temporary
 * directory through tci_os_cpu_quota_at / tci_os_cpu_count_at. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "child.h"
#include "os.h"
#include "testing.h"
#include "tricolor.h"

/* The affinity mask's CPUs, as the test sees them (glibc's 1024-CPU set
 * is enough for any machine this runs on). */
static int mask_count(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    return CPU_COUNT(&set);
}

/* Keeps the first n CPUs of the calling thread's mask (the child's only
 * thread before tc_init: every thread the library starts inherits it). */
static void keep_cpus(int n)
{
    cpu_set_t set, keep;
    CPU_ZERO(&keep);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    for (int cpu = 0, kept = 0; cpu < CPU_SETSIZE && kept < n; cpu++)
        if (CPU_ISSET(cpu, &set)) {
            CPU_SET(cpu, &keep);
            kept++;
        }
    CHECK(sched_setaffinity(0, sizeof keep, &keep) == 0);
}

static void one_cpu_child(void)
{
    keep_cpus(1);
    CHECK(tci_os_ncpu() == 1);
    CHECK(tc_init() == 0);
    tc_memstats m;
    tc_read_memstats(&m);
    CHECK(m.ncpu == 1);
    CHECK(m.markers == 1); /* (1 + 2) / 4, at least 1 */
    tc_collect();
    tc_read_memstats(&m);
    CHECK(m.ncpu == 1 && m.markers == 1 && m.num_gc >= 1);
}

static void test_cpus_affinity_one_cpu(void **state)
{
    (void)state;
    child_result r;
    run_child(one_cpu_child, NULL, &r);
    expect_exit0(&r);
}

/* Stopped marking: every CPU marks, so the default markers are the count. */
static void two_cpus_stw_child(void)
{
    keep_cpus(2);
    CHECK(tc_init() == 0);
    tc_memstats m;
    tc_read_memstats(&m);
    CHECK(m.ncpu == 2);
    CHECK(m.markers == 2);
}

static void test_cpus_affinity_two_cpus_stw_markers(void **state)
{
    (void)state;
    if (mask_count() < 2) {
        printf("test_cpus: one CPU in the mask, the two-CPU case skipped\n");
        return;
    }
    static const char *const env[] = {"TRICOLOR_DEBUG=gcstoptheworld=1", NULL};
    child_result r;
    run_child(two_cpus_stw_child, env, &r);
    expect_exit0(&r);
}

/* The parent's memstats before tc_init: zeros. The system's own count is
 * at least 1 and never more than the mask. */
static void test_cpus_system_count_within_mask(void **state)
{
    (void)state;
    int n = tci_os_ncpu();
    assert_true(n >= 1);
    assert_true(n <= mask_count());
    assert_int_equal(tci_os_cpu_count_at(""), n);
}

/* ---- fake cgroup trees ---------------------------------------------------- */

static char root[256];

/* Writes root/rel (making its directories) with text; text NULL removes it. */
static void put(const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    if (!text) {
        unlink(path);
        return;
    }
    for (char *s = strchr(path + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int rm_tree(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd);
}

static int setup_root(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/tc_cpus_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown_root(void **state)
{
    (void)state;
    return rm_tree();
}

#define MOUNT_EXT4 "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
#define MOUNT_V2 "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - " \
                 "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"

/* The affinity count: what count_at gives when there is no quota. */
static int no_quota(void)
{
    return tci_os_cpu_count_at("/nonexistent-tc-root");
}

static void v2_tree(const char *cgroup_line)
{
    put("proc/self/cgroup", cgroup_line);
    put("proc/self/mountinfo", MOUNT_EXT4 MOUNT_V2);
}

static void test_cpus_v2_cpu_max(void **state)
{
    (void)state;
    v2_tree("0::/kube/pod1/ctr\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 0); /* no cpu.max anywhere */
    put("sys/fs/cgroup/kube/pod1/ctr/cpu.max", "max 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 0);
    assert_int_equal(tci_os_cpu_count_at(root), no_quota());
    put("sys/fs/cgroup/kube/pod1/ctr/cpu.max", "150000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 2); /* 1.5, rounded up */
    put("sys/fs/cgroup/kube/pod1/ctr/cpu.max", "200000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 2);
    put("sys/fs/cgroup/kube/pod1/ctr/cpu.max", "50000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 1);
    assert_int_equal(tci_os_cpu_count_at(root), 1); /* the smaller of mask and quota */
    put("sys/fs/cgroup/kube/pod1/ctr/cpu.max", "1000 1000000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 1); /* 0.001 CPU: at least 1 */
    /* More than the mask: the mask wins. */
    put("sys/fs/cgroup/kube/pod1/ctr/cpu.max", "409600000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 4096);
    assert_int_equal(tci_os_cpu_count_at(root), no_quota());
}

static void test_cpus_v2_nested_tightest(void **state)
{
    (void)state;
    v2_tree("0::/kube/pod1/ctr\n");
    /* The parent tighter than the child: the parent's. */
    put("sys/fs/cgroup/kube/pod1/ctr/cpu.max", "400000 100000\n");
    put("sys/fs/cgroup/kube/pod1/cpu.max", "100000 100000\n");
    put("sys/fs/cgroup/kube/cpu.max", "max 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 1);
    /* A grandparent tighter still, the child unlimited. */
    put("sys/fs/cgroup/kube/pod1/ctr/cpu.max", "max 100000\n");
    put("sys/fs/cgroup/kube/pod1/cpu.max", "300000 100000\n");
    put("sys/fs/cgroup/kube/cpu.max", "250000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 3);
    /* The child tightest. */
    put("sys/fs/cgroup/kube/pod1/ctr/cpu.max", "120000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 2);
    /* Above the mount's root is not read: a file beside the mount is not
     * an ancestor. */
    put("sys/fs/cpu.max", "100000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 2);
}

/* A cgroup namespace: the process's cgroup is the mount's root, whose
 * cpu.max the container sees. A bind mount of a subtree: the mount's root
 * field names it, and the path below it is what the mount shows. A mount
 * point with a blank, escaped as mountinfo does. */
static void test_cpus_v2_namespace_and_mount_root(void **state)
{
    (void)state;
    v2_tree("0::/\n");
    put("sys/fs/cgroup/cpu.max", "200000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 2);

    put("proc/self/cgroup", "0::/docker/abc\n");
    put("proc/self/mountinfo", MOUNT_EXT4
        "31 23 0:27 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 2); /* sys/fs/cgroup/cpu.max */
    put("proc/self/cgroup", "0::/docker/abc/inner\n");
    put("sys/fs/cgroup/inner/cpu.max", "300000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 2); /* inner's 3, its parent's 2 */
    /* A path outside the mount's root: that mount does not show it. */
    put("proc/self/cgroup", "0::/docker/abcdef\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 0);
    /* Outside the namespace's root. */
    put("proc/self/cgroup", "0::/../../x\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 0);

    put("proc/self/cgroup", "0::/c\n");
    put("proc/self/mountinfo", "40 23 0:28 / /sys/fs/my\\040cg rw shared:7 - cgroup2 none rw\n");
    put("sys/fs/my cg/c/cpu.max", "70000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 1);
}

#define MOUNTS_V1 MOUNT_EXT4                                                                  \
    "33 25 0:29 / /sys/fs/cgroup/unified rw shared:5 - cgroup2 cgroup2 rw\n"                  \
    "34 25 0:30 / /sys/fs/cgroup/memory rw shared:6 - cgroup cgroup rw,memory\n"              \
    "35 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw shared:7 - cgroup cgroup rw,cpu,cpuacct\n"

/* v1, on a hybrid system (the unified hierarchy mounted too, without the
 * cpu controller): cpu.cfs_quota_us over cpu.cfs_period_us. */
static void test_cpus_v1_quota_period(void **state)
{
    (void)state;
    put("proc/self/cgroup", "12:memory:/docker/x\n11:cpu,cpuacct:/docker/x\n"
        "1:name=systemd:/docker/x\n0::/docker/x\n");
    put("proc/self/mountinfo", MOUNTS_V1);
    put("sys/fs/cgroup/unified/docker/x/cpu.max", "100000 100000\n"); /* not cpu's hierarchy */
    assert_int_equal(tci_os_cpu_quota_at(root), 0);
    put("sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us", "-1\n");
    put("sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_period_us", "100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 0); /* -1: none */
    assert_int_equal(tci_os_cpu_count_at(root), no_quota());
    put("sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us", "250000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 3);
    put("sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us", "50000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 1);
    assert_int_equal(tci_os_cpu_count_at(root), 1);
    /* A tighter parent. */
    put("sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us", "400000\n");
    put("sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us", "200000\n");
    put("sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 2);
    /* The controller list in the other order. */
    put("proc/self/cgroup", "11:cpuacct,cpu:/docker/x\n");
    put("proc/self/mountinfo", MOUNT_EXT4
        "35 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 2);
    /* cpuacct alone is not cpu. */
    put("proc/self/cgroup", "11:cpuacct:/docker/x\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 0);
}

/* Files that do not parse are ignored: no quota from them, no crash, the
 * affinity count stands. */
static void test_cpus_malformed_ignored(void **state)
{
    (void)state;
    v2_tree("0::/a\n");
    static const char *const bad_max[] = {
        "", "\n", "garbage\n", "max\n", "100000\n", " 100000 100000\n", "-5 100000\n",
        "100000 -1\n", "100000 0\n", "0 100000\n", "1e5 100000\n", "100000 100000x\n",
        "99999999999999999999999 100000\n", "max max\n", "100000  \n",
    };
    for (size_t i = 0; i < sizeof bad_max / sizeof bad_max[0]; i++) {
        put("sys/fs/cgroup/a/cpu.max", bad_max[i]);
        if (tci_os_cpu_quota_at(root) != 0)
            fail_msg("cpu.max \"%s\" gave a quota", bad_max[i]);
        assert_int_equal(tci_os_cpu_count_at(root), no_quota());
    }
    /* A bad child file leaves the parent's good one in force. */
    put("sys/fs/cgroup/a/cpu.max", "junk\n");
    put("sys/fs/cgroup/cpu.max", "100000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 1);
    put("sys/fs/cgroup/cpu.max", NULL);
    put("sys/fs/cgroup/a/cpu.max", "100000 100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 1);

    /* Bad /proc/self/cgroup contents. */
    static const char *const bad_cgroup[] = {
        "", "nonsense\n", "0::relative\n", "0:\n", "::::\n", "1:cpu\n", "0::/..\n",
    };
    for (size_t i = 0; i < sizeof bad_cgroup / sizeof bad_cgroup[0]; i++) {
        put("proc/self/cgroup", bad_cgroup[i]);
        if (tci_os_cpu_quota_at(root) != 0)
            fail_msg("/proc/self/cgroup \"%s\" gave a quota", bad_cgroup[i]);
    }
    /* A long line does not confuse the next one. */
    char long_line[8192];
    memset(long_line, 'x', sizeof long_line - 2);
    long_line[sizeof long_line - 2] = '\n';
    long_line[sizeof long_line - 1] = 0;
    char both[9000];
    snprintf(both, sizeof both, "%s0::/a\n", long_line);
    put("proc/self/cgroup", both);
    assert_int_equal(tci_os_cpu_quota_at(root), 1);

    /* Bad mountinfo lines, and a long one, before no good one. */
    put("proc/self/cgroup", "0::/a\n");
    static const char *const bad_mounts[] = {
        "", "30 23 0:26 / /sys/fs/cgroup\n", "30 23 0:26 / /sys/fs/cgroup rw shared:4\n",
        "30 23 0:26 / /sys/fs/cgroup rw - cgroup2\n", "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 x\n",
        "30 23 0:26 /b /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        "30 23 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n",
    };
    for (size_t i = 0; i < sizeof bad_mounts / sizeof bad_mounts[0]; i++) {
        put("proc/self/mountinfo", bad_mounts[i]);
        if (tci_os_cpu_quota_at(root) != 0)
            fail_msg("mountinfo \"%s\" gave a quota", bad_mounts[i]);
    }
    snprintf(both, sizeof both, "%s%s", long_line, MOUNT_V2);
    put("proc/self/mountinfo", both);
    assert_int_equal(tci_os_cpu_quota_at(root), 1);

    /* No files at all. */
    put("proc/self/mountinfo", NULL);
    assert_int_equal(tci_os_cpu_quota_at(root), 0);
    put("proc/self/cgroup", NULL);
    assert_int_equal(tci_os_cpu_quota_at(root), 0);
    assert_int_equal(tci_os_cpu_count_at(root), no_quota());

    /* v1 with a bad period, a missing one, a bad quota. */
    put("proc/self/cgroup", "4:cpu:/v\n");
    put("proc/self/mountinfo", MOUNTS_V1);
    put("sys/fs/cgroup/cpu,cpuacct/v/cpu.cfs_quota_us", "100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 0); /* no period */
    put("sys/fs/cgroup/cpu,cpuacct/v/cpu.cfs_period_us", "zero\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 0);
    put("sys/fs/cgroup/cpu,cpuacct/v/cpu.cfs_period_us", "100000\n");
    put("sys/fs/cgroup/cpu,cpuacct/v/cpu.cfs_quota_us", "lots\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 0);
    put("sys/fs/cgroup/cpu,cpuacct/v/cpu.cfs_quota_us", "100000\n");
    assert_int_equal(tci_os_cpu_quota_at(root), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpus_system_count_within_mask),
        cmocka_unit_test(test_cpus_affinity_one_cpu),
        cmocka_unit_test(test_cpus_affinity_two_cpus_stw_markers),
        cmocka_unit_test_setup_teardown(test_cpus_v2_cpu_max, setup_root, teardown_root),
        cmocka_unit_test_setup_teardown(test_cpus_v2_nested_tightest, setup_root, teardown_root),
        cmocka_unit_test_setup_teardown(test_cpus_v2_namespace_and_mount_root, setup_root,
                                        teardown_root),
        cmocka_unit_test_setup_teardown(test_cpus_v1_quota_period, setup_root, teardown_root),
        cmocka_unit_test_setup_teardown(test_cpus_malformed_ignored, setup_root, teardown_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_quota.c — the cgroup CPU quota reader (runtime/quota.c) on fixture
 * trees that each test writes to its own temporary directory (no real
 * cgroup needed), then the default pool size that uses it.  Compiled once
 * per scheduler (see testutil.h); the reader itself knows no scheduler.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quota.h"
#include "testutil.h"

/* A fixture tree: dir/root is the cgroup mount, dir/cgroup the process's
   cgroup list. */
typedef struct fixture {
    char dir[64], root[96], cgroup[96];
} fixture;

static void fx_init(fixture *fx)
{
    snprintf(fx->dir, sizeof fx->dir, "/tmp/twill_quota_XXXXXX");
    cr_assert_not_null(mkdtemp(fx->dir));
    snprintf(fx->root, sizeof fx->root, "%s/root", fx->dir);
    snprintf(fx->cgroup, sizeof fx->cgroup, "%s/cgroup", fx->dir);
    cr_assert_eq(mkdir(fx->root, 0700), 0);
}

/* Write text to root/rel, creating the directories on the way. */
static void fx_write(const fixture *fx, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fx->root, rel);
    for (char *p = path + strlen(fx->root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0700);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void fx_cgroup(const fixture *fx, const char *text)
{
    FILE *f = fopen(fx->cgroup, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static unsigned fx_read(const fixture *fx)
{
    return twill__quota_cpus_at(fx->root, fx->cgroup);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void fx_done(fixture *fx)
{
    nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* -------------------------------------------------------- cgroup v2 -- */

Test(quota, v2_fractional_quota_rounds_up, .timeout = 10)
{
    fixture fx;
    fx_init(&fx);
    fx_cgroup(&fx, "0::/\n");
    fx_write(&fx, "cpu.max", "150000 100000\n");
    cr_expect_eq(fx_read(&fx), 2);
    fx_write(&fx, "cpu.max", "50000 100000\n");
    cr_expect_eq(fx_read(&fx), 1);
    fx_write(&fx, "cpu.max", "200000 100000\n");
    cr_expect_eq(fx_read(&fx), 2);
    fx_write(&fx, "cpu.max", "400000 100000");
    cr_expect_eq(fx_read(&fx), 4, "no trailing newline");
    fx_done(&fx);
}

Test(quota, v2_max_means_no_quota, .timeout = 10)
{
    fixture fx;
    fx_init(&fx);
    fx_cgroup(&fx, "0::/\n");
    fx_write(&fx, "cpu.max", "max 100000\n");
    cr_expect_eq(fx_read(&fx), 0);
    fx_done(&fx);
}

Test(quota, v2_reads_the_process_cgroup_and_its_ancestors, .timeout = 10)
{
    fixture fx;
    fx_init(&fx);
    fx_cgroup(&fx, "0::/a/b\n");
    fx_write(&fx, "a/cpu.max", "300000 100000\n");
    fx_write(&fx, "a/b/cpu.max", "max 100000\n");
    cr_expect_eq(fx_read(&fx), 3, "the parent's limit applies to the child");
    fx_write(&fx, "a/b/cpu.max", "100000 100000\n");
    cr_expect_eq(fx_read(&fx), 1, "the tightest level wins");
    fx_write(&fx, "cpu.max", "garbage\n");
    cr_expect_eq(fx_read(&fx), 1);
    fx_done(&fx);
}

Test(quota, v2_path_missing_under_root_reads_the_root, .timeout = 10)
{
    /* A container that mounts its own cgroup as the root but sees the
       host's path in /proc/self/cgroup. */
    fixture fx;
    fx_init(&fx);
    fx_cgroup(&fx, "0::/system.slice/docker-abc.scope\n");
    fx_write(&fx, "cpu.max", "200000 100000\n");
    cr_expect_eq(fx_read(&fx), 2);
    fx_done(&fx);
}

/* -------------------------------------------------------- cgroup v1 -- */

Test(quota, v1_only_quota_and_period, .timeout = 10)
{
    fixture fx;
    fx_init(&fx);
    fx_cgroup(&fx, "12:pids:/job\n4:cpu,cpuacct:/job\n0::/\n");
    fx_write(&fx, "cpu/job/cpu.cfs_quota_us", "250000\n");
    fx_write(&fx, "cpu/job/cpu.cfs_period_us", "100000\n");
    cr_expect_eq(fx_read(&fx), 3);
    fx_write(&fx, "cpu/job/cpu.cfs_quota_us", "-1\n");
    cr_expect_eq(fx_read(&fx), 0, "-1 is no quota");
    fx_done(&fx);
}

Test(quota, v1_controller_list_must_name_cpu_exactly, .timeout = 10)
{
    fixture fx;
    fx_init(&fx);
    fx_cgroup(&fx, "3:cpuset:/job\n2:cpuacct:/job\n");
    fx_write(&fx, "cpu/job/cpu.cfs_quota_us", "100000\n");
    fx_write(&fx, "cpu/job/cpu.cfs_period_us", "100000\n");
    fx_write(&fx, "cpu/cpu.cfs_quota_us", "-1\n");
    fx_write(&fx, "cpu/cpu.cfs_period_us", "100000\n");
    cr_expect_eq(fx_read(&fx), 0, "no cpu line: the root cgroup, unlimited");
    fx_cgroup(&fx, "3:cpuset:/job\n2:cpuacct,cpu:/job\n");
    cr_expect_eq(fx_read(&fx), 1);
    fx_done(&fx);
}

/* ------------------------------------------------------------- both -- */

Test(quota, v1_and_v2_both_present_the_smaller_wins, .timeout = 10)
{
    fixture fx;
    fx_init(&fx);
    fx_cgroup(&fx, "1:cpu:/\n0::/\n");
    fx_write(&fx, "cpu.max", "400000 100000\n");
    fx_write(&fx, "cpu/cpu.cfs_quota_us", "200000\n");
    fx_write(&fx, "cpu/cpu.cfs_period_us", "100000\n");
    cr_expect_eq(fx_read(&fx), 2);
    fx_write(&fx, "cpu.max", "100000 100000\n");
    cr_expect_eq(fx_read(&fx), 1);
    fx_write(&fx, "cpu.max", "max 100000\n");
    cr_expect_eq(fx_read(&fx), 2, "v2 unlimited, v1 still limits");
    fx_done(&fx);
}

/* ------------------------------------------------------- bad input -- */

Test(quota, missing_files_mean_no_quota, .timeout = 10)
{
    fixture fx;
    fx_init(&fx);
    cr_expect_eq(fx_read(&fx), 0, "no cgroup file, empty tree");
    fx_cgroup(&fx, "0::/a\n1:cpu:/a\n");
    cr_expect_eq(fx_read(&fx), 0, "cgroup file, empty tree");
    fx_write(&fx, "cpu/a/cpu.cfs_quota_us", "100000\n");
    cr_expect_eq(fx_read(&fx), 0, "v1 quota without period");
    cr_expect_eq(twill__quota_cpus_at("/nonexistent/twill", "/nonexistent/cgroup"), 0);
    fx_done(&fx);
}

Test(quota, garbage_means_no_quota, .timeout = 10)
{
    static const char *bad_v2[] = {"", "\n", "abc\n", "100000\n", "150000 100000 7\n",
                                   "0 100000\n", "100000 0\n", "-5 100000\n",
                                   "150000  100000\n", "1.5 1\n",
                                   "99999999999999999999999 100000\n"};
    static const char *bad_v1[] = {"", "12x\n", "0\n", "x\n", "--1\n"};
    fixture fx;
    fx_init(&fx);
    fx_cgroup(&fx, "0::/\n1:cpu:/\n");
    for (size_t i = 0; i < sizeof bad_v2 / sizeof *bad_v2; i++) {
        fx_write(&fx, "cpu.max", bad_v2[i]);
        cr_expect_eq(fx_read(&fx), 0, "cpu.max \"%s\"", bad_v2[i]);
    }
    fx_write(&fx, "cpu/cpu.cfs_period_us", "100000\n");
    for (size_t i = 0; i < sizeof bad_v1 / sizeof *bad_v1; i++) {
        fx_write(&fx, "cpu/cpu.cfs_quota_us", bad_v1[i]);
        cr_expect_eq(fx_read(&fx), 0, "cfs_quota_us \"%s\"", bad_v1[i]);
    }
    fx_write(&fx, "cpu/cpu.cfs_quota_us", "100000\n");
    fx_write(&fx, "cpu/cpu.cfs_period_us", "soon\n");
    cr_expect_eq(fx_read(&fx), 0, "garbage period");
    fx_cgroup(&fx, "garbage\n::\n:\n0:/x\n");
    fx_write(&fx, "cpu.max", "300000 100000\n");
    cr_expect_eq(fx_read(&fx), 3, "garbage cgroup lines: the root");
    fx_done(&fx);
}

/* ----------------------------------------------------- default size -- */

Test(quota, default_size_stays_within_the_quota_and_env_wins, .timeout = 30)
{
    unsigned q = twill__quota_cpus();
    cr_log_info("quota reader on this machine: %u (0: no quota)", q);
    unsetenv("TWILL_WORKERS");
    twill_config cfg = test_config(0);
    twill_pool *p = NULL;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    unsigned n = twill_pool_size(p);
    cr_expect_geq(n, 1);
    if (q != 0)
        cr_expect_leq(n, q);
    twill_pool_destroy(p);
    setenv("TWILL_WORKERS", "3", 1);
    cfg = test_config(0);
    cr_assert_eq(cfg.workers, 0, "test_config sets workers itself");
    twill_config_init(&cfg);
    cfg.scheduler = TEST_SCHED;
    cr_assert_eq(twill_pool_create(&p, &cfg), 0);
    cr_expect_eq(twill_pool_size(p), 3, "TWILL_WORKERS wins over the quota");
    twill_pool_destroy(p);
    unsetenv("TWILL_WORKERS");
}

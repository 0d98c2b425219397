/*
 * quota.c — the cgroup CPU quota reader (quota.h).
 *
 * cgroup v2 keeps the limit in one file, cpu.max: "<quota> <period>" in
 * microseconds, or "max <period>" for none.  v1 splits it over
 * cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us in the cpu
 * controller's hierarchy.  Either allows quota/period CPUs' worth of time
 * per period; a fractional quota (150000/100000 = 1.5) is rounded up, as
 * Go's runtime does since 1.25 and the JVM has long done, so a 1.5 CPU
 * container gets 2 workers that together stay within it on average.
 *
 * Quotas nest: a child cgroup cannot use more than any ancestor allows,
 * so the walk goes from the process's cgroup up to the mount's root and
 * keeps the smallest limit.  Rejected: reading /proc/self/mountinfo to find
 * every cgroup mount.  The mount point is fixed by convention
 * (/sys/fs/cgroup, systemd and every container runtime), and a parameter
 * root keeps the reader testable on fixture trees.
 *
 * Who may call what: any thread; no state, no allocation beyond stdio's.
 */
#include "quota.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Longest path handled; longer ones count as no quota. */
#define QUOTA_PATH 4096

/* Read the start of a small file into buf (NUL-terminated).  false when it
   cannot be read or is empty. */
static bool read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0;
}

/* Parse a decimal number at *s, advancing it.  false on no digits or
   overflow. */
static bool parse_u64(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *s = p;
    *out = v;
    return true;
}

/* Only trailing white space (the kernel's newline) left at s? */
static bool at_end(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t')
        s++;
    return *s == '\0';
}

/* ceil(quota / period) CPUs; 0 (no quota) for a zero quota or period,
   which the kernel never writes. */
static unsigned cpus_of(uint64_t quota, uint64_t period)
{
    if (quota == 0 || period == 0)
        return 0;
    uint64_t n = quota / period + (quota % period != 0);
    return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

/* The smaller of two limits, 0 meaning none. */
static unsigned tighter(unsigned a, unsigned b)
{
    return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

/* v2: dir/cpu.max. */
static unsigned read_v2(const char *dir)
{
    char path[QUOTA_PATH + 16], buf[64];
    snprintf(path, sizeof path, "%s/cpu.max", dir);
    if (!read_small(path, buf, sizeof buf))
        return 0;
    const char *s = buf;
    uint64_t quota, period;
    if (strncmp(s, "max", 3) == 0)
        return 0;
    if (!parse_u64(&s, &quota) || *s++ != ' ' || !parse_u64(&s, &period) || !at_end(s))
        return 0;
    return cpus_of(quota, period);
}

/* v1: dir/cpu.cfs_quota_us and dir/cpu.cfs_period_us. */
static unsigned read_v1(const char *dir)
{
    char path[QUOTA_PATH + 24], buf[64];
    uint64_t quota, period;
    snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
    if (!read_small(path, buf, sizeof buf))
        return 0;
    const char *s = buf;
    if (*s == '-' || !parse_u64(&s, &quota) || !at_end(s)) /* -1: no quota */
        return 0;
    snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
    if (!read_small(path, buf, sizeof buf))
        return 0;
    s = buf;
    if (!parse_u64(&s, &period) || !at_end(s))
        return 0;
    return cpus_of(quota, period);
}

/* The tightest limit from base/path up to base.  A path that does not
   exist under base is read as base itself (quota.h). */
static unsigned walk(const char *base, const char *path, unsigned (*read_at)(const char *))
{
    char dir[QUOTA_PATH];
    size_t root_len = strlen(base);
    int n = snprintf(dir, sizeof dir, "%s%s", base, path);
    if (n < 0 || (size_t)n >= sizeof dir)
        return 0;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        dir[root_len] = '\0';
    unsigned best = 0;
    for (;;) {
        size_t len = strlen(dir);
        while (len > root_len && dir[len - 1] == '/')
            dir[--len] = '\0';
        best = tighter(best, read_at(dir));
        if (len <= root_len)
            return best;
        char *slash = strrchr(dir + root_len, '/');
        if (slash == NULL)
            dir[root_len] = '\0';
        else
            *slash = '\0';
    }
}

/* Does the comma-separated controller list ctl (of length len) name cpu? */
static bool lists_cpu(const char *ctl, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && ctl[j] != ',')
            j++;
        if (j - i == 3 && strncmp(ctl + i, "cpu", 3) == 0)
            return true;
        i = j + 1;
    }
    return false;
}

/* From the cgroup file: the v2 path and the v1 cpu controller's path
   ("/" when the file or the line is missing). */
static void own_paths(const char *cgroup_file, char *v2, char *v1)
{
    strcpy(v2, "/");
    strcpy(v1, "/");
    FILE *f = fopen(cgroup_file, "re");
    if (f == NULL)
        return;
    char line[QUOTA_PATH + 128];
    while (fgets(line, sizeof line, f) != NULL) {
        char *c1 = strchr(line, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL || c2[1] != '/')
            continue;
        char *path = c2 + 1;
        path[strcspn(path, "\n")] = '\0';
        if (strlen(path) >= QUOTA_PATH)
            continue;
        if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1)
            strcpy(v2, path);
        else if (lists_cpu(c1 + 1, (size_t)(c2 - c1 - 1)))
            strcpy(v1, path);
    }
    fclose(f);
}

unsigned twill__quota_cpus_at(const char *root, const char *cgroup_file)
{
    char v2[QUOTA_PATH], v1[QUOTA_PATH], v1_root[QUOTA_PATH];
    if (strlen(root) >= QUOTA_PATH - 8)
        return 0;
    own_paths(cgroup_file, v2, v1);
    snprintf(v1_root, sizeof v1_root, "%s/cpu", root);
    return tighter(walk(root, v2, read_v2), walk(v1_root, v1, read_v1));
}

unsigned twill__quota_cpus(void)
{
    return twill__quota_cpus_at("/sys/fs/cgroup", "/proc/self/cgroup");
}

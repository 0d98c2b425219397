/*
 * quota.h — the CPU quota of the process's cgroup, for the default pool
 * size (workers = 0): a container given 2 CPUs' worth of time on a 64-core
 * host should get 2 workers, not 64 that the kernel throttles in turn
 * (oneTBB#190, #1760: 5-10x slowdowns).
 *
 * A leaf: reads files, knows nothing of pools.  Who may call what: any
 * thread; no state.
 */
#ifndef TWILL_QUOTA_H
#define TWILL_QUOTA_H

/* The CPU limit that cgroup quotas put on this process, as a whole number
   of CPUs: ceil(quota / period), at least 1; 0 when no quota applies (none
   set, "max", -1, or files missing or unreadable).
     cgroup_file: the process's cgroup list in /proc/<pid>/cgroup format
       ("0::/path" for v2, "N:cpu,cpuacct:/path" for v1); missing or
       unreadable: the root cgroup.
     root: where the cgroup file systems are mounted; v2 reads
       root/<path>/cpu.max ("max 100000" or "150000 100000"), v1 reads
       root/cpu/<path>/cpu.cfs_quota_us and cpu.cfs_period_us.
   A limit anywhere from the process's cgroup up to the root applies
   (quotas nest), and when v1 and v2 both give one, the smallest wins.
   A path from the cgroup file that does not exist under root (a container
   that sees its own cgroup as the root) is read as the root.
   Malformed files count as no quota.  Any thread. */
unsigned twill__quota_cpus_at(const char *root, const char *cgroup_file);

/* twill__quota_cpus_at("/sys/fs/cgroup", "/proc/self/cgroup"). */
unsigned twill__quota_cpus(void);

#endif /* TWILL_QUOTA_H */

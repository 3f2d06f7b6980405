#ifndef AGENTNS_ANS_SANDBOX_H
#define AGENTNS_ANS_SANDBOX_H
#include <sys/types.h>

/// O_PATH (Linux), which Glibc's Swift overlay does not export.
static const int ANS_O_PATH = 010000000;

/// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS (| RESOLVE_NO_SYMLINKS when
/// `no_symlinks`): the path cannot leave `dirfd`, whatever links it meets. -errno on failure.
int ans_openat2(int dirfd, const char *path, int flags, unsigned int mode, int no_symlinks);

/// fork of a supervisor (which kills the exec's processes, listed in `procs_path`, when the
/// forking thread dies, and exits as the exec did: its code, or 128+signal), which forks + execves `path`. Between them the child, with async-signal-safe calls only: joins
/// the cgroups whose cgroup.procs files are open at `cgroup_fds`, sets RLIMIT_CPU (seconds, 0:
/// unchanged), RLIMIT_FSIZE (bytes, < 0: unchanged) and RLIMIT_CORE 0, asks for SIGKILL when
/// the forking thread dies (set after the drop, which would clear it), puts the pipes at 0/1/2 and `keep_fd` (if not -1) at 3,
/// closes every other descriptor, and drops
/// to `uid`/`gid` (no supplementary groups). Returns the pid, or -errno.
pid_t ans_spawn(const char *path, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd,
                int keep_fd, const int *cgroup_fds, int ncgroups, long cpu_seconds, long long fsize_bytes, int uid, int gid,
                const char *procs_path);

/// A memfd holding the seccomp filter for bwrap's `--seccomp FD` (a cBPF program): ptrace and
/// process_vm_*, perf_event_open, bpf, userfaultfd, keyrings, io_uring, module and kexec calls,
/// mount and namespace calls fail with EPERM, and other architectures' calls with ENOSYS.
/// Returns the descriptor (close-on-exec, at offset 0), or -errno.
int ans_seccomp_fd(void);

/// pipe2(fds, O_CLOEXEC).
int ans_pipe(int fds[2]);

#endif

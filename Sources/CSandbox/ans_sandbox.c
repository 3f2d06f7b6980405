#define _GNU_SOURCE
#include "ans_sandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int ans_openat2(int dirfd, const char *path, int flags, unsigned int mode, int no_symlinks) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (no_symlinks ? RESOLVE_NO_SYMLINKS : 0);
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

/// Whether the pid was written (the cgroup joined).
static int write_pid(int fd, pid_t pid) {
    char buf[24];
    int n = 0;
    char tmp[24];
    if (pid == 0) tmp[n++] = '0';
    while (pid > 0) { tmp[n++] = (char)('0' + pid % 10); pid /= 10; }
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n++] = '\n';
    return write(fd, buf, (size_t)n) == n;
}

/// The kernel's sigaction (rt_sigaction), for the signals libc keeps for itself (32 and 33 in
/// glibc), which its sigaction refuses to change and an ignoring parent can leave ignored.
struct ans_ksigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

/// Kills every process listed in a cgroup.procs file (a few rounds: forks race the reading).
static void kill_listed(const char *procs_path) {
    for (int round = 0; round < 20; round++) {
        int fd = open(procs_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;
        char buf[8192];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) return;
        buf[n] = 0;
        long v = 0;
        int any = 0, in = 0;
        for (ssize_t i = 0; i <= n; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') { v = v * 10 + (buf[i] - '0'); in = 1; }
            else { if (in && v > 1) { kill((pid_t)v, SIGKILL); any = 1; } v = 0; in = 0; }
        }
        if (!any) return;
        usleep(2000);
    }
}

pid_t ans_spawn(const char *path, char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd,
                int keep_fd, const int *cgroup_fds, int ncgroups, long cpu_seconds, long long fsize_bytes, int uid, int gid,
                const char *procs_path) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid > 0) return pid;
    // The supervisor (root, the same credentials as agentd, so its parent-death signal holds; bwrap's
    // own is cleared while it enters its user namespace): when agentd's thread dies, it kills the exec.
    // SIGTERM (that death) and SIGCHLD (the exec's end) stay blocked and are taken with sigtimedwait:
    // a death that lands anywhere before the wait (during the fork, say) stays pending, never lost.
    sigset_t waited;
    sigemptyset(&waited);
    sigaddset(&waited, SIGTERM);
    sigaddset(&waited, SIGCHLD);
    sigprocmask(SIG_SETMASK, &waited, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);  // never SIG_IGN here: that would reap the exec behind our back
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    pid_t supervisor = getpid();
    pid_t b = fork();
    if (b < 0) _exit(126);
    if (b > 0) {
        syscall(SYS_close_range, 0, ~0U, 0);  // agentd's descriptors (other execs' pipes) are not its to hold
        int st = 0, gone = 0;
        for (;;) {
            pid_t r = waitpid(b, &st, WNOHANG);
            if (r == b) break;
            if (r < 0 && errno != EINTR) _exit(126);
            // A second through: a parent gone without its signal (reparented) is caught all the same.
            struct timespec second = {1, 0};
            int sig = sigtimedwait(&waited, NULL, &second);
            if (!gone && (sig == SIGTERM || getppid() != parent)) {
                gone = 1;
                kill(b, SIGKILL);
                kill_listed(procs_path);
            }
        }
        // The exec ended in the same instant agentd died (SIGCHLD taken first): the death is
        // still pending, or the parent already gone; what is left in the groups goes too.
        sigset_t pending;
        sigemptyset(&pending);
        if (!gone && (sigpending(&pending) != 0 || sigismember(&pending, SIGTERM) == 1 || getppid() != parent)) gone = 1;
        if (gone) kill_listed(procs_path);
        if (WIFEXITED(st)) _exit(WEXITSTATUS(st));
        _exit(128 + WTERMSIG(st));
    }
    parent = supervisor;
    // The child: async-signal-safe calls only until execve.
    pid_t self = getpid();
    // Never run outside the exec's groups (a group removed under us would mean no limits).
    for (int i = 0; i < ncgroups; i++) {
        if (!write_pid(cgroup_fds[i], self)) _exit(124);
    }
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = 0;
    setrlimit(RLIMIT_CORE, &rl);
    if (cpu_seconds > 0) {
        rl.rlim_cur = (rlim_t)cpu_seconds;
        rl.rlim_max = (rlim_t)cpu_seconds + 1;
        setrlimit(RLIMIT_CPU, &rl);
    }
    if (fsize_bytes >= 0) {
        rl.rlim_cur = rl.rlim_max = (rlim_t)fsize_bytes;
        setrlimit(RLIMIT_FSIZE, &rl);
    }
    // Ignored signals stay ignored across execve (agentd ignores SIGPIPE, and its service
    // lifecycle SIGTERM and SIGINT): every signal to its default, then none blocked.
    // Through the kernel's call: glibc's sigaction refuses its own two (32, 33), which a parent
    // may have left ignored too. SIGKILL and SIGSTOP refuse: harmless.
    for (int sig = 1; sig <= 64; sig++) {
        struct ans_ksigaction k = {SIG_DFL, 0, NULL, 0};
        syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof k.mask);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
    if (keep_fd >= 0) {
        if (keep_fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(keep_fd, 3) < 0) _exit(126);
        if (syscall(SYS_close_range, 4, ~0U, 0) != 0) _exit(126);  // never run with agentd's descriptors
    } else {
        if (syscall(SYS_close_range, 3, ~0U, 0) != 0) _exit(126);
    }
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) _exit(125);
    // After the drop: a change of credentials clears the parent-death signal.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent is already gone
    execve(path, argv, envp);
    _exit(127);
}

int ans_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno; }

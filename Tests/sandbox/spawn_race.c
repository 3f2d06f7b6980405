// The parent-death race of ans_spawn, swept: a stand-in for agentd calls ans_spawn and dies at
// once, or a few microseconds later, so its death lands in every step of the supervisor's start
// (before and after its parent-death signal is armed, during its fork of the exec, before it
// waits). Whatever the moment, nothing of the exec may outlive it. Run as root (it drops to
// nobody as agentd does); exits 1 if a process survived, naming the rounds.
//
//   cc -O1 -o spawn_race Tests/sandbox/spawn_race.c -ISources/CSandbox/include && ./spawn_race 400
#define _GNU_SOURCE
#include "../../Sources/CSandbox/ans_sandbox.c"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/// The pids whose argv[0] starts with `marker`.
static int survivors(const char *marker, pid_t *out, int max) {
    DIR *d = opendir("/proc");
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char path[64], buf[256];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r <= 0) continue;
        buf[r] = 0;
        if (strncmp(buf, marker, strlen(marker)) == 0) out[n++] = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return n;
}

/// The control: an agentd that ignores SIGPIPE, SIGINT and SIGTERM (as agentd's service
/// lifecycle does) and stays alive: the exec reaches execve, with no signal ignored or blocked.
static int control(int devnull) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return 0;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    // And libc's own two, as a parent can leave them (seen in CI: SigIgn 0x180000000).
    for (int sig = 32; sig <= 33; sig++) {
        struct ans_ksigaction k = {SIG_IGN, 0, NULL, 0};
        syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof k.mask);
    }
    char *av[] = {"cat", "/proc/self/status", NULL};
    char *ev[] = {NULL};
    pid_t p = ans_spawn("/bin/cat", av, ev, devnull, fds[1], devnull, -1, NULL, 0, 0, -1, 65534, 65534, "/nonexistent");
    close(fds[1]);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (p < 0) { close(fds[0]); return 0; }
    char buf[8192];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int st = 0;
    waitpid(p, &st, 0);
    const char *ign = strstr(buf, "SigIgn:\t");
    const char *blk = strstr(buf, "SigBlk:\t");
    if (!ign || !blk || strncmp(ign + 8, "0000000000000000", 16) != 0 || strncmp(blk + 8, "0000000000000000", 16) != 0) {
        fprintf(stderr, "the control exec did not run as it should (exit %d): %.*s / %.*s\n", st, ign ? 24 : 0, ign ? ign : "",
                blk ? 24 : 0, blk ? blk : "");
        return 0;
    }
    return 1;
}

/// Reaps what has ended under us; 1 when nothing of process group `group` is left.
static int group_gone(pid_t group) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    return kill(-group, 0) != 0 && errno == ESRCH;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 400;
    if (geteuid() != 0) {
        fprintf(stderr, "spawn_race must run as root (the exec drops to nobody as agentd's do); nothing was tested\n");
        return 2;
    }
    char marker[64];
    snprintf(marker, sizeof marker, "agentns-spawn-race-%d", (int)getpid());
    int failed = 0;
    static pid_t groups[4096];
    // Orphans (supervisors and execs whose agentd died) come to us: we can wait for them to end.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (!control(devnull)) return 1;
    int slow = 0;
    for (int i = 0; i < rounds; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s-%d", marker, i);
        pid_t agentd = fork();
        if (agentd < 0) { perror("fork"); return 2; }
        if (i < 4096) groups[i] = agentd;
        if (agentd == 0) {
            setpgid(0, 0);  // its supervisor and exec with it: one group to kill if they are stuck
            char *av[] = {name, "30", NULL};
            char *ev[] = {NULL};
            pid_t p = ans_spawn("/bin/sleep", av, ev, devnull, devnull, devnull, -1, NULL, 0, 0, -1, 65534, 65534,
                                "/nonexistent");
            if (p < 0) _exit(3);
            // Die at a moment swept over the supervisor's start: 0 to ~400 µs after the fork.
            int spin = (i % 40) * 10;
            if (spin) {
                struct timespec ts = {0, spin * 1000L};
                nanosleep(&ts, NULL);
            }
            _exit(0);
        }
        int st;
        waitpid(agentd, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) == 3) { fprintf(stderr, "round %d: ans_spawn failed\n", i); return 2; }
        // The supervisor takes the death at once, not at its next once-a-second look: 300 ms.
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            if (group_gone(agentd)) break;
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > 300) {
                if (slow++ < 5) fprintf(stderr, "round %d: its supervisor or exec still there 300 ms after agentd died\n", i);
                failed = 1;
                break;
            }
            usleep(500);
        }
    }
    // Every supervisor and exec must end soon after its agentd (they are ours to reap now); one
    // still running after 3 s is stuck. Then no process may carry the marker.
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int stuck = 0;
    for (;;) {
        pid_t r = waitpid(-1, NULL, WNOHANG);
        if (r < 0 && errno == ECHILD) break;
        if (r > 0) continue;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 3) { stuck = 1; break; }
        usleep(10000);
    }
    pid_t left[4096];
    int n = survivors(marker, left, 4096);
    if (stuck) { fprintf(stderr, "processes still running 3 s after their agentd died\n"); failed = 1; }
    for (int i = 0; i < n; i++) {
        char path[64], buf[256] = {0};
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)left[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) { read(fd, buf, sizeof buf - 1); close(fd); }
        fprintf(stderr, "alive after its agentd died: pid %d (%s)\n", (int)left[i], buf);
        kill(left[i], SIGKILL);
        failed = 1;
    }
    printf("%s: %d rounds (and a control exec with no signal ignored or blocked), %d exec processes outlived their agentd, "
           "%d rounds slower than 300 ms to end%s\n", failed ? "FAIL" : "ok", rounds, n, slow,
           stuck ? ", and some process was still running 3 s after" : "");
    for (int i = 0; stuck && i < rounds && i < 4096; i++) kill(-groups[i], SIGKILL);  // what is stuck, so it does not outlive us
    return failed;
}

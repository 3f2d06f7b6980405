/* fsync-delay: an LD_PRELOAD library that makes every fsync and fdatasync take FSYNC_DELAY_US
 * microseconds longer (default 2000), to measure group commit as it behaves on disks whose flush
 * costs milliseconds (network block storage, SSDs without power-loss protection). The real call
 * still runs afterwards, so durability is unchanged; only its latency is.
 *
 * Build:  cc -O2 -shared -fPIC -o fsync-delay.so scripts/fsync-delay.c -ldl
 * Use:    LD_PRELOAD=$PWD/fsync-delay.so FSYNC_DELAY_US=2000 agentd ...
 * The count of delayed calls is printed to stderr at exit when FSYNC_DELAY_REPORT=1 (by a process
 * that ends through exit(); agentd, which ends on a signal, prints nothing).
 *
 * For tests that must see when a flush happens relative to what a process tells its clients
 * (Tests/fire/fsync_order.py):
 *   FSYNC_LOG=FILE   appends "<file flushed>" (from /proc/self/fd) to FILE for every call, before
 *                    the call runs, and "held <file>" when it starts waiting on FSYNC_HOLD;
 *   FSYNC_HOLD=PATH  while PATH exists, every flush waits (polling every millisecond): a disk
 *                    whose flush never finishes, until the test lets it;
 *   FSYNC_FAIL=PATH  while PATH exists, every flush fails with EIO without running. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long delay_us = -1;
static atomic_long calls;

static void note(const char *what, int fd) {
    const char *log = getenv("FSYNC_LOG");
    if (!log) return;
    char link[64], target[4096], line[4200];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0) n = 0;
    target[n] = 0;
    int len = snprintf(line, sizeof line, "%s%s\n", what, target);
    int out = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (out < 0) return;
    if (write(out, line, (size_t)len) < 0) {}
    close(out);
}

/* 0 to go on with the flush, or -1 with errno set to fail it. */
static int gate(int fd) {
    note("", fd);
    const char *fail = getenv("FSYNC_FAIL");
    if (fail && access(fail, F_OK) == 0) { errno = EIO; return -1; }
    const char *hold = getenv("FSYNC_HOLD");
    if (hold && access(hold, F_OK) == 0) {
        note("held ", fd);
        struct timespec t = { 0, 1000000 };
        while (access(hold, F_OK) == 0) nanosleep(&t, NULL);
    }
    return 0;
}

static void pause_for_disk(void) {
    if (delay_us < 0) {
        const char *s = getenv("FSYNC_DELAY_US");
        delay_us = s ? atol(s) : 2000;
    }
    atomic_fetch_add(&calls, 1);
    if (delay_us > 0) {
        struct timespec t = { delay_us / 1000000, (delay_us % 1000000) * 1000 };
        while (nanosleep(&t, &t) != 0) {}
    }
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (gate(fd) != 0) return -1;
    pause_for_disk();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (gate(fd) != 0) return -1;
    pause_for_disk();
    return real(fd);
}

__attribute__((destructor)) static void report(void) {
    const char *r = getenv("FSYNC_DELAY_REPORT");
    if (r && *r == '1') fprintf(stderr, "fsync-delay: %ld delayed flushes of %ld us\n", atomic_load(&calls), delay_us);
}

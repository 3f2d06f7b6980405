/* fsync-delay: an LD_PRELOAD library that makes every fsync and fdatasync take FSYNC_DELAY_US
 * microseconds longer (default 2000), to measure group commit as it behaves on disks whose flush
 * costs milliseconds (network block storage, SSDs without power-loss protection). The real call
 * still runs afterwards, so durability is unchanged; only its latency is.
 *
 * Build:  cc -O2 -shared -fPIC -o fsync-delay.so scripts/fsync-delay.c -ldl
 * Use:    LD_PRELOAD=$PWD/fsync-delay.so FSYNC_DELAY_US=2000 agentd ...
 * The count of delayed calls is printed to stderr at exit when FSYNC_DELAY_REPORT=1 (by a process
 * that ends through exit(); agentd, which ends on a signal, prints nothing). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long delay_us = -1;
static atomic_long calls;

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
    pause_for_disk();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    pause_for_disk();
    return real(fd);
}

__attribute__((destructor)) static void report(void) {
    const char *r = getenv("FSYNC_DELAY_REPORT");
    if (r && *r == '1') fprintf(stderr, "fsync-delay: %ld delayed flushes of %ld us\n", atomic_load(&calls), delay_us);
}

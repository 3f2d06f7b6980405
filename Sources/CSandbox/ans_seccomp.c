#define _GNU_SOURCE
#include "ans_sandbox.h"
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ANS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ANS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/// What a sandboxed program may not call, although its uid and namespaces would let it: reading
/// or changing another process (ptrace of a sibling works without capabilities), the kernel's
/// larger attack surfaces, and namespace and mount calls (refused by the missing capabilities
/// too: this is the second lock).
static const long denied[] = {
    SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev, SYS_kcmp, SYS_perf_event_open, SYS_bpf, SYS_userfaultfd,
    SYS_keyctl, SYS_add_key, SYS_request_key, SYS_kexec_load, SYS_init_module, SYS_finit_module, SYS_delete_module,
    SYS_mount, SYS_umount2, SYS_pivot_root, SYS_unshare, SYS_setns, SYS_swapon, SYS_swapoff, SYS_reboot, SYS_acct,
    SYS_quotactl, SYS_open_by_handle_at, SYS_name_to_handle_at,
#ifdef SYS_kexec_file_load
    SYS_kexec_file_load,
#endif
#ifdef SYS_io_uring_setup
    SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register,
#endif
#ifdef SYS_open_tree
    SYS_open_tree, SYS_move_mount, SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_fspick,
#endif
#ifdef SYS_mount_setattr
    SYS_mount_setattr,
#endif
#ifdef SYS_iopl
    SYS_iopl, SYS_ioperm,
#endif
};

int ans_seccomp_fd(void) {
#ifndef ANS_AUDIT_ARCH
    return -ENOSYS;
#else
    enum { ndenied = sizeof denied / sizeof denied[0] };
    struct sock_filter prog[ndenied + 8];
    int n = 0;
    // Another architecture's calls (int 0x80 on x86_64) are refused as a whole.
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ANS_AUDIT_ARCH, 1, 0);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    int deny = n + ndenied + 1;
#if defined(__x86_64__)
    deny += 1;
    // The x32 ABI's numbers.
    prog[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, (unsigned char)(deny - n - 1), 0);
    n++;
#endif
    for (int i = 0; i < ndenied; i++) {
        prog[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)denied[i], (unsigned char)(deny - n - 1), 0);
        n++;
    }
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
    int fd = memfd_create("agentns-seccomp", MFD_CLOEXEC);
    if (fd < 0) return -errno;
    const char *p = (const char *)prog;
    size_t left = (size_t)n * sizeof prog[0];
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        p += w;
        left -= (size_t)w;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
#endif
}

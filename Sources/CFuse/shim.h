// libfuse3 for Swift. A module map cannot pass -D, so the API version is fixed here, and the
// macros Swift cannot call (fuse_new, fuse_loop_mt, FUSE_ARGS_INIT) and the bitfields of
// fuse_file_info are wrapped in small inline functions. Only the FUSEAdapter target sees this.
#ifndef AGENTNS_CFUSE_SHIM_H
#define AGENTNS_CFUSE_SHIM_H

#define FUSE_USE_VERSION 35
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <errno.h>
#include <sys/mount.h>

static inline struct fuse *agentns_fuse_new(int argc, char **argv, const struct fuse_operations *ops, void *user_data) {
    struct fuse_args args = { argc, argv, 0 };
    struct fuse *f = fuse_new(&args, ops, sizeof(*ops), user_data);
    fuse_opt_free_args(&args);
    return f;
}

// The 3.12 loop takes an opaque config whose thread limit can be set; the 3.2 struct that
// FUSE_USE_VERSION 35 offers has only max_idle_threads and leaves the limit at libfuse's
// default of 10 workers. The 3.12 symbols are in every libfuse3 >= 3.12 (Debian 12: 3.14).
int fuse_loop_mt_312(struct fuse *f, struct fuse_loop_config *config);

static inline int agentns_fuse_loop_mt(struct fuse *f, unsigned int max_threads, unsigned int max_idle_threads) {
    struct fuse_loop_config *config = fuse_loop_cfg_create();
    if (!config) return -1;
    fuse_loop_cfg_set_max_threads(config, max_threads);
    fuse_loop_cfg_set_idle_threads(config, max_idle_threads);
    int rc = fuse_loop_mt_312(f, config);
    fuse_loop_cfg_destroy(config);
    return rc;
}

static inline void *agentns_fuse_private_data(void) {
    struct fuse_context *ctx = fuse_get_context();
    return ctx ? ctx->private_data : 0;
}

// The process (thread id, in the file system's PID namespace) that made the current request; 0
// for requests the kernel makes itself.
static inline int agentns_fuse_caller_pid(void) {
    struct fuse_context *ctx = fuse_get_context();
    return ctx ? (int)ctx->pid : 0;
}

static inline void agentns_fi_set_direct_io(struct fuse_file_info *fi) { fi->direct_io = 1; fi->keep_cache = 0; }
// Reads through the kernel's page cache: keep what it holds (keep != 0) or drop it at open.
static inline void agentns_fi_set_page_cache(struct fuse_file_info *fi, int keep) { fi->direct_io = 0; fi->keep_cache = keep ? 1 : 0; }
static inline void agentns_fi_set_noflush(struct fuse_file_info *fi) { fi->noflush = 1; }
static inline void agentns_fi_set_nonseekable(struct fuse_file_info *fi) { fi->nonseekable = 1; }

static inline int agentns_fuse_interrupted(void) { return fuse_interrupted(); }

#endif

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

static inline int agentns_fuse_loop_mt(struct fuse *f, unsigned int max_idle_threads) {
    struct fuse_loop_config config = { 0, max_idle_threads };
    return fuse_loop_mt(f, &config);
}

static inline void *agentns_fuse_private_data(void) {
    struct fuse_context *ctx = fuse_get_context();
    return ctx ? ctx->private_data : 0;
}

static inline void agentns_fi_set_direct_io(struct fuse_file_info *fi) { fi->direct_io = 1; fi->keep_cache = 0; }
static inline void agentns_fi_set_noflush(struct fuse_file_info *fi) { fi->noflush = 1; }
static inline void agentns_fi_set_nonseekable(struct fuse_file_info *fi) { fi->nonseekable = 1; }

static inline int agentns_fuse_interrupted(void) { return fuse_interrupted(); }

#endif

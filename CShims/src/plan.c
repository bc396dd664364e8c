// Plan decoding: a flat record stream produced by Swift (Runtime/PlanEncoder.swift).
#include "cshims.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

// Reads the n-th NUL-terminated string in [p, p+len). Returns NULL if malformed.
static const char *nth_str(const uint8_t *p, uint32_t len, int n) {
    uint32_t off = 0;
    for (int i = 0; i < n; i++) {
        const void *z = memchr(p + off, 0, len - off);
        if (!z) return NULL;
        off = (uint32_t)((const uint8_t *)z - p) + 1;
        if (off > len) return NULL;
    }
    if (off >= len || !memchr(p + off, 0, len - off)) return NULL;
    return (const char *)(p + off);
}

int sl_plan_parse(const uint8_t *buf, size_t len, struct sl_plan *plan, char *err, size_t errlen) {
    memset(plan, 0, sizeof(*plan));
    plan->oom_score_adj = 0;
    int counts[SL_T_TAG_MAX] = {0};
    size_t off = 0;
    int saw_magic = 0;
    while (off < len) {
        if (len - off < 8) return fail(err, errlen, "plan: truncated record header at %zu", off);
        uint32_t tag = rd32(buf + off), rlen = rd32(buf + off + 4);
        if (rlen > len - off - 8) return fail(err, errlen, "plan: record %u overruns buffer", tag);
        if (tag == 0 || tag >= SL_T_TAG_MAX) return fail(err, errlen, "plan: unknown tag %u", tag);
        if (tag == SL_T_MAGIC) {
            if (rlen != 4 || rd32(buf + off + 8) != SL_PLAN_MAGIC) return fail(err, errlen, "plan: bad magic");
            saw_magic = 1;
        }
        counts[tag]++;
        off += 8 + rlen;
    }
    if (!saw_magic) return fail(err, errlen, "plan: missing magic record");

    plan->mounts = calloc((size_t)counts[SL_T_MOUNT] + 1, sizeof(struct sl_mount));
    plan->devices = calloc((size_t)counts[SL_T_DEVICE] + 1, sizeof(struct sl_device));
    plan->symlinks = calloc((size_t)counts[SL_T_SYMLINK] + 1, sizeof(struct sl_pair));
    plan->masked = calloc((size_t)counts[SL_T_MASKED] + 1, sizeof(char *));
    plan->readonly = calloc((size_t)counts[SL_T_READONLY] + 1, sizeof(char *));
    plan->sysctls = calloc((size_t)counts[SL_T_SYSCTL] + 1, sizeof(struct sl_pair));
    plan->rlimits = calloc((size_t)counts[SL_T_RLIMIT] + 1, sizeof(struct sl_rlimit));
    plan->additional_gids = calloc((size_t)counts[SL_T_ADDITIONAL_GID] + 1, sizeof(uint32_t));
    plan->argv = calloc((size_t)counts[SL_T_ARG] + 1, sizeof(char *));
    plan->envp = calloc((size_t)counts[SL_T_ENV] + 1, sizeof(char *));
    plan->devrules = calloc((size_t)counts[SL_T_DEVICE_RULE] + 1, sizeof(struct sl_devrule));
    if (!plan->mounts || !plan->devices || !plan->symlinks || !plan->masked || !plan->readonly ||
        !plan->sysctls || !plan->rlimits || !plan->additional_gids || !plan->argv || !plan->envp || !plan->devrules) {
        sl_plan_free(plan);
        return fail(err, errlen, "plan: out of memory");
    }
    if (counts[SL_T_NSJOIN] > 16) { sl_plan_free(plan); return fail(err, errlen, "plan: too many namespaces to join"); }
    if (counts[SL_T_DEVICE_RULE] > SL_MAX_DEVRULES) { sl_plan_free(plan); return fail(err, errlen, "plan: too many device rules"); }

    off = 0;
    while (off < len) {
        uint32_t tag = rd32(buf + off), rlen = rd32(buf + off + 4);
        const uint8_t *p = buf + off + 8;
        off += 8 + rlen;
        const char *s0 = rlen ? nth_str(p, rlen, 0) : NULL;
#define NEED(cond, what) do { if (!(cond)) { sl_plan_free(plan); return fail(err, errlen, "plan: malformed %s record", what); } } while (0)
        switch (tag) {
        case SL_T_MAGIC: break;
        case SL_T_CLONE_FLAGS: NEED(rlen == 8, "clone flags"); plan->clone_flags = rd64(p); break;
        case SL_T_NSJOIN: {
            NEED(rlen > 4, "nsjoin");
            const char *path = nth_str(p + 4, rlen - 4, 0);
            NEED(path, "nsjoin");
            plan->nsjoin[plan->n_nsjoin].type = rd32(p);
            plan->nsjoin[plan->n_nsjoin].path = path;
            plan->n_nsjoin++;
            break;
        }
        case SL_T_ROOTFS: NEED(s0, "rootfs"); plan->rootfs = s0; break;
        case SL_T_ROOT_READONLY: plan->root_readonly = 1; break;
        case SL_T_ROOT_PROPAGATION: NEED(rlen == 8, "root propagation"); plan->root_propagation = rd64(p); break;
        case SL_T_MOUNT: {
            NEED(rlen > 24, "mount");
            struct sl_mount *m = &plan->mounts[plan->n_mounts++];
            m->flags = rd64(p);
            m->propagation = rd64(p + 8);
            m->kind = rd32(p + 16);
            m->source = nth_str(p + 24, rlen - 24, 0);
            m->dest = nth_str(p + 24, rlen - 24, 1);
            m->fstype = nth_str(p + 24, rlen - 24, 2);
            m->data = nth_str(p + 24, rlen - 24, 3);
            NEED(m->source && m->dest && m->fstype && m->data, "mount");
            break;
        }
        case SL_T_DEVICE: {
            NEED(rlen > 24, "device");
            struct sl_device *d = &plan->devices[plan->n_devices++];
            d->type = rd32(p); d->major = rd32(p + 4); d->minor = rd32(p + 8);
            d->mode = rd32(p + 12); d->uid = rd32(p + 16); d->gid = rd32(p + 20);
            d->path = nth_str(p + 24, rlen - 24, 0);
            NEED(d->path, "device");
            break;
        }
        case SL_T_SYMLINK: {
            struct sl_pair *s = &plan->symlinks[plan->n_symlinks++];
            s->a = s0; s->b = rlen ? nth_str(p, rlen, 1) : NULL;
            NEED(s->a && s->b, "symlink");
            break;
        }
        case SL_T_MASKED: NEED(s0, "masked path"); plan->masked[plan->n_masked++] = s0; break;
        case SL_T_READONLY: NEED(s0, "readonly path"); plan->readonly[plan->n_readonly++] = s0; break;
        case SL_T_HOSTNAME: NEED(s0, "hostname"); plan->hostname = s0; break;
        case SL_T_DOMAINNAME: NEED(s0, "domainname"); plan->domainname = s0; break;
        case SL_T_LSM_EXEC: {
            const char *v = nth_str(p, rlen, 1);
            NEED(s0 && v, "lsm exec label");
            plan->lsm_attr = s0;
            plan->lsm_value = v;
            break;
        }
        case SL_T_SYSCTL: {
            struct sl_pair *s = &plan->sysctls[plan->n_sysctls++];
            s->a = s0; s->b = rlen ? nth_str(p, rlen, 1) : NULL;
            NEED(s->a && s->b, "sysctl");
            break;
        }
        case SL_T_RLIMIT: {
            NEED(rlen == 24, "rlimit");
            struct sl_rlimit *r = &plan->rlimits[plan->n_rlimits++];
            r->resource = rd32(p); r->soft = rd64(p + 8); r->hard = rd64(p + 16);
            break;
        }
        case SL_T_OOM_SCORE_ADJ: NEED(rlen == 4, "oom_score_adj"); plan->has_oom_score_adj = 1; plan->oom_score_adj = (int32_t)rd32(p); break;
        case SL_T_USER: NEED(rlen == 12, "user"); plan->has_user = 1; plan->uid = rd32(p); plan->gid = rd32(p + 4); plan->umask = rd32(p + 8); break;
        case SL_T_ADDITIONAL_GID: NEED(rlen == 4, "additional gid"); plan->additional_gids[plan->n_additional_gids++] = rd32(p); break;
        case SL_T_CAPS:
            NEED(rlen == 40, "caps");
            plan->has_caps = 1;
            plan->cap_bounding = rd64(p); plan->cap_effective = rd64(p + 8); plan->cap_permitted = rd64(p + 16);
            plan->cap_inheritable = rd64(p + 24); plan->cap_ambient = rd64(p + 32);
            break;
        case SL_T_NO_NEW_PRIVS: plan->no_new_privs = 1; break;
        case SL_T_SECCOMP: NEED(rlen % 8 == 0 && rlen > 0, "seccomp"); plan->seccomp = p; plan->seccomp_len = rlen; break;
        case SL_T_CWD: NEED(s0, "cwd"); plan->cwd = s0; break;
        case SL_T_ARG: NEED(s0, "arg"); plan->argv[plan->argc++] = (char *)s0; break;
        case SL_T_ENV: NEED(s0, "env"); plan->envp[plan->envc++] = (char *)s0; break;
        case SL_T_CGROUP: NEED(s0, "cgroup"); plan->cgroup = s0; break;
        case SL_T_EXEC_FIFO: NEED(s0, "exec fifo"); plan->exec_fifo = s0; break;
        case SL_T_LOG: {
            NEED(rlen > 16, "log");
            plan->log_max_bytes = rd64(p); plan->log_max_files = rd32(p + 8);
            plan->log_path = nth_str(p + 16, rlen - 16, 0);
            NEED(plan->log_path, "log");
            break;
        }
        case SL_T_STATE_DIR: NEED(s0, "state dir"); plan->state_dir = s0; break;
        case SL_T_UID_MAP: NEED(s0, "uid map"); plan->uid_map = s0; break;
        case SL_T_GID_MAP: NEED(s0, "gid map"); plan->gid_map = s0; break;
        case SL_T_HOOK_BARRIER: plan->hook_barrier = 1; break;
        case SL_T_PRESERVE_FDS: NEED(rlen == 4, "preserve fds"); plan->preserve_fds = rd32(p); break;
        case SL_T_DETACH_STDIO: plan->detach_stdio = 1; break;
        case SL_T_CONTROLLING_TTY: plan->controlling_tty = 1; break;
        case SL_T_DEVICE_FILTER: plan->device_filter = 1; break;
        case SL_T_DEVICE_RULE: {
            NEED(rlen == 32, "device rule");
            struct sl_devrule *d = &plan->devrules[plan->n_devrules++];
            d->type = rd32(p); d->access = rd32(p + 4);
            d->major = (int64_t)rd64(p + 8); d->minor = (int64_t)rd64(p + 16);
            d->allow = rd32(p + 24);
            break;
        }
        default: break;
        }
#undef NEED
    }
    if (plan->argc == 0) { sl_plan_free(plan); return fail(err, errlen, "plan: process has no args"); }
    return 0;
}

void sl_plan_free(struct sl_plan *plan) {
    free(plan->mounts); free(plan->devices); free(plan->symlinks); free(plan->masked);
    free(plan->readonly); free(plan->sysctls); free(plan->rlimits); free(plan->additional_gids);
    free(plan->argv); free(plan->envp); free(plan->devrules);
    memset(plan, 0, sizeof(*plan));
}

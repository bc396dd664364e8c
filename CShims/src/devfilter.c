// The device cgroup of cgroup v2: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the
// container's cgroup decides every open/mknod of a device node. Rules follow OCI semantics: the
// last matching rule wins, so they are emitted in reverse and the first match returns; no match
// denies.
#define _GNU_SOURCE
#include "cshims.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

int sl_devfilter_attach(int cgroup_fd, const struct sl_devrule *rules, int n, char *err, size_t errlen) {
    struct bpf_insn prog[16 + 8 * SL_MAX_DEVRULES];
    int k = 0;
    if (n > SL_MAX_DEVRULES) { snprintf(err, errlen, "too many device rules (%d)", n); return -E2BIG; }
    // r2 = type, r3 = access, r4 = major, r5 = minor (ctx in r1)
    prog[k++] = INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0);
    prog[k++] = INSN(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0);
    prog[k++] = INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);
    prog[k++] = INSN(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);
    prog[k++] = INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0);
    prog[k++] = INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0);
    int terminated = 0;
    for (int i = n - 1; i >= 0 && !terminated; i--) {
        const struct sl_devrule *r = &rules[i];
        // a rule without conditions matches everything: nothing after it is reachable (and the
        // verifier refuses unreachable instructions)
        terminated = r->type == 'a' && r->major < 0 && r->minor < 0 && (r->access & 7) == 7;
        // count this block's conditions to compute the jump to the next block
        int conds = (r->type != 'a') + (r->major >= 0) + (r->minor >= 0) + ((r->access & 7) != 7 ? 1 : 0);
        int block = conds + (((r->access & 7) != 7) ? 2 : 0) + 2; // conditions (+2 for the access test's mov/and) + mov r0 + exit
        int left = block;
        if (r->type != 'a') {
            left -= 1;
            prog[k++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, (short)(left), r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
        }
        if (r->major >= 0) {
            left -= 1;
            prog[k++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, (short)(left), (int)r->major);
        }
        if (r->minor >= 0) {
            left -= 1;
            prog[k++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, (short)(left), (int)r->minor);
        }
        if ((r->access & 7) != 7) {
            // the requested access must be a subset of the rule's: (access & ~allowed) == 0
            prog[k++] = INSN(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_3, 0, 0);
            prog[k++] = INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_6, 0, 0, (int)(~r->access & 7));
            left -= 3;
            prog[k++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_6, 0, (short)(left), 0);
        }
        prog[k++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, r->allow ? 1 : 0);
        prog[k++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    }
    if (!terminated) {
        prog[k++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
        prog[k++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    }

    char log[4096] = "";
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)prog;
    attr.insn_cnt = (uint32_t)k;
    attr.license = (uint64_t)(uintptr_t)"Apache";
    // no verifier log on the normal path (it costs); load again with it only to explain a failure
    int fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
    if (fd < 0) {
        int e = errno;
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = sizeof(log);
        attr.log_level = 1;
        int again = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
        if (again >= 0) close(again);
        snprintf(err, errlen, "load device filter (%d instructions): %.200s", k, log);
        return -e;
    }
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr));
    int e = errno;
    close(fd); // the attachment keeps the program alive for the cgroup's lifetime
    if (rc < 0) { snprintf(err, errlen, "attach device filter to the cgroup"); return -e; }
    return 0;
}

/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Helpers shared by ferret's eBPF programs: the acting-task snapshot, loss
 * counters, and the kernel-side path resolver (a dentry walk over the
 * kernel's own `struct path`, so the result cannot be swapped by userspace
 * after the check: see DESIGN.md, "TOCTOU-safe capture").
 */
#ifndef FERRET_COMMON_H
#define FERRET_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "../events.h"

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((void *)(ptr) - __builtin_offsetof(type, member)))
#endif

/* Ring buffer shared by all programs; its size is set by userspace before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/* Per-CPU counters: drops per event kind, then the COUNTER_* indices. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* barrier_var(x) (bpf_helpers.h) keeps `x` in one register after a bounds
 * check, so the verifier sees the checked value where it is used. */

static __always_inline void count_n(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += n;
}

static __always_inline void count(__u32 idx)
{
	count_n(idx, 1);
}

/* Whether two structs hold the same bytes: `words` 8-byte words of each. */
static __always_inline int same_words(const void *a, const void *b, int words)
{
	const __u64 *x = a, *y = b;

	for (int i = 0; i < words; i++)
		if (x[i] != y[i])
			return 0;
	return 1;
}

/*
 * Bytes a CPU writes to the ring before it wakes the reader. Waking it for
 * every record costs an interrupt per event (a cross-CPU IPI in a VM), which
 * dominated exec overhead; below this amount the reader finds the records at
 * its next poll tick instead (bounded latency, set by userspace). Counted per
 * CPU in a map (an inlined load) rather than by asking the ring how much is
 * unread (a helper call per record). 0 wakes it for every record.
 */
const volatile __u32 wakeup_bytes = 0;

/* Bytes this CPU has written since it last woke the reader. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unwoken_bytes SEC(".maps");

/* The value of a one-entry per-CPU array `map` (scratch memory); a miss,
 * which cannot happen, is counted rather than trusted. */
#define scratch_of(map)                                              \
	({                                                           \
		__u32 zero_ = 0;                                     \
		void *v_ = bpf_map_lookup_elem(&(map), &zero_);      \
		if (!v_)                                             \
			count(COUNTER_SCRATCH_MISS);                 \
		v_;                                                  \
	})

/* The ring's wakeup flags for a record of size bytes (see wakeup_bytes). */
static __always_inline __u64 wakeup_flags(__u64 size)
{
	__u32 zero = 0;
	__u64 *n;

	if (!wakeup_bytes)
		return 0;
	n = bpf_map_lookup_elem(&unwoken_bytes, &zero);
	if (!n)
		return BPF_RB_NO_WAKEUP;
	*n += size;
	if (*n < wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	*n = 0;
	return BPF_RB_FORCE_WAKEUP;
}

/* Sends a record built in scratch memory; counts it as lost if the ring is full. */
static __always_inline void submit(void *rec, __u64 size, __u32 kind)
{
	if (bpf_ringbuf_output(&events, rec, size, wakeup_flags(size)) != 0)
		count(kind);
}

/*
 * Room for a fixed-size record in the ring, to be written in place (every
 * byte: the ring is not zeroed) and sent by commit_record: no scratch copy to
 * clear and copy over. 0, counted as lost, if the ring is full.
 */
#define reserve_record(type, kind)                                              \
	({                                                                      \
		type *r_ = bpf_ringbuf_reserve(&events, sizeof(type), 0);       \
		if (!r_)                                                        \
			count(kind);                                            \
		r_;                                                             \
	})

#define commit_record(rec) bpf_ringbuf_submit((rec), wakeup_flags(sizeof(*(rec))))

/* Sends a variable-length record (one ending in `data`) whose data is written
 * up to `off`: only that much crosses the ring buffer, and hdr.size says so. */
#define submit_used(e, off, kind)                                                        \
	do {                                                                             \
		__u64 size_ = __builtin_offsetof(typeof(*(e)), data) + (__u64)(off);   \
		if (size_ > sizeof(*(e)))                                                \
			size_ = sizeof(*(e));                                            \
		(e)->hdr.size = size_;                                                   \
		submit((e), size_, (kind));                                              \
	} while (0)

/*
 * Loads at an address computed at run time (an array element at a variable
 * index), which the verifier allows no direct load through: a read-only cast
 * of the address (bpf_core_cast, which the verifier turns into a register
 * move; its loads are fault-checked) instead of a bpf_probe_read_kernel call.
 */
#define cast_at(addr, type) bpf_core_cast((void *)(unsigned long)(addr), type)

/* The 8 bytes at addr, read as a pointer: struct list_head has one at
 * offset 0 in every kernel. */
static __always_inline unsigned long load_ptr_at(unsigned long addr)
{
	return (unsigned long)cast_at(addr, struct list_head)->next;
}

static __always_inline __u32 task_ns_pid(struct task_struct *task)
{
	struct pid *pid = task->thread_pid;
	unsigned long at = (unsigned long)pid + bpf_core_field_offset(struct pid, numbers) +
			   (unsigned long)pid->level * bpf_core_type_size(struct upid);

	return cast_at(at, struct upid)->nr;
}

static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	struct kernfs_node *kn = task->cgroups->dfl_cgrp->kn;
	return kn ? kn->id : 0;
}

/*
 * The task's identity for a record. `task` must be a BTF pointer
 * (bpf_get_current_task_btf, a tp_btf argument, or bpf_core_cast): the fields
 * are direct loads, because every record pays for this and each
 * bpf_probe_read_kernel call it replaces costs a helper call.
 */
static __always_inline void fill_task(struct task_ctx *t, struct task_struct *task)
{
	struct task_struct *leader = task->group_leader;
	struct task_struct *parent = task->real_parent;
	const struct cred *cred = task->cred;

	t->pid = task->tgid;
	t->tid = task->pid;
	t->ppid = parent->tgid;
	t->start_boottime = leader->start_boottime;
	t->parent_start_boottime = parent->group_leader->start_boottime;
	t->ns_pid = task_ns_pid(leader);
	t->cgroup_id = task_cgroup_id(task);
	t->uid = cred->uid.val;
	t->euid = cred->euid.val;
	t->gid = cred->gid.val;
	t->egid = cred->egid.val;
	/* kernel_cap_t is 8 bytes in every layout (u64 val since 6.3, u32 cap[2]
	 * before): a direct load where it is one field, a read where it is not. */
	if (bpf_core_field_exists(cred->cap_effective.val)) {
		t->cap_effective = cred->cap_effective.val;
		t->cap_permitted = cred->cap_permitted.val;
	} else {
		BPF_CORE_READ_INTO(&t->cap_effective, cred, cap_effective);
		BPF_CORE_READ_INTO(&t->cap_permitted, cred, cap_permitted);
	}
	if (bpf_core_field_exists(task->loginuid)) {
		t->loginuid = task->loginuid.val;
		t->sessionid = task->sessionid;
	} else {
		t->loginuid = (__u32)-1;
		t->sessionid = (__u32)-1;
	}
	/* The kernel keeps comm NUL-padded: a plain copy, not a string read. */
	__builtin_memcpy(t->comm, task->comm, sizeof(t->comm));
}

#define OVERLAYFS_SUPER_MAGIC 0x794c7630

/* An overlay inode with an upper dentry was created or copied up in the writable layer: written
 * inside the container, not shipped in its image. */
static __always_inline bool inode_in_upper_layer(struct inode *inode)
{
	if (BPF_CORE_READ(inode, i_sb, s_magic) != OVERLAYFS_SUPER_MAGIC)
		return false;
	struct ovl_inode *oi = (void *)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode);
	return BPF_CORE_READ(oi, __upperdentry) != NULL;
}

static __always_inline void fill_header(struct event_header *h, __u32 kind, struct task_struct *task)
{
	h->ktime_boot_ns = bpf_ktime_get_boot_ns();
	h->kind = kind;
	fill_task(&h->task, task);
}

/*
 * Path resolution. Components are written back to front into a scratch
 * buffer; the result is buf[start .. FERRET_PATH_MAX). The buffer has
 * FERRET_NAME_SLACK extra bytes so that a masked offset plus one name always
 * stays inside it, which is what the verifier needs to see.
 */
#define FERRET_NAME_MAX 255
#define FERRET_NAME_SLACK 256

struct path_buf {
	char buf[FERRET_PATH_MAX + FERRET_NAME_SLACK];
	/* Start of the text written so far. Kept here, in map memory, rather
	 * than on the stack: the verifier then sees an unknown (masked) value
	 * on every bpf_loop iteration and the callback converges, instead of
	 * tracking a shrinking range through every step. */
	__u32 pos;
	/* Where the last component (the file's own name) landed, for name-based filters. */
	__u32 leaf_pos;
	__u32 leaf_len;
};

/* Result flags of resolve_path. */
#define PATH_R_TRUNCATED 1u /* too deep or too long: the leading components are missing */
#define PATH_R_UNREACHABLE 2u /* never reached the task's root: internal mount (memfd), detached, or outside the chroot */

/* Where a path walk starts (a path's dentry and mount) and where it ends (the
 * task's root: paths are shown as the task sees them). Plain values read from
 * the kernel, so they can be handed to a global function. */
struct path_ends {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
};

static __always_inline void path_ends_of(struct path_ends *pe, const struct path *path, struct task_struct *task)
{
	pe->dentry = BPF_CORE_READ(path, dentry);
	pe->vfsmnt = BPF_CORE_READ(path, mnt);
	pe->root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	pe->root_mnt = BPF_CORE_READ(task, fs, root.mnt);
}

struct path_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	struct path_buf *pb;
	__u32 flags;
	__u32 done;
};

static long path_step(__u64 index, void *arg)
{
	struct path_walk *w = arg;
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt) {
		w->done = 1;
		return 1;
	}
	if (dentry == mnt_root) {
		struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (mnt_parent == mnt) {
			/* The top of a mount tree without passing the task's root:
			 * a detached tree, or a path outside the task's chroot or
			 * container root. */
			w->flags |= PATH_R_UNREACHABLE;
			w->done = 1;
			return 1;
		}
		/* Cross to the mount point in the parent mount. */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->vfsmnt = &mnt_parent->mnt;
		return 0;
	}
	/* A dentry that is its own parent but not a mount root is a pseudo
	 * file (memfd, pipe, socket, anon inode) or a disconnected one: its
	 * name is all there is, written below, and the walk ends there. */
	if (dentry == parent) {
		w->flags |= PATH_R_UNREACHABLE;
		w->done = 1;
	}

	struct qstr name = BPF_CORE_READ(dentry, d_name);
	struct path_buf *pb = w->pb;
	__u32 len = name.len;
	__u32 pos = pb->pos;
	if (len > FERRET_NAME_MAX)
		len = FERRET_NAME_MAX;
	if (pos > FERRET_PATH_MAX || len + 1 > pos) {
		w->flags |= PATH_R_TRUNCATED;
		w->done = 1;
		return 1;
	}
	pos -= len;
	bpf_probe_read_kernel(&pb->buf[pos & (FERRET_PATH_MAX - 1)], len, name.name);
	pos -= 1;
	if (!pb->leaf_len) {
		pb->leaf_pos = pos + 1;
		pb->leaf_len = len;
	}
	pb->buf[pos & (FERRET_PATH_MAX - 1)] = '/';
	pb->pos = pos;
	w->dentry = parent;
	return w->done ? 1 : 0;
}

/*
 * Resolves the path pe starts from into pb; returns the start offset, and the
 * text length in *len, as the task whose root pe names sees it (relative to
 * its root, as d_path does). A lone "/" for the root. Uses bpf_loop so the
 * verifier checks the step once, not FERRET_PATH_DEPTH times.
 */
static __always_inline __u32 resolve_path(const struct path_ends *pe, struct path_buf *pb, __u32 *len, __u32 *flags)
{
	struct path_walk w = {
		.dentry = pe->dentry,
		.vfsmnt = pe->vfsmnt,
		.root_dentry = pe->root_dentry,
		.root_mnt = pe->root_mnt,
		.pb = pb,
	};
	__u32 pos;

	pb->pos = FERRET_PATH_MAX;
	pb->leaf_len = 0;
	bpf_loop(FERRET_PATH_DEPTH, path_step, &w, 0);
	if (!w.done)
		w.flags |= PATH_R_TRUNCATED;
	pos = pb->pos;
	if (pos > FERRET_PATH_MAX)
		pos = FERRET_PATH_MAX; /* cannot happen; keeps the bound visible */
	if (pos == FERRET_PATH_MAX) {
		pos -= 1;
		pb->buf[pos & (FERRET_PATH_MAX - 1)] = '/';
	}
	*flags = w.flags;
	*len = FERRET_PATH_MAX - pos;
	return pos;
}

/* Per-CPU scratch for resolve_path (each object has its own). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_buf);
} path_scratch SEC(".maps");

static __always_inline struct path_buf *path_scratch_buf(void)
{
	return scratch_of(path_scratch);
}

/*
 * Resolves the path pe starts from and copies it to dst (no NUL); returns its
 * length. dst must have FERRET_PATH_MAX bytes of room: callers pass a masked
 * offset into their record so the verifier can see that.
 */
static __always_inline __u32 copy_path_from(char *dst, const struct path_ends *pe, __u32 *pflags)
{
	struct path_buf *pb = path_scratch_buf();
	__u32 len = 0, start;

	if (!pb)
		return 0;
	start = resolve_path(pe, pb, &len, pflags);
	if (len > FERRET_PATH_MAX)
		len = FERRET_PATH_MAX;
	bpf_probe_read_kernel(dst, len, &pb->buf[start & (FERRET_PATH_MAX - 1)]);
	return len;
}

/* copy_path_from for `path` as `task` sees it. */
static __always_inline __u32 copy_path(char *dst, const struct path *path, struct task_struct *task, __u32 *pflags)
{
	struct path_ends pe;

	path_ends_of(&pe, path, task);
	return copy_path_from(dst, &pe, pflags);
}

#endif /* FERRET_COMMON_H */

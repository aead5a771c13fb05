/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * The kernel's rseq ABI as librseq's headers name it: a minimal replacement written for
 * this project (librseq's own abi.h is GPL-2.0-or-later WITH Linux-syscall-note and is not
 * vendored). The layouts are the kernel's (`struct rseq`, `struct rseq_cs`), the same
 * ones the rseq-abi crate defines (`rseq_abi::Rseq`, `rseq_abi::RseqCs`); the static
 * assertions at the end check the offsets the assembly relies on. x86_64 only.
 */
#ifndef _RSEQ_ABI_H
#define _RSEQ_ABI_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__x86_64__)
# error "this abi.h replacement describes x86_64 only"
#endif

enum rseq_abi_cpu_id_state {
	RSEQ_ABI_CPU_ID_UNINITIALIZED = -1,
	RSEQ_ABI_CPU_ID_REGISTRATION_FAILED = -2,
};

enum rseq_abi_flags {
	RSEQ_ABI_FLAG_UNREGISTER = (1 << 0),
};

enum rseq_abi_cs_flags_bit {
	RSEQ_ABI_CS_FLAG_NO_RESTART_ON_PREEMPT_BIT = 0,
	RSEQ_ABI_CS_FLAG_NO_RESTART_ON_SIGNAL_BIT = 1,
	RSEQ_ABI_CS_FLAG_NO_RESTART_ON_MIGRATE_BIT = 2,
};

enum rseq_abi_cs_flags {
	RSEQ_ABI_CS_FLAG_NO_RESTART_ON_PREEMPT = (1U << RSEQ_ABI_CS_FLAG_NO_RESTART_ON_PREEMPT_BIT),
	RSEQ_ABI_CS_FLAG_NO_RESTART_ON_SIGNAL = (1U << RSEQ_ABI_CS_FLAG_NO_RESTART_ON_SIGNAL_BIT),
	RSEQ_ABI_CS_FLAG_NO_RESTART_ON_MIGRATE = (1U << RSEQ_ABI_CS_FLAG_NO_RESTART_ON_MIGRATE_BIT),
};

/* A critical-section descriptor (the kernel's `struct rseq_cs`). */
struct rseq_abi_cs {
	uint32_t version;
	uint32_t flags;
	uint64_t start_ip;
	uint64_t post_commit_offset;
	uint64_t abort_ip;
} __attribute__((aligned(32)));

/* The per-thread area (the kernel's `struct rseq`), up to `mm_cid`. */
struct rseq_abi {
	uint32_t cpu_id_start;
	uint32_t cpu_id;
	union {
		uint64_t ptr64;
		struct {
			uint64_t ptr;
		} arch;
	} rseq_cs;
	uint32_t flags;
	uint32_t node_id;
	uint32_t mm_cid;
	char end[];
} __attribute__((aligned(32)));

#ifndef __NR_rseq
# define __NR_rseq 334
#endif

_Static_assert(offsetof(struct rseq_abi_cs, start_ip) == 8, "rseq_cs.start_ip");
_Static_assert(offsetof(struct rseq_abi_cs, post_commit_offset) == 16, "rseq_cs.post_commit_offset");
_Static_assert(offsetof(struct rseq_abi_cs, abort_ip) == 24, "rseq_cs.abort_ip");
_Static_assert(sizeof(struct rseq_abi_cs) == 32, "struct rseq_cs");
_Static_assert(offsetof(struct rseq_abi, cpu_id) == 4, "rseq.cpu_id");
_Static_assert(offsetof(struct rseq_abi, rseq_cs) == 8, "rseq.rseq_cs");
_Static_assert(offsetof(struct rseq_abi, flags) == 16, "rseq.flags");
_Static_assert(offsetof(struct rseq_abi, node_id) == 20, "rseq.node_id");
_Static_assert(offsetof(struct rseq_abi, mm_cid) == 24, "rseq.mm_cid");

#endif /* _RSEQ_ABI_H */

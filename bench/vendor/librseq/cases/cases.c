// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2018-2022 Mathieu Desnoyers <mathieu.desnoyers@efficios.com>
/*
 * librseq's per-CPU test operations (cases.h) as C functions the rseq-bench harness calls
 * side by side with rseq_percpu: the data structures of basic_percpu_ops_test.c and
 * param_test.c (per-CPU entries 128-byte aligned, CPU_SETSIZE of them), their set-up, and
 * the totals the harness checks. Written for the harness; the operations are librseq's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rseq/rseq.h>

struct lr_counter_entry {
	intptr_t count;
} __attribute__((aligned(128)));

struct lr_counter {
	struct lr_counter_entry c[CPU_SETSIZE];
};

struct lr_percpu_lock_entry {
	intptr_t v;
} __attribute__((aligned(128)));

struct lr_percpu_lock {
	struct lr_percpu_lock_entry c[CPU_SETSIZE];
};

struct lr_test_data_entry {
	intptr_t count;
} __attribute__((aligned(128)));

struct lr_spinlock_data {
	struct lr_percpu_lock lock;
	struct lr_test_data_entry c[CPU_SETSIZE];
};

struct lr_percpu_list_node {
	intptr_t data;
	struct lr_percpu_list_node *next;
};

struct lr_percpu_list_entry {
	struct lr_percpu_list_node *head;
} __attribute__((aligned(128)));

struct lr_percpu_list {
	struct lr_percpu_list_entry c[CPU_SETSIZE];
};

struct lr_percpu_buffer_entry {
	intptr_t offset;
	intptr_t buflen;
	intptr_t *array;
} __attribute__((aligned(128)));

struct lr_percpu_buffer {
	struct lr_percpu_buffer_entry c[CPU_SETSIZE];
};

/* A 64-byte item: eight copies of one value. */
struct lr_item {
	uint64_t w[8];
};

struct lr_percpu_memcpy_buffer_entry {
	intptr_t offset;
	intptr_t buflen;
	struct lr_item *array;
} __attribute__((aligned(128)));

struct lr_percpu_memcpy_buffer {
	struct lr_percpu_memcpy_buffer_entry c[CPU_SETSIZE];
};

/* What a buffer worker hands back (the same fields as the Rust side's). */
struct lr_flow {
	uint64_t next;
	uint64_t pushed;
	uint64_t pushed_sum;
	uint64_t popped;
	uint64_t popped_sum;
	uint64_t torn;
};

static inline __attribute__((always_inline)) int lr_cpu_current(void)
{
	return rseq_cpu_start();
}

static inline __attribute__((always_inline)) int lr_cid_current(void)
{
	return rseq_current_mm_cid();
}

#define CASE(name) lr_cpu_##name
#define RSEQ_PERCPU RSEQ_PERCPU_CPU_ID
#include "cases.h"
#undef CASE
#undef RSEQ_PERCPU

#define CASE(name) lr_cid_##name
#define RSEQ_PERCPU RSEQ_PERCPU_MM_CID
#include "cases.h"
#undef CASE
#undef RSEQ_PERCPU

/* ---- set-up and checks (not timed) ---- */

/* Registers the calling thread with librseq: 0 on success (glibc's area is used when glibc
 * registered one). */
int lr_register(void)
{
	return rseq_register_current_thread();
}

int lr_unregister(void)
{
	return rseq_unregister_current_thread();
}

/* Whether the calling thread has a CPU number (cpu_id) / a concurrency id (mm_cid). */
bool lr_cpu_available(void)
{
	return rseq_current_cpu_raw() >= 0;
}

bool lr_cid_available(void)
{
	return rseq_mm_cid_available();
}

static void *lr_zalloc(size_t size)
{
	void *p = aligned_alloc(128, (size + 127) & ~(size_t)127);

	if (p)
		memset(p, 0, size);
	return p;
}

struct lr_counter *lr_counter_new(void)
{
	return lr_zalloc(sizeof(struct lr_counter));
}

uint64_t lr_counter_sum(const struct lr_counter *c)
{
	uint64_t sum = 0;

	for (int i = 0; i < CPU_SETSIZE; i++)
		sum += (uint64_t)c->c[i].count;
	return sum;
}

void lr_counter_free(struct lr_counter *c)
{
	free(c);
}

struct lr_spinlock_data *lr_spinlock_new(void)
{
	return lr_zalloc(sizeof(struct lr_spinlock_data));
}

/* The sum of the protected counts, or UINT64_MAX when a lock is still held. */
uint64_t lr_spinlock_sum(const struct lr_spinlock_data *d)
{
	uint64_t sum = 0;

	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (d->lock.c[i].v != 0)
			return UINT64_MAX;
		sum += (uint64_t)d->c[i].count;
	}
	return sum;
}

void lr_spinlock_free(struct lr_spinlock_data *d)
{
	free(d);
}

struct lr_percpu_list *lr_list_new(void)
{
	return lr_zalloc(sizeof(struct lr_percpu_list));
}

/* Nodes left in every per-CPU list (bounded by `limit`, so a cycle cannot hang). */
uint64_t lr_list_count(const struct lr_percpu_list *l, uint64_t limit)
{
	uint64_t n = 0;

	for (int i = 0; i < CPU_SETSIZE; i++)
		for (const struct lr_percpu_list_node *p = l->c[i].head; p && n <= limit; p = p->next)
			n++;
	return n;
}

/* Frees the list and the nodes left in it. */
void lr_list_free(struct lr_percpu_list *l)
{
	for (int i = 0; l && i < CPU_SETSIZE; i++) {
		struct lr_percpu_list_node *p = l->c[i].head;

		while (p) {
			struct lr_percpu_list_node *next = p->next;

			free(p);
			p = next;
		}
	}
	free(l);
}

struct lr_percpu_list_node *lr_node_new(intptr_t data)
{
	struct lr_percpu_list_node *node = calloc(1, sizeof(*node));

	if (node)
		node->data = data;
	return node;
}

intptr_t lr_node_data(const struct lr_percpu_list_node *node)
{
	return node->data;
}

void lr_node_free(struct lr_percpu_list_node *node)
{
	free(node);
}

struct lr_percpu_buffer *lr_buffer_new(intptr_t capacity)
{
	struct lr_percpu_buffer *b = lr_zalloc(sizeof(*b));
	intptr_t *words = calloc((size_t)CPU_SETSIZE * (size_t)capacity, sizeof(intptr_t));

	if (!b || !words) {
		free(b);
		free(words);
		return NULL;
	}
	for (int i = 0; i < CPU_SETSIZE; i++) {
		b->c[i].buflen = capacity;
		b->c[i].array = words + (size_t)i * (size_t)capacity;
	}
	return b;
}

/* Empties every per-CPU buffer: items left and the sum of their values. */
void lr_buffer_drain(struct lr_percpu_buffer *b, uint64_t *count, uint64_t *sum)
{
	for (int i = 0; i < CPU_SETSIZE; i++) {
		while (b->c[i].offset > 0) {
			b->c[i].offset--;
			*count += 1;
			*sum += (uint64_t)b->c[i].array[b->c[i].offset];
		}
	}
}

void lr_buffer_free(struct lr_percpu_buffer *b)
{
	if (b)
		free(b->c[0].array);
	free(b);
}

struct lr_percpu_memcpy_buffer *lr_memcpy_new(intptr_t capacity)
{
	struct lr_percpu_memcpy_buffer *b = lr_zalloc(sizeof(*b));
	struct lr_item *items = calloc((size_t)CPU_SETSIZE * (size_t)capacity, sizeof(struct lr_item));

	if (!b || !items) {
		free(b);
		free(items);
		return NULL;
	}
	for (int i = 0; i < CPU_SETSIZE; i++) {
		b->c[i].buflen = capacity;
		b->c[i].array = items + (size_t)i * (size_t)capacity;
	}
	return b;
}

/* Empties every per-CPU buffer: items left, the sum of their values, torn items. */
void lr_memcpy_drain(struct lr_percpu_memcpy_buffer *b, uint64_t *count, uint64_t *sum, uint64_t *torn)
{
	for (int i = 0; i < CPU_SETSIZE; i++) {
		while (b->c[i].offset > 0) {
			const struct lr_item *item;

			b->c[i].offset--;
			item = &b->c[i].array[b->c[i].offset];
			*count += 1;
			*sum += item->w[0];
			for (int w = 1; w < 8; w++)
				*torn += item->w[w] != item->w[0];
		}
	}
}

void lr_memcpy_free(struct lr_percpu_memcpy_buffer *b)
{
	if (b)
		free(b->c[0].array);
	free(b);
}

// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2018-2022 Mathieu Desnoyers <mathieu.desnoyers@efficios.com>
/*
 * The per-CPU operations of librseq's tests/basic_percpu_ops_test.c (spin lock, list) and
 * tests/param_test.c (counter, buffer, memcpy buffer), unchanged in their critical
 * sections, each wrapped in a loop of `n` operations. Included twice by cases.c: once with
 * RSEQ_PERCPU = RSEQ_PERCPU_CPU_ID and the prefix lr_cpu_, once with RSEQ_PERCPU_MM_CID
 * and lr_cid_ (the BUILDOPT_RSEQ_PERCPU_MM_CID build of the tests).
 *
 * Changed from the tests: per-CPU data is indexed by hand (`&x->c[cpu]`, a 128-byte
 * stride) instead of through rseq_mempool; the memcpy buffer's items are 64 bytes (the
 * tests' are 16), like the Rust side's; the functions return what the harness checks.
 */

/* A simple percpu spinlock.  Returns the cpu lock was acquired on. */
static inline __attribute__((always_inline)) int CASE(this_cpu_lock)(struct lr_percpu_lock *lock)
{
	int cpu;

	for (;;) {
		int ret;

		cpu = CASE(current)();
		ret = rseq_load_cbne_store__ptr(RSEQ_MO_RELAXED, RSEQ_PERCPU,
					 &lock->c[cpu].v, 0, 1, cpu);
		if (rseq_likely(!ret))
			break;
		/* Retry if comparison fails or rseq aborts. */
	}
	/*
	 * Acquire semantic when taking lock after control dependency.
	 * Matches rseq_smp_store_release().
	 */
	rseq_smp_acquire__after_ctrl_dep();
	return cpu;
}

static inline __attribute__((always_inline)) void CASE(percpu_unlock)(struct lr_percpu_lock *lock, int cpu)
{
	/*
	 * Release lock, with release semantic. Matches
	 * rseq_smp_acquire__after_ctrl_dep().
	 */
	rseq_smp_store_release(&lock->c[cpu].v, 0);
}

/* n increments of the per-CPU counter (param_test.c, test_percpu_inc_thread). */
void CASE(counter_run)(struct lr_counter *data, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		int ret;

		do {
			int cpu;

			cpu = CASE(current)();
			ret = rseq_load_add_store__ptr(RSEQ_MO_RELAXED, RSEQ_PERCPU,
					&data->c[cpu].count, 1, cpu);
		} while (rseq_unlikely(ret));
	}
}

/* n times lock + increment + unlock (basic_percpu_ops_test.c, test_percpu_spinlock_thread). */
void CASE(spinlock_run)(struct lr_spinlock_data *data, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		int cpu = CASE(this_cpu_lock)(&data->lock);
		data->c[cpu].count++;
		CASE(percpu_unlock)(&data->lock, cpu);
	}
}

static inline __attribute__((always_inline)) void CASE(this_cpu_list_push)(struct lr_percpu_list *list,
			struct lr_percpu_list_node *node)
{
	int cpu;

	for (;;) {
		intptr_t *targetptr, newval, expect;
		int ret;

		cpu = CASE(current)();
		/* Load list->c[cpu].head with single-copy atomicity. */
		expect = (intptr_t)RSEQ_READ_ONCE(list->c[cpu].head);
		newval = (intptr_t)node;
		targetptr = (intptr_t *)&list->c[cpu].head;
		node->next = (struct lr_percpu_list_node *)expect;
		ret = rseq_load_cbne_store__ptr(RSEQ_MO_RELAXED, RSEQ_PERCPU,
					 targetptr, expect, newval, cpu);
		if (rseq_likely(!ret))
			break;
		/* Retry if comparison fails or rseq aborts. */
	}
}

static inline __attribute__((always_inline)) struct lr_percpu_list_node *CASE(this_cpu_list_pop)(struct lr_percpu_list *list)
{
	for (;;) {
		struct lr_percpu_list_node *head;
		intptr_t *targetptr, expectnot, *load;
		long offset;
		int ret, cpu;

		cpu = CASE(current)();
		targetptr = (intptr_t *)&list->c[cpu].head;
		expectnot = (intptr_t)NULL;
		offset = offsetof(struct lr_percpu_list_node, next);
		load = (intptr_t *)&head;
		ret = rseq_load_cbeq_store_add_load_store__ptr(RSEQ_MO_RELAXED, RSEQ_PERCPU,
						 targetptr, expectnot,
						 offset, load, cpu);
		if (rseq_likely(!ret))
			return head;
		if (ret > 0)
			return NULL;
		/* Retry if rseq aborts. */
	}
}

/*
 * n times push + pop of the list (basic_percpu_ops_test.c, test_percpu_list_thread):
 * pushes the node held (if any), holds the node popped (NULL when this CPU's list was
 * empty: after a migration between the push and the pop, another thread may have taken
 * it). Returns the node held at the end.
 */
struct lr_percpu_list_node *CASE(list_run)(struct lr_percpu_list *list,
		struct lr_percpu_list_node *held, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		if (held)
			CASE(this_cpu_list_push)(list, held);
		held = CASE(this_cpu_list_pop)(list);
	}
	return held;
}

static inline __attribute__((always_inline)) bool CASE(this_cpu_buffer_push)(struct lr_percpu_buffer *buffer,
			  intptr_t node)
{
	bool result = false;
	int cpu;

	for (;;) {
		struct lr_percpu_buffer_entry *cpubuffer;
		intptr_t *targetptr_spec, newval_spec;
		intptr_t *targetptr_final, newval_final;
		intptr_t offset;
		int ret;

		cpu = CASE(current)();
		cpubuffer = &buffer->c[cpu];
		offset = RSEQ_READ_ONCE(cpubuffer->offset);
		if (offset == cpubuffer->buflen)
			break;
		newval_spec = node;
		targetptr_spec = &cpubuffer->array[offset];
		newval_final = offset + 1;
		targetptr_final = &cpubuffer->offset;
		ret = rseq_load_cbne_store_store__ptr(RSEQ_MO_RELAXED, RSEQ_PERCPU,
			targetptr_final, offset, targetptr_spec,
			newval_spec, newval_final, cpu);
		if (rseq_likely(!ret)) {
			result = true;
			break;
		}
		/* Retry if comparison fails or rseq aborts. */
	}
	return result;
}

static inline __attribute__((always_inline)) bool CASE(this_cpu_buffer_pop)(struct lr_percpu_buffer *buffer,
			  intptr_t *out)
{
	intptr_t head;
	int cpu;

	for (;;) {
		struct lr_percpu_buffer_entry *cpubuffer;
		intptr_t *targetptr, newval;
		intptr_t offset;
		int ret;

		cpu = CASE(current)();
		cpubuffer = &buffer->c[cpu];
		/* Load offset with single-copy atomicity. */
		offset = RSEQ_READ_ONCE(cpubuffer->offset);
		if (offset == 0)
			return false;
		head = RSEQ_READ_ONCE(cpubuffer->array[offset - 1]);
		newval = offset - 1;
		targetptr = (intptr_t *)&cpubuffer->offset;
		ret = rseq_load_cbne_load_cbne_store__ptr(RSEQ_MO_RELAXED, RSEQ_PERCPU,
			targetptr, offset,
			(intptr_t *)&cpubuffer->array[offset - 1],
			(intptr_t)head, newval, cpu);
		if (rseq_likely(!ret))
			break;
		/* Retry if comparison fails or rseq aborts. */
	}
	*out = head;
	return true;
}

/* n times push + pop of the word buffer (param_test.c, test_percpu_buffer_thread). */
void CASE(buffer_run)(struct lr_percpu_buffer *buffer, struct lr_flow *flow, uint64_t n)
{
	uint64_t next = flow->next;

	for (uint64_t i = 0; i < n; i++) {
		intptr_t v;

		if (CASE(this_cpu_buffer_push)(buffer, (intptr_t)next)) {
			flow->pushed++;
			flow->pushed_sum += next;
			next++;
		}
		if (CASE(this_cpu_buffer_pop)(buffer, &v)) {
			flow->popped++;
			flow->popped_sum += (uint64_t)v;
		}
	}
	flow->next = next;
}

static inline __attribute__((always_inline)) bool CASE(this_cpu_memcpy_buffer_push)(struct lr_percpu_memcpy_buffer *buffer,
				 struct lr_item item)
{
	bool result = false;
	int cpu;

	for (;;) {
		struct lr_percpu_memcpy_buffer_entry *cpubuffer;
		intptr_t *targetptr_final, newval_final, offset;
		char *destptr, *srcptr;
		size_t copylen;
		int ret;

		cpu = CASE(current)();
		cpubuffer = &buffer->c[cpu];
		/* Load offset with single-copy atomicity. */
		offset = RSEQ_READ_ONCE(cpubuffer->offset);
		if (offset == cpubuffer->buflen)
			break;
		destptr = (char *)&cpubuffer->array[offset];
		srcptr = (char *)&item;
		/* copylen must be <= 4kB. */
		copylen = sizeof(item);
		newval_final = offset + 1;
		targetptr_final = &cpubuffer->offset;
		ret = rseq_load_cbne_memcpy_store__ptr(
			RSEQ_MO_RELAXED, RSEQ_PERCPU,
			targetptr_final, offset,
			destptr, srcptr, copylen,
			newval_final, cpu);
		if (rseq_likely(!ret)) {
			result = true;
			break;
		}
		/* Retry if comparison fails or rseq aborts. */
	}
	return result;
}

static inline __attribute__((always_inline)) bool CASE(this_cpu_memcpy_buffer_pop)(struct lr_percpu_memcpy_buffer *buffer,
				struct lr_item *item)
{
	bool result = false;
	int cpu;

	for (;;) {
		struct lr_percpu_memcpy_buffer_entry *cpubuffer;
		intptr_t *targetptr_final, newval_final, offset;
		char *destptr, *srcptr;
		size_t copylen;
		int ret;

		cpu = CASE(current)();
		cpubuffer = &buffer->c[cpu];
		/* Load offset with single-copy atomicity. */
		offset = RSEQ_READ_ONCE(cpubuffer->offset);
		if (offset == 0)
			break;
		destptr = (char *)item;
		srcptr = (char *)&cpubuffer->array[offset - 1];
		/* copylen must be <= 4kB. */
		copylen = sizeof(*item);
		newval_final = offset - 1;
		targetptr_final = &cpubuffer->offset;
		ret = rseq_load_cbne_memcpy_store__ptr(RSEQ_MO_RELAXED, RSEQ_PERCPU,
			targetptr_final, offset, destptr, srcptr, copylen,
			newval_final, cpu);
		if (rseq_likely(!ret)) {
			result = true;
			break;
		}
		/* Retry if comparison fails or rseq aborts. */
	}
	return result;
}

/*
 * n times push + pop of the memcpy buffer (param_test.c, test_percpu_memcpy_buffer_thread)
 * with 64-byte items of eight equal words; a popped item whose words differ counts as torn.
 */
void CASE(memcpy_run)(struct lr_percpu_memcpy_buffer *buffer, struct lr_flow *flow, uint64_t n)
{
	uint64_t next = flow->next;

	for (uint64_t i = 0; i < n; i++) {
		struct lr_item item;

		for (int w = 0; w < 8; w++)
			item.w[w] = next;
		if (CASE(this_cpu_memcpy_buffer_push)(buffer, item)) {
			flow->pushed++;
			flow->pushed_sum += next;
			next++;
		}
		if (CASE(this_cpu_memcpy_buffer_pop)(buffer, &item)) {
			flow->popped++;
			flow->popped_sum += item.w[0];
			for (int w = 1; w < 8; w++)
				flow->torn += item.w[w] != item.w[0];
		}
	}
	flow->next = next;
}

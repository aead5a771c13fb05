// SPDX-License-Identifier: MIT
/*
 * Copyright (C) 2011-2012 Mathieu Desnoyers <mathieu.desnoyers@efficios.com>
 * Copyright (C) 2019 Michael Jeanson <mjeanson@efficios.com>
 */

#ifndef _RSEQ_SMP_H
#define _RSEQ_SMP_H

int get_possible_cpus_array_len(void) __attribute__((visibility("hidden")));

#endif /* _RSEQ_SMP_H */

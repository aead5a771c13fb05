/* SPDX-License-Identifier: MIT */
/* SPDX-FileCopyrightText: 2016-2022 Mathieu Desnoyers <mathieu.desnoyers@efficios.com> */

/*
 * rseq/arch/templates/bits-reset.h
 */

#undef RSEQ_TEMPLATE_IDENTIFIER
#undef RSEQ_TEMPLATE_INDEX_CPU_ID_FIELD
#undef RSEQ_TEMPLATE_INDEX_CPU_ID_OFFSET
#undef RSEQ_TEMPLATE_SUFFIX

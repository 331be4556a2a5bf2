/*
 * Internal queries of the core layer, for tests that link the layers
 * statically (libdistmem.so does not export them): they answer questions
 * the public API has no call for.
 */
#ifndef DM_CORE_API_INT_H
#define DM_CORE_API_INT_H

#include <stddef.h>

#include "dsm.h"

/*
 * Where the pages of [ptr, ptr + len) are, seen from this rank
 * (dm_dsm_where: its home pages by tier, its cached copies, counters).
 * Progresses the transport once first. Errors: DM_ERR_NOT_INITIALIZED,
 * DM_ERR_INVALID_PARAM.
 */
dm_status_t dm_core_where(const void *ptr, size_t len, dm_dsm_where_t *where);

#endif

/*
 * The backend selection rule of dm_boot_create, as a pure function so that
 * the unit tests can check it without joining a job.
 */
#ifndef DM_BOOT_SELECT_H
#define DM_BOOT_SELECT_H

#include "boot.h"

/*
 * Which backend cfg asks for: DM_BOOTSTRAP_RDV, _PMIX or _SINGLE.
 * DISTMEM_BOOTSTRAP=rdv|pmix|single forces it; auto picks rdv when
 * DISTMEM_RDV is set, else pmix when have_pmix_env (PMIX_RANK is set), else
 * single. Then the settings must agree with the choice:
 *   rdv     DISTMEM_RDV is HOST:PORT, 0 <= DISTMEM_RANK < DISTMEM_NRANKS;
 *   single  DISTMEM_RANK is unset (-1) or 0, DISTMEM_NRANKS is unset (0) or 1;
 *   pmix    nothing to check here (PMIx gives rank and size).
 * Returns DM_OK with *backend_p, or DM_ERR_CONFIG with a message naming the
 * variables to fix.
 */
dm_status_t dm_boot_select(const dm_config_t *cfg, int have_pmix_env, int *backend_p);

#endif

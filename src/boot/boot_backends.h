/*
 * Constructors of the bootstrap backends; only boot.c calls them.
 * Each returns DM_OK and a joined dm_boot_t, or an error with detail.
 */
#ifndef DM_BOOT_BACKENDS_H
#define DM_BOOT_BACKENDS_H

#include "boot.h"

dm_status_t dm_boot_rdv_create(const dm_config_t *cfg, dm_boot_t **boot_p);
dm_status_t dm_boot_pmix_create(const dm_config_t *cfg, dm_boot_t **boot_p);
dm_status_t dm_boot_single_create(const dm_config_t *cfg, dm_boot_t **boot_p);

#endif

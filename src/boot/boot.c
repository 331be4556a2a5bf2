/*
 * Bootstrap entry points: choose a backend from the configuration and hand
 * the dm_boot_t back to its ops table for everything else.
 */
#include "boot.h"

#include <stdio.h>
#include <stdlib.h>

#include "boot_backends.h"
#include "boot_select.h"
#include "rdv_proto.h"
#include "status.h"

dm_status_t dm_boot_select(const dm_config_t *cfg, int have_pmix_env, int *backend_p)
{
    char host[DM_CONFIG_STRING_MAX], detail[512];
    uint16_t port;
    int backend = cfg->bootstrap;

    if (backend == DM_BOOTSTRAP_AUTO) {
        if (cfg->rdv[0] != '\0') {
            backend = DM_BOOTSTRAP_RDV;
        } else if (have_pmix_env) {
            backend = DM_BOOTSTRAP_PMIX;
        } else {
            backend = DM_BOOTSTRAP_SINGLE;
        }
    }

    switch (backend) {
    case DM_BOOTSTRAP_RDV:
        if (cfg->rdv[0] == '\0') {
            return dm_error_set(DM_ERR_CONFIG, "DISTMEM_BOOTSTRAP=rdv needs DISTMEM_RDV=HOST:PORT "
                                "(or start the job with `distmem run`)");
        }
        if (dm_rdv_parse_addr(cfg->rdv, host, sizeof(host), &port, 0) != DM_OK) {
            snprintf(detail, sizeof(detail), "%s", dm_last_error());
            return dm_error_set(DM_ERR_CONFIG, "DISTMEM_RDV: %s", detail);
        }
        if (cfg->rank < 0 || cfg->nranks < 1) {
            return dm_error_set(DM_ERR_CONFIG,
                                "DISTMEM_RDV=%s is set but DISTMEM_RANK (%ld) and DISTMEM_NRANKS "
                                "(%ld) are not: set both, or start the job with `distmem run`",
                                cfg->rdv, cfg->rank, cfg->nranks);
        }
        if (cfg->rank >= cfg->nranks) {
            return dm_error_set(DM_ERR_CONFIG, "DISTMEM_RANK=%ld is out of range: "
                                "DISTMEM_NRANKS=%ld allows 0..%ld",
                                cfg->rank, cfg->nranks, cfg->nranks - 1);
        }
        break;
    case DM_BOOTSTRAP_SINGLE:
        if (cfg->nranks > 1 || cfg->rank > 0) {
            return dm_error_set(DM_ERR_CONFIG,
                                "DISTMEM_RANK=%ld, DISTMEM_NRANKS=%ld describe a job of several "
                                "ranks, but no way to reach the others: set DISTMEM_RDV "
                                "(or use `distmem run`, mpirun or srun)",
                                cfg->rank, cfg->nranks);
        }
        break;
    case DM_BOOTSTRAP_PMIX:
        break;
    default:
        return dm_error_set(DM_ERR_CONFIG, "unknown DISTMEM_BOOTSTRAP value %d", backend);
    }
    *backend_p = backend;
    return DM_OK;
}

dm_status_t dm_boot_create(const dm_config_t *cfg, dm_boot_t **boot_p)
{
    int backend;
    dm_status_t st;

    if (cfg == NULL || boot_p == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "dm_boot_create: NULL argument");
    }
    st = dm_boot_select(cfg, getenv("PMIX_RANK") != NULL, &backend);
    if (st != DM_OK) {
        return st;
    }
    switch (backend) {
    case DM_BOOTSTRAP_RDV:
        return dm_boot_rdv_create(cfg, boot_p);
    case DM_BOOTSTRAP_PMIX:
        return dm_boot_pmix_create(cfg, boot_p);
    default:
        return dm_boot_single_create(cfg, boot_p);
    }
}

void dm_boot_destroy(dm_boot_t *boot, int clean)
{
    if (boot != NULL) {
        boot->ops->destroy(boot, clean);
    }
}

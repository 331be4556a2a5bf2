/*
 * Stand-in for the PMIx backend when distmem is built without PMIx.
 */
#include "boot_backends.h"
#include "status.h"

dm_status_t dm_boot_pmix_create(const dm_config_t *cfg, dm_boot_t **boot_p)
{
    (void)cfg;
    (void)boot_p;
    return dm_error_set(DM_ERR_UNSUPPORTED, "distmem was built without PMIx "
                        "(use `distmem run` or DISTMEM_RDV instead of mpirun/srun)");
}

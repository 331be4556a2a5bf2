/* hello: the smallest distmem program (see README.md). */
#include <distmem.h>
#include <stdio.h>

int main(void)
{
    dm_status_t st = dm_init(NULL);

    if (st != DM_OK) {
        fprintf(stderr, "dm_init: %s (%s)\n", dm_status_string(st), dm_last_error());
        return 1;
    }
    printf("rank %d of %d is up\n", dm_rank(), dm_nranks());
    st = dm_barrier();
    dm_finalize();
    return st == DM_OK ? 0 : 1;
}

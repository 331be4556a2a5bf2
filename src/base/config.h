/*
 * The configuration table: every tunable of distmem is one DISTMEM_* variable
 * listed here, with its type, default and help text. `distmem config` prints
 * this table; docs/user-guide.md points to it instead of copying it.
 *
 * Loading rules (dm_config_load):
 *   - a variable that is not set takes its default;
 *   - a malformed value is DM_ERR_CONFIG naming the variable, the value and
 *     the expected form;
 *   - a DISTMEM_* variable that is not in the table is DM_ERR_CONFIG too
 *     (a typo must not be silently ignored).
 *
 * Value forms: INT decimal digits, optionally preceded by '-'; BOOL 1/0,
 * yes/no, true/false, on/off; SIZE a decimal number with an optional B, K, M,
 * G or T suffix (also KB/KiB..., powers of 1024) that comes to whole bytes
 * (1.5K yes, 1.5 no); DURATION a decimal number with ns, us, ms, s, m or h
 * (plain number = seconds). No signs, spaces, hex or exponents;
 * ENUM one of the '|'-separated choices; STRING anything up to 255 bytes.
 */
#ifndef DM_BASE_CONFIG_H
#define DM_BASE_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "distmem_status.h"

#define DM_CONFIG_STRING_MAX 256

/* X(NAME, field, TYPE, default, choices-or-range, help) */
#define DM_CONFIG_TABLE(X)                                                                    \
    X(LOG_LEVEL, log_level, ENUM, "warn", "error|warn|info|debug|trace",                      \
      "Print messages of this level and more severe to stderr.")                              \
    X(BOOTSTRAP, bootstrap, ENUM, "auto", "auto|rdv|pmix|single",                             \
      "How ranks find each other: rdv (TCP rendezvous of `distmem run` or DISTMEM_RDV), "     \
      "pmix (mpirun, srun), single (one process); auto picks rdv when DISTMEM_RDV is set, "   \
      "else pmix when PMIX_RANK is set, else single.")                                        \
    X(RANK, rank, INT, "-1", "-1..16777215",                                                  \
      "Rank of this process. Set by `distmem run`; set by hand in manual mode.")              \
    X(NRANKS, nranks, INT, "0", "0..16777216",                                                \
      "Number of processes in the job. Set by `distmem run`; set by hand in manual mode.")    \
    X(RDV, rdv, STRING, "", "",                                                               \
      "Rendezvous store address HOST:PORT. Set by `distmem run`; in manual mode point every " \
      "rank at a `distmem rendezvous` or at the `distmem run --first-rank 0 --rdv` serving it.") \
    X(JOB_KEY, job_key, STRING, "", "",                                                       \
      "Secret shared by the ranks of one job; the rendezvous refuses a rank with another.")   \
    X(BOOT_TIMEOUT, boot_timeout, DURATION, "30s", "",                                        \
      "How long start-up waits for the rendezvous and for the other ranks.")                  \
    X(PEER_TIMEOUT, peer_timeout, DURATION, "30s", "",                                        \
      "How long a blocking operation waits on a silent peer before it fails with "            \
      "DM_ERR_PEER_FAILED. A peer that dies is usually reported much sooner.")                \
    X(PROGRESS_THREAD, progress_thread, BOOL, "yes", "",                                      \
      "Run a progress thread that serves peers' requests while the application computes.")   \
    X(GAS_SIZE, gas_size, SIZE, "64G", "",                                                    \
      "Size of the global address space every rank reserves at the same virtual address "     \
      "(address space only; may exceed the node's memory).")                                 \
    X(HOME_BLOCK, home_block, INT, "1", "1..1048576",                                         \
      "Pages per block of the block-cyclic home placement of dm_alloc memory: page i of the " \
      "collective area is homed at rank (i / HOME_BLOCK) mod NRANKS.")                        \
    X(PLACEMENT, placement, ENUM, "block-cyclic", "block-cyclic|first-touch",                  \
      "Home placement of dm_alloc memory: block-cyclic (see HOME_BLOCK), or first-touch: a "  \
      "page's home is the first rank that touches it (a fault or a one-sided operation); "    \
      "rank (i / 512) mod NRANKS records the choice for page i.")                             \
    X(CACHE_SIZE, cache_size, SIZE, "0", "",                                                  \
      "Most memory this rank keeps in copies of distmem pages (0: no limit; else at least "   \
      "64 pages). Above it the oldest copies are dropped; a written one is written back to "  \
      "its home first.")                                                                      \
    X(HOME_MEMORY, home_memory, SIZE, "0", "",                                                \
      "DRAM for the data of the pages this rank is home of (0: no limit, all in DRAM; else "  \
      "at least 64 pages): the rest lives in a file of up to STORE_SIZE under STORE_PATH "    \
      "(io_uring, O_DIRECT), HOME_POLICY choosing which pages stay in DRAM.")                 \
    X(STORE_SIZE, store_size, SIZE, "8G", "",                                                 \
      "With HOME_MEMORY set: most home data this rank keeps on disk (its file grows as "      \
      "pages arrive).")                                                                       \
    X(STORE_PATH, store_path, STRING, "/var/tmp", "",                                         \
      "With HOME_MEMORY set: directory of the home data files (a local disk; removed at exit).") \
    X(HOME_POLICY, home_policy, ENUM, "arc", "arc|clock|lru|hint",                           \
      "With HOME_MEMORY set: which home pages stay in DRAM (policy.h).")                      \
    X(MIGRATE_BUDGET, migrate_budget, INT, "0", "0..1000000",                                 \
      "With HOME_MEMORY set: MB/s that page moves between DRAM and disk may use (0: no "      \
      "budget, a page is brought to DRAM when used). With a budget, a worker thread moves "   \
      "pages in the background and an access is served from where the page is.")             \
    X(RMA_DIRECT, rma_direct, ENUM, "auto", "auto|yes|no",                                   \
      "One-sided operations on pages homed at another rank of this host read and write its "  \
      "home memory directly (a shared file, a per-page word) when no copy is cached, without " \
      "a message. auto: unless UCX_TLS leaves shared memory out (e.g. UCX_TLS=tcp).")          \
    X(PREFETCH, prefetch, INT, "8", "0..64",                                                  \
      "Pages read ahead when a thread's read faults walk memory sequentially (0: off).")      \
    X(FAULT_STEP, fault_step, BOOL, "yes", "",                                                \
      "After a fault waited for a page, hold back requests to take it away until the faulting " \
      "instruction has run once (x86-64: emulated, see FAULT_EMULATE, or one single-step "  \
      "trap, about 10 us). Guarantees forward progress under contention; without it racing " \
      "ranks can livelock.")                                                                  \
    X(FAULT_MOVE, fault_move, BOOL, "yes", "",                                                \
      "Take a written page away from this rank (another rank asks for it, or the cache "     \
      "evicts it) with one UFFDIO_MOVE of its frame (Linux 6.8+; one TLB shootdown) instead " \
      "of write-protect, copy and MADV_DONTNEED (two). Where the kernel refuses, the copy "  \
      "way is used anyway; no: always the copy way.")                                        \
    X(FAULT_EMULATE, fault_emulate, BOOL, "yes", "",                                          \
      "With FAULT_STEP (x86-64): run the common faulting loads and stores (MOV, MOVZX, "     \
      "MOVSX, SSE moves) and ALU instructions on memory (ADD, SUB, ADC, SBB, AND, OR, XOR, "  \
      "CMP, TEST, INC, DEC, NOT, NEG, XCHG, XADD, CMPXCHG, LOCK included) in the fault "      \
      "handler while the page is held, instead of single-stepping them (saves a second "     \
      "signal per miss); other instructions still step.")

typedef enum dm_config_type {
    DM_CONFIG_INT,
    DM_CONFIG_BOOL,
    DM_CONFIG_SIZE,
    DM_CONFIG_DURATION,
    DM_CONFIG_ENUM,
    DM_CONFIG_STRING,
} dm_config_type_t;

#define DM_CONFIG_CTYPE_INT      long
#define DM_CONFIG_CTYPE_BOOL     int
#define DM_CONFIG_CTYPE_SIZE     uint64_t
#define DM_CONFIG_CTYPE_DURATION uint64_t /* nanoseconds */
#define DM_CONFIG_CTYPE_ENUM     int      /* index into the choices */
#define DM_CONFIG_CTYPE_STRING   char
#define DM_CONFIG_DIM_INT
#define DM_CONFIG_DIM_BOOL
#define DM_CONFIG_DIM_SIZE
#define DM_CONFIG_DIM_DURATION
#define DM_CONFIG_DIM_ENUM
#define DM_CONFIG_DIM_STRING [DM_CONFIG_STRING_MAX]

typedef struct dm_config {
#define DM_CONFIG_FIELD_(NAME, field, TYPE, def, choices, help) \
    DM_CONFIG_CTYPE_##TYPE field DM_CONFIG_DIM_##TYPE;
    DM_CONFIG_TABLE(DM_CONFIG_FIELD_)
#undef DM_CONFIG_FIELD_
} dm_config_t;

/* Enum indices for the ENUM entries above (must follow the choices' order). */
enum { DM_BOOTSTRAP_AUTO, DM_BOOTSTRAP_RDV, DM_BOOTSTRAP_PMIX, DM_BOOTSTRAP_SINGLE };
enum { DM_RMA_DIRECT_AUTO, DM_RMA_DIRECT_YES, DM_RMA_DIRECT_NO };

/*
 * Fills *cfg from envp (NULL-terminated "NAME=value" strings, as environ).
 * Returns DM_OK or DM_ERR_CONFIG with the detail in dm_last_error();
 * *cfg is written only on success.
 */
dm_status_t dm_config_load(dm_config_t *cfg, char *const *envp);

/* Fills *cfg with the defaults only. Never fails. */
void dm_config_defaults(dm_config_t *cfg);

/* Prints the table: name, current value in cfg (or default), help. */
void dm_config_print(FILE *out, const dm_config_t *cfg);

/*
 * Parses one value of the given type, for tools that take the same forms on
 * their command line. out points to the field's C type.
 */
dm_status_t dm_config_parse_value(dm_config_type_t type, const char *choices,
                                  const char *text, void *out);

#endif

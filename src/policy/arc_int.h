/*
 * ARC's state, shared by the plain ARC policy (arc.c) and the hint policy
 * (hint.c), which is ARC plus two lists of advised pages kept outside
 * ARC's own lists.
 */
#ifndef DM_POLICY_ARC_INT_H
#define DM_POLICY_ARC_INT_H

#include "policy_int.h"

/* Node list numbers (dm_pnode_t.list). */
enum {
    DM_ARC_T1 = 1, /* resident, referenced once since it last entered the directory */
    DM_ARC_T2,     /* resident, referenced at least twice */
    DM_ARC_B1,     /* ghost of a page evicted from T1 */
    DM_ARC_B2,     /* ghost of a page evicted from T2 */
    DM_ARC_COLD,   /* hint: resident, advised cold; outside ARC's lists */
    DM_ARC_PREF,   /* hint: resident, advised preferred; outside ARC's lists */
};

/* Node flags (dm_pnode_t.flags); resident pages only, cleared when a page becomes a ghost. */
#define DM_ARC_DIRTY       0x1 /* written since it was admitted to this tier */
#define DM_ARC_READ_MOSTLY 0x2 /* advised read-mostly (hint) */

typedef struct dm_policy_arc {
    dm_policy_t base;
    int         takes_advice;  /* 1 for the hint policy */
    uint32_t    clean_window;  /* hint: see dm_policy_params_t */
    uint64_t    c;             /* capacity in pages */
    uint64_t    p;             /* target size of T1, 0 .. c */
    dm_ppool_t  pool;          /* every page in any list, and only those */
    dm_plist_t  t1, t2, b1, b2;
    dm_plist_t  cold, pref;    /* hint only; empty for plain ARC */
} dm_policy_arc_t;

dm_status_t dm_arc_create(const dm_policy_params_t *params, const dm_policy_ops_t *ops,
                          int takes_advice, dm_policy_t **policy_p);
void dm_arc_destroy(dm_policy_t *policy);
dm_policy_verdict_t dm_arc_access(dm_policy_t *policy, uint64_t page, int is_write,
                                  uint64_t *victim_p);
dm_status_t dm_arc_remove(dm_policy_t *policy, uint64_t page);
dm_policy_where_t dm_arc_lookup(const dm_policy_t *policy, uint64_t page);
void dm_arc_info(const dm_policy_t *policy, dm_policy_info_t *info);

/* The list with number id. */
dm_plist_t *dm_arc_list(dm_policy_arc_t *arc, uint8_t id);

/* Moves node idx from its list to the MRU end of list id. */
void dm_arc_move(dm_policy_arc_t *arc, uint32_t idx, uint8_t id);

/*
 * Moves resident node idx, now on COLD or PREF, into ARC at the MRU end of
 * T1, first dropping ghosts as the directory bounds require (|T1|+|B1| <=
 * c, |T1|+|T2|+|B1|+|B2| <= 2c).
 */
void dm_arc_enter_t1(dm_policy_arc_t *arc, uint32_t idx);

#endif

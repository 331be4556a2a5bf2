/*
 * What every policy shares: checking parameters, the table of built-in
 * policies, and names for printing.
 */
#include "policy.h"

#include <string.h>

#include "status.h"

static const dm_policy_ops_t *const dm_policy_builtin[] = {
    &dm_policy_lru_ops,
    &dm_policy_clock_ops,
    &dm_policy_arc_ops,
    &dm_policy_hint_ops,
};

const dm_policy_ops_t *dm_policy_ops_find(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(dm_policy_builtin) / sizeof(dm_policy_builtin[0]); i++) {
        if (strcmp(dm_policy_builtin[i]->name, name) == 0) {
            return dm_policy_builtin[i];
        }
    }
    return NULL;
}

dm_status_t dm_policy_create(const dm_policy_ops_t *ops, const dm_policy_params_t *params,
                             dm_policy_t **policy_p)
{
    if (ops == NULL || params == NULL || policy_p == NULL) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "policy: NULL ops, params or result");
    }
    if (params->capacity == 0 || params->capacity > DM_POLICY_CAPACITY_MAX) {
        return dm_error_set(DM_ERR_INVALID_PARAM,
                            "policy %s: capacity %llu pages is outside 1 .. %llu", ops->name,
                            (unsigned long long)params->capacity,
                            (unsigned long long)DM_POLICY_CAPACITY_MAX);
    }
    if (params->field_mask & ~DM_POLICY_PARAM_CLEAN_WINDOW) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "policy %s: unknown field_mask bits 0x%llx",
                            ops->name,
                            (unsigned long long)(params->field_mask &
                                                 ~DM_POLICY_PARAM_CLEAN_WINDOW));
    }
    return ops->create(params, policy_p);
}

void dm_policy_destroy(dm_policy_t *policy)
{
    if (policy != NULL) {
        policy->ops->destroy(policy);
    }
}

dm_status_t dm_policy_advise(dm_policy_t *policy, uint64_t page, dm_advice_t advice)
{
    if ((unsigned)advice >= DM_ADVICE_COUNT) {
        return dm_error_set(DM_ERR_INVALID_PARAM, "policy %s: unknown advice %d",
                            policy->ops->name, (int)advice);
    }
    return policy->ops->advise(policy, page, advice);
}

void dm_policy_info(const dm_policy_t *policy, dm_policy_info_t *info)
{
    memset(info, 0, sizeof(*info));
    policy->ops->info(policy, info);
}

uint64_t dm_policy_resident(const dm_policy_t *policy)
{
    dm_policy_info_t info;

    dm_policy_info(policy, &info);
    return info.resident;
}

const char *dm_policy_name(const dm_policy_t *policy)
{
    return policy->ops->name;
}

const char *dm_advice_name(dm_advice_t advice)
{
    switch (advice) {
    case DM_ADVICE_NONE:           return "none";
    case DM_ADVICE_COLD:           return "cold";
    case DM_ADVICE_READ_MOSTLY:    return "read_mostly";
    case DM_ADVICE_PREFERRED_TIER: return "preferred_tier";
    case DM_ADVICE_ACCESSED_BY:    return "accessed_by";
    case DM_ADVICE_COUNT:          break;
    }
    return "unknown";
}

const char *dm_policy_where_name(dm_policy_where_t where)
{
    switch (where) {
    case DM_POLICY_ABSENT:    return "absent";
    case DM_POLICY_RESIDENT:  return "resident";
    case DM_POLICY_T1:        return "T1";
    case DM_POLICY_T2:        return "T2";
    case DM_POLICY_B1:        return "B1";
    case DM_POLICY_B2:        return "B2";
    case DM_POLICY_COLD:      return "cold";
    case DM_POLICY_PREFERRED: return "preferred";
    }
    return "unknown";
}

/*
 * Configuration loading. The table lives in config.h; this file only knows
 * how to parse and print each type.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "status.h"

#define DM_CONFIG_PREFIX "DISTMEM_"

typedef struct dm_config_entry {
    const char      *name;    /* without the DISTMEM_ prefix */
    dm_config_type_t type;
    const char      *def;
    const char      *choices; /* ENUM: "a|b|c"; INT: "lo..hi" or "" */
    const char      *help;
    size_t           offset;
} dm_config_entry_t;

static const dm_config_entry_t dm_config_entries[] = {
#define DM_CONFIG_ENTRY_(NAME, field, TYPE, def, choices, help) \
    { #NAME, DM_CONFIG_##TYPE, def, choices, help, offsetof(dm_config_t, field) },
    DM_CONFIG_TABLE(DM_CONFIG_ENTRY_)
#undef DM_CONFIG_ENTRY_
};

#define DM_CONFIG_NENTRIES (sizeof(dm_config_entries) / sizeof(dm_config_entries[0]))

static const char *dm_config_type_form(dm_config_type_t type)
{
    switch (type) {
    case DM_CONFIG_INT:      return "an integer";
    case DM_CONFIG_BOOL:     return "yes/no, true/false, on/off or 1/0";
    case DM_CONFIG_SIZE:     return "a size such as 4096, 64K, 2M or 1G";
    case DM_CONFIG_DURATION: return "a duration such as 500ms, 2s or 1m";
    case DM_CONFIG_ENUM:     return "one of the listed choices";
    case DM_CONFIG_STRING:   return "a string of at most 255 bytes";
    }
    return "?";
}

/* Parses an unsigned number with a suffix from a table of (suffix, factor). */
static int dm_config_parse_scaled(const char *text, const char *const *suffixes,
                                  const uint64_t *factors, size_t nsuffixes,
                                  uint64_t plain_factor, int allow_fraction, uint64_t *out)
/* allow_fraction == 0: the scaled value must be whole (sizes) */
{
    char *end;
    double v;
    size_t i, ndigits = strspn(text, "0123456789");

    /* digits, an optional fraction, then the suffix: no hex, exponents or signs */
    if (ndigits == 0) {
        return -1;
    }
    if (text[ndigits] == '.') {
        if (!isdigit((unsigned char)text[ndigits + 1])) {
            return -1;
        }
        ndigits += 1 + strspn(text + ndigits + 1, "0123456789");
    }
    if (text[ndigits] != '\0' && !isalpha((unsigned char)text[ndigits])) {
        return -1;
    }
    {
        char num[64];

        if (ndigits >= sizeof(num)) {
            return -1;
        }
        memcpy(num, text, ndigits);
        num[ndigits] = '\0';
        errno = 0;
        v = strtod(num, &end);
        if (errno != 0 || *end != '\0') {
            return -1;
        }
    }
    end = (char *)text + ndigits; /* the suffix */
    if (*end == '\0') {
        v *= (double)plain_factor;
    } else {
        for (i = 0; i < nsuffixes; i++) {
            if (strcasecmp(end, suffixes[i]) == 0) {
                v *= (double)factors[i];
                break;
            }
        }
        if (i == nsuffixes) {
            return -1;
        }
    }
    if (v >= 18446744073709551615.0) {
        return -1;
    }
    /* sizes are whole bytes: 1.5K is 1536, 1.5 is not a size */
    if (!allow_fraction && v != (double)(uint64_t)v) {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static int dm_config_enum_index(const char *choices, const char *text)
{
    const char *p = choices;
    size_t len = strlen(text);
    int idx = 0;

    while (*p != '\0') {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);

        if (n == len && strncasecmp(p, text, n) == 0) {
            return idx;
        }
        if (!bar) {
            break;
        }
        p = bar + 1;
        idx++;
    }
    return -1;
}

dm_status_t dm_config_parse_value(dm_config_type_t type, const char *choices,
                                  const char *text, void *out)
{
    static const char *const size_sfx[] = { "b", "k", "kb", "kib", "m", "mb", "mib",
                                            "g", "gb", "gib", "t", "tb", "tib" };
    static const uint64_t size_fac[] = { 1, 1ull << 10, 1ull << 10, 1ull << 10,
                                         1ull << 20, 1ull << 20, 1ull << 20,
                                         1ull << 30, 1ull << 30, 1ull << 30,
                                         1ull << 40, 1ull << 40, 1ull << 40 };
    static const char *const dur_sfx[] = { "ns", "us", "ms", "s", "m", "h" };
    static const uint64_t dur_fac[] = { 1, 1000, 1000000, 1000000000ull,
                                        60000000000ull, 3600000000000ull };
    char *end;
    long lv, lo, hi;
    int idx;

    switch (type) {
    case DM_CONFIG_INT:
        if (!(isdigit((unsigned char)text[0]) ||
              (text[0] == '-' && isdigit((unsigned char)text[1])))) {
            return DM_ERR_CONFIG;
        }
        errno = 0;
        lv = strtol(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0') {
            return DM_ERR_CONFIG;
        }
        if (choices != NULL && sscanf(choices, "%ld..%ld", &lo, &hi) == 2 &&
            (lv < lo || lv > hi)) {
            return DM_ERR_CONFIG;
        }
        *(long *)out = lv;
        return DM_OK;
    case DM_CONFIG_BOOL:
        if (!strcasecmp(text, "1") || !strcasecmp(text, "yes") || !strcasecmp(text, "true") ||
            !strcasecmp(text, "on") || !strcasecmp(text, "y")) {
            *(int *)out = 1;
        } else if (!strcasecmp(text, "0") || !strcasecmp(text, "no") ||
                   !strcasecmp(text, "false") || !strcasecmp(text, "off") ||
                   !strcasecmp(text, "n")) {
            *(int *)out = 0;
        } else {
            return DM_ERR_CONFIG;
        }
        return DM_OK;
    case DM_CONFIG_SIZE:
        return dm_config_parse_scaled(text, size_sfx, size_fac, 13, 1, 0, out) ? DM_ERR_CONFIG
                                                                                : DM_OK;
    case DM_CONFIG_DURATION:
        return dm_config_parse_scaled(text, dur_sfx, dur_fac, 6, 1000000000ull, 1, out)
                       ? DM_ERR_CONFIG
                       : DM_OK;
    case DM_CONFIG_ENUM:
        idx = dm_config_enum_index(choices, text);
        if (idx < 0) {
            return DM_ERR_CONFIG;
        }
        *(int *)out = idx;
        return DM_OK;
    case DM_CONFIG_STRING:
        if (strlen(text) >= DM_CONFIG_STRING_MAX) {
            return DM_ERR_CONFIG;
        }
        strcpy((char *)out, text);
        return DM_OK;
    }
    return DM_ERR_CONFIG;
}

static const char *dm_config_getenv(char *const *envp, const char *name)
{
    size_t plen = strlen(DM_CONFIG_PREFIX), nlen = strlen(name);

    for (; envp != NULL && *envp != NULL; envp++) {
        if (strncmp(*envp, DM_CONFIG_PREFIX, plen) == 0 &&
            strncmp(*envp + plen, name, nlen) == 0 && (*envp)[plen + nlen] == '=') {
            return *envp + plen + nlen + 1;
        }
    }
    return NULL;
}

void dm_config_defaults(dm_config_t *cfg)
{
    size_t i;
    dm_status_t st;

    memset(cfg, 0, sizeof(*cfg));
    for (i = 0; i < DM_CONFIG_NENTRIES; i++) {
        const dm_config_entry_t *e = &dm_config_entries[i];

        st = dm_config_parse_value(e->type, e->choices, e->def, (char *)cfg + e->offset);
        /* The defaults are part of the table; a bad one is a build bug. */
        (void)st;
    }
}

dm_status_t dm_config_load(dm_config_t *cfg, char *const *envp)
{
    dm_config_t tmp;
    size_t i, plen = strlen(DM_CONFIG_PREFIX);
    char *const *ev;

    dm_config_defaults(&tmp);

    /* Unknown DISTMEM_* names are errors: a typo must not be ignored. */
    for (ev = envp; ev != NULL && *ev != NULL; ev++) {
        const char *eq;
        int known = 0;

        if (strncmp(*ev, DM_CONFIG_PREFIX, plen) != 0) {
            continue;
        }
        eq = strchr(*ev, '=');
        if (eq == NULL) {
            continue;
        }
        for (i = 0; i < DM_CONFIG_NENTRIES; i++) {
            const char *n = dm_config_entries[i].name;

            if ((size_t)(eq - *ev) == plen + strlen(n) && !strncmp(*ev + plen, n, strlen(n))) {
                known = 1;
                break;
            }
        }
        if (!known) {
            return dm_error_set(DM_ERR_CONFIG,
                                "unknown configuration variable %.*s "
                                "(`distmem config` lists the valid ones)",
                                (int)(eq - *ev), *ev);
        }
    }

    for (i = 0; i < DM_CONFIG_NENTRIES; i++) {
        const dm_config_entry_t *e = &dm_config_entries[i];
        const char *val = dm_config_getenv(envp, e->name);

        if (val == NULL) {
            continue;
        }
        if (dm_config_parse_value(e->type, e->choices, val, (char *)&tmp + e->offset) != DM_OK) {
            return dm_error_set(DM_ERR_CONFIG, "DISTMEM_%s=\"%s\" is not valid: expected %s%s%s",
                                e->name, val, dm_config_type_form(e->type),
                                e->choices[0] ? " in " : "", e->choices);
        }
    }
    *cfg = tmp;
    return DM_OK;
}

static void dm_config_format(const dm_config_entry_t *e, const dm_config_t *cfg, char *buf,
                             size_t len)
{
    const void *p = (const char *)cfg + e->offset;
    uint64_t v;

    switch (e->type) {
    case DM_CONFIG_INT:
        snprintf(buf, len, "%ld", *(const long *)p);
        return;
    case DM_CONFIG_BOOL:
        snprintf(buf, len, "%s", *(const int *)p ? "yes" : "no");
        return;
    case DM_CONFIG_SIZE:
        snprintf(buf, len, "%" PRIu64, *(const uint64_t *)p);
        return;
    case DM_CONFIG_DURATION:
        v = *(const uint64_t *)p;
        if (v % 1000000000ull == 0) {
            snprintf(buf, len, "%" PRIu64 "s", v / (uint64_t)1000000000);
        } else if (v % 1000000ull == 0) {
            snprintf(buf, len, "%" PRIu64 "ms", v / (uint64_t)1000000);
        } else {
            snprintf(buf, len, "%" PRIu64 "ns", v);
        }
        return;
    case DM_CONFIG_ENUM: {
        int idx = *(const int *)p;
        const char *c = e->choices;

        while (idx-- > 0 && strchr(c, '|')) {
            c = strchr(c, '|') + 1;
        }
        snprintf(buf, len, "%.*s", (int)(strchr(c, '|') ? (size_t)(strchr(c, '|') - c) : strlen(c)), c);
        return;
    }
    case DM_CONFIG_STRING:
        snprintf(buf, len, "%s", (const char *)p);
        return;
    }
}

void dm_config_print(FILE *out, const dm_config_t *cfg)
{
    size_t i;
    char val[DM_CONFIG_STRING_MAX + 32];

    for (i = 0; i < DM_CONFIG_NENTRIES; i++) {
        const dm_config_entry_t *e = &dm_config_entries[i];

        dm_config_format(e, cfg, val, sizeof(val));
        fprintf(out, "DISTMEM_%s=%s\n", e->name, val);
        fprintf(out, "    %s\n", e->help);
        fprintf(out, "    type: %s%s%s; default: \"%s\"\n\n", dm_config_type_form(e->type),
                e->choices[0] ? " in " : "", e->choices, e->def);
    }
}

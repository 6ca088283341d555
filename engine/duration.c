/*
 * Durations (SPEC 3.4): "250ms", "30s", "5m", "1h", "1h30m", "1m30s500ms";
 * a bare integer is seconds.  Units go from larger to smaller, each at most
 * once; no signs, spaces or fractions.  Results are milliseconds.
 */
#include <stdio.h>
#include <string.h>

#include "expr.h"

typedef struct ls_unit {
    const char *name;
    int64_t ms;
} ls_unit;

/* Longest names first so "ms" is not read as "m". */
static const ls_unit ls_units[] = {
    {"h", 3600000},
    {"ms", 1},
    {"m", 60000},
    {"s", 1000},
};

static int ls_unit_rank(int64_t ms)
{
    return ms == 3600000 ? 4 : ms == 60000 ? 3 : ms == 1000 ? 2 : 1;
}

int ls_duration_parse(const char *s, size_t len, int64_t *ms)
{
    if (!s || len == 0)
        return -1;
    int64_t total = 0;
    size_t i = 0;
    int last_rank = 5;
    bool bare = true;
    while (i < len) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int64_t num = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (__builtin_mul_overflow(num, 10, &num) || __builtin_add_overflow(num, s[i] - '0', &num))
                return -1;
            i++;
        }
        if (i == len) {
            if (!bare)
                return -1; /* "1h30": a number with no unit after units */
            if (__builtin_mul_overflow(num, 1000, &total))
                return -1;
            *ms = total;
            return 0;
        }
        bare = false;
        const ls_unit *u = NULL;
        for (size_t k = 0; k < sizeof ls_units / sizeof ls_units[0]; k++) {
            size_t ul = strlen(ls_units[k].name);
            if (len - i >= ul && memcmp(s + i, ls_units[k].name, ul) == 0) {
                u = &ls_units[k];
                i += ul;
                break;
            }
        }
        if (!u)
            return -1;
        int rank = ls_unit_rank(u->ms);
        if (rank >= last_rank)
            return -1;
        last_rank = rank;
        int64_t part;
        if (__builtin_mul_overflow(num, u->ms, &part) || __builtin_add_overflow(total, part, &total))
            return -1;
    }
    *ms = total;
    return 0;
}

const char *ls_duration_format(int64_t ms, char *buf, size_t len)
{
    if (!buf || len == 0)
        return "";
    if (ms <= 0) {
        snprintf(buf, len, "0s");
        return buf;
    }
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, r = ms % 1000;
    size_t o = 0;
    buf[0] = '\0';
    if (h && o < len)
        o += (size_t)snprintf(buf + o, len - o, "%lldh", (long long)h);
    if (m && o < len)
        o += (size_t)snprintf(buf + o, len - o, "%lldm", (long long)m);
    if (s && o < len)
        o += (size_t)snprintf(buf + o, len - o, "%llds", (long long)s);
    if (r && o < len)
        snprintf(buf + o, len - o, "%lldms", (long long)r);
    return buf;
}

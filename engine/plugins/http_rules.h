/*
 * What the http family's table (engine/act_http.c) and its plugin
 * (plugins/http.c) share: the checks of `method` and `ok_status`, so that
 * the load-time check and the request agree.  Header-only (static), so
 * each side compiles its own copy and the plugin needs nothing of the
 * engine beyond <lockstep/plugin.h>.
 */
#ifndef LS_HTTP_RULES_H
#define LS_HTTP_RULES_H

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <lockstep/value.h>

static const char *const ls_http_methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", NULL};

/* Parses one ok_status item (200, "204", "200-299") into [lo, hi]. */
static inline bool ls_http_status_range(ls_value item, long *lo, long *hi)
{
    if (item.kind == LS_INT) {
        if (item.u.i < 100 || item.u.i > 599)
            return false;
        *lo = *hi = (long)item.u.i;
        return true;
    }
    if (item.kind != LS_STRING)
        return false;
    const char *s = ls_str_ptr(item);
    int a = 0, b = 0, n = 0;
    if (sscanf(s, "%3d-%3d%n", &a, &b, &n) == 2 && s[n] == '\0') {
        /* a range */
    } else if (sscanf(s, "%3d%n", &a, &n) == 1 && s[n] == '\0') {
        b = a;
    } else {
        return false;
    }
    if (a < 100 || b > 599 || a > b || !isdigit((unsigned char)s[0]))
        return false;
    *lo = a;
    *hi = b;
    return true;
}

/* Whether `status` is in `ok_status` (null: 200-299): 1 or 0; -1 when
 * ok_status is malformed, with the index of the bad item in *bad. */
static inline int ls_http_status_ok(ls_value ok_status, long status, size_t *bad)
{
    if (ls_is_null(ok_status))
        return status >= 200 && status <= 299;
    if (ok_status.kind != LS_LIST) {
        *bad = 0;
        return -1;
    }
    int hit = 0;
    for (size_t i = 0; i < ls_list_len(ok_status); i++) {
        long lo, hi;
        if (!ls_http_status_range(ls_list_at(ok_status, i), &lo, &hi)) {
            *bad = i;
            return -1;
        }
        if (status >= lo && status <= hi)
            hit = 1;
    }
    return hit;
}

/* Is `m` (upper case) a method http.request sends? */
static inline bool ls_http_method_known(const char *m)
{
    for (size_t i = 0; ls_http_methods[i]; i++)
        if (strcmp(ls_http_methods[i], m) == 0)
            return true;
    return false;
}

#endif

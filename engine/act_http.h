/*
 * What the http family's table (act_http.c) and its plugin (plugins/http.c)
 * share: the checks of `method` and `ok_status`, so that the load-time
 * check and the request agree.
 */
#ifndef LS_ACT_HTTP_H
#define LS_ACT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <lockstep/value.h>

/* Is `m` (upper case) a method http.request sends? */
bool ls_http_method_known(const char *m);

/* Whether `status` is in `ok_status` (null: 200-299): 1 or 0; -1 when
 * ok_status is malformed, with the index of the bad item in *bad. */
int ls_http_status_ok(ls_value ok_status, long status, size_t *bad);

#endif

/*
 * The http action family's row in the action table (SPEC 6): inputs,
 * results, load-time checks and `mutates`.  The request itself is made by
 * the http plugin (plugins/http.c, built as lockstep-http.so with libcurl;
 * the row is bound to its lockstep_action_http_request, <lockstep/plugin.h>),
 * which the engine loads only when a run uses it: a playbook without http
 * actions never pays for loading libcurl and what it links.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "plugins/http_rules.h"
#include "registry.h"

static bool request_mutates(ls_value inputs)
{
    ls_value m = ls_map_get(inputs, "method");
    if (m.kind != LS_STRING)
        return false;
    return strcasecmp(ls_str_ptr(m), "GET") != 0 && strcasecmp(ls_str_ptr(m), "HEAD") != 0;
}

/* Load-time checks of constant inputs: method, ok_status, url/path. */
static int prep_request(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    int rc = 0;
    *prep = NULL;
    const ls_tmpl *t = ls_tmpl_map_get(with, "method");
    if (t != NULL && ls_tmpl_is_constant(t)) {
        ls_value v = ls_tmpl_constant(t);
        char up[16] = "";
        size_t n = ls_str_len(v);
        for (size_t i = 0; v.kind == LS_STRING && i < n && i + 1 < sizeof up; i++)
            up[i] = (char)toupper((unsigned char)ls_str_ptr(v)[i]);
        if (v.kind == LS_STRING && (n >= sizeof up || !ls_http_method_known(up))) {
            ls_loc at = ls_tmpl_loc(t);
            ls_diag_error(d, at.line ? at : loc,
                          "http.request: unknown method '%s' (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)",
                          ls_str_ptr(v));
            rc = -1;
        }
    }
    t = ls_tmpl_map_get(with, "ok_status");
    if (t != NULL && ls_tmpl_is_constant(t)) {
        ls_value v = ls_tmpl_constant(t);
        size_t bad = 0;
        if (v.kind == LS_LIST && ls_http_status_ok(v, 200, &bad) < 0) {
            ls_loc at = ls_tmpl_loc(t);
            ls_diag_error(d, at.line ? at : loc,
                          "http.request: ok_status[%zu] is not a status (100-599) or a range like \"200-299\"", bad);
            rc = -1;
        }
    }
    const ls_tmpl *url = ls_tmpl_map_get(with, "url"), *path = ls_tmpl_map_get(with, "path");
    const ls_tmpl *base = ls_tmpl_map_get(with, "base_url");
    if (url != NULL && path != NULL) {
        ls_loc at = ls_tmpl_loc(path);
        ls_diag_error(d, at.line ? at : loc, "http.request: give url, or base_url and path, not url and path");
        rc = -1;
    } else if (url == NULL && base == NULL) {
        ls_diag_error(d, loc, "http.request: no url: set url, or base_url (e.g. defaults.with.http.base_url) and path");
        rc = -1;
    }
    const ls_tmpl *b = ls_tmpl_map_get(with, "body"), *j = ls_tmpl_map_get(with, "json");
    if (b != NULL && j != NULL) {
        ls_loc at = ls_tmpl_loc(j);
        ls_diag_error(d, at.line ? at : loc, "http.request: give body or json, not both");
        rc = -1;
    }
    return rc;
}

static const ls_input request_inputs[] = {
    {"url", "string", false, NULL, "full URL (instead of base_url + path)"},
    {"path", "string", false, NULL, "path joined to base_url with one slash, e.g. /api/diagnostics/auditfallback"},
    {"method", "string", false, "\"GET\"", "GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"},
    {"body", "string", false, NULL, "request body, sent as it is"},
    {"json", "any", false, NULL, "a value sent as a JSON body (Content-Type: application/json unless headers set one)"},
    {"ok_status", "list", false, "[\"200-299\"]", "statuses that count as success: codes (204) or ranges (\"200-299\")"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_field request_results[] = {
    {"status", "int", "HTTP status of the last response (0 when none came)"},
    {"headers", "map", "response headers, names in lower case (repeats joined by \", \")"},
    {"body", "string", "response body, at most 1 MiB"},
    {"json", "any", "the body parsed as JSON when it is JSON, else null"},
    {"duration_ms", "int", "time of the whole exchange, redirects included"},
    {"truncated", "bool", "true when the body was cut at 1 MiB (json is then null)"},
    {NULL, NULL, NULL},
};

const ls_action ls_actions_http[] = {
    {"http.request", "http", "send an HTTP request (probe or call an API): TLS verified, at most 5 redirects followed, the state's timeout bounds the whole exchange", request_inputs, request_results,
     "no response (connection, TLS, timeout), or a status not in ok_status", false, false, request_mutates,
     prep_request, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, false, false, NULL, NULL, NULL, NULL, NULL},
};

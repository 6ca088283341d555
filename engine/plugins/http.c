/*
 * The http plugin (lockstep-http.so): http.request (SPEC 6) with libcurl.
 * Its table row (inputs, checks) is in act_http.c; the engine loads this
 * file's library on first use.  It sees the engine only through
 * <lockstep/plugin.h>; http_rules.h is the family's own shared code.
 *
 * The URL is `url`, or `base_url` joined to `path` with exactly one slash.
 * TLS is verified unless `insecure`; `ca_file` adds trust.  The transfer is
 * bounded by the time left before the call's deadline (curl's
 * CURLOPT_TIMEOUT_MS: a hung server is LS_ACT_TIMED_OUT on time) and polls
 * the cancel flag from its progress callback.  Redirects are followed, at
 * most HTTP_MAX_REDIRECTS, http and https only.  The body kept is capped at
 * HTTP_BODY_MAX (`truncated` says so; the transfer stops there) and parsed
 * into `json` when it is JSON (by Content-Type, or because it parses).
 *
 * Everything shown (URL, header values, error text, a body excerpt) goes
 * through the engine's redaction: secrets and URI passwords read ***.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include <lockstep/plugin.h>

#include "http_rules.h"

#define HTTP_BODY_MAX (1024 * 1024)
#define HTTP_HEADERS_MAX (64 * 1024)
#define HTTP_MAX_REDIRECTS 5L
#define HTTP_EXCERPT 200

static bool http_ready;

/* ---- request pieces ------------------------------------------------------ */

/* url, or base_url + "/" + path with one slash between; malloc'd. */
static char *build_url(ls_value in, char *why, size_t whylen)
{
    ls_value url = ls_map_get(in, "url"), base = ls_map_get(in, "base_url"), path = ls_map_get(in, "path");
    if (url.kind == LS_STRING && ls_str_len(url) > 0) {
        if (path.kind == LS_STRING && ls_str_len(path) > 0) {
            snprintf(why, whylen, "give url, or base_url and path, not url and path");
            return NULL;
        }
        return strdup(ls_str_ptr(url));
    }
    if (base.kind != LS_STRING || ls_str_len(base) == 0) {
        snprintf(why, whylen, "no url: set url, or base_url (e.g. defaults.with.http.base_url) and path");
        return NULL;
    }
    const char *b = ls_str_ptr(base), *p = path.kind == LS_STRING ? ls_str_ptr(path) : "";
    size_t bl = strlen(b);
    while (bl > 0 && b[bl - 1] == '/')
        bl--;
    while (*p == '/')
        p++;
    char *u = NULL;
    bool slash = *p != '\0' || (path.kind == LS_STRING && ls_str_len(path) > 0);
    if (asprintf(&u, "%.*s%s%s", (int)bl, b, slash ? "/" : "", p) < 0)
        return NULL;
    return u;
}

static bool header_name_ok(const char *k)
{
    if (*k == '\0')
        return false;
    for (const char *c = k; *c; c++)
        if (!(isalnum((unsigned char)*c) || strchr("!#$%&'*+-.^_`|~", *c) != NULL))
            return false;
    return true;
}

/* Adds the `headers` map to *list; false with why. */
static bool add_headers(ls_value headers, struct curl_slist **list, bool *has_ctype, char *why, size_t whylen)
{
    if (ls_is_null(headers))
        return true;
    if (headers.kind != LS_MAP) {
        snprintf(why, whylen, "headers must be a map, not %s", ls_kind_name((ls_kind)headers.kind));
        return false;
    }
    for (size_t i = 0; i < ls_map_len(headers); i++) {
        const char *k = ls_map_key_at(headers, i);
        ls_value v = ls_map_value_at(headers, i);
        if (!header_name_ok(k)) {
            snprintf(why, whylen, "header name '%s' is not a valid HTTP token", k);
            return false;
        }
        char *text = v.kind == LS_STRING ? strdup(ls_str_ptr(v)) : ls_value_to_text(v, NULL);
        if (text == NULL)
            return false;
        if (strpbrk(text, "\r\n") != NULL) {
            snprintf(why, whylen, "header '%s' holds a line break", k);
            free(text);
            return false;
        }
        if (strcasecmp(k, "content-type") == 0)
            *has_ctype = true;
        char *line = NULL;
        /* "Name;" sends an empty value; "Name:" would remove the header. */
        int ln = text[0] == '\0' ? asprintf(&line, "%s;", k) : asprintf(&line, "%s: %s", k, text);
        free(text);
        struct curl_slist *n = ln < 0 ? NULL : curl_slist_append(*list, line);
        if (ln >= 0)
            free(line);
        if (n == NULL)
            return false;
        *list = n;
    }
    return true;
}

/* ---- transfer callbacks ----------------------------------------------------- */

/* The body kept: at most HTTP_BODY_MAX bytes, NUL-terminated. */
typedef struct body_buf {
    char *ptr;
    size_t len, cap;
} body_buf;

/* Appends what fits under the cap; false when some did not fit. */
static bool body_add(body_buf *b, const char *p, size_t n)
{
    size_t room = HTTP_BODY_MAX - b->len, take = n < room ? n : room;
    if (b->len + take + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16 * 1024;
        while (cap < b->len + take + 1)
            cap *= 2;
        char *g = realloc(b->ptr, cap);
        if (g == NULL)
            return false;
        b->ptr = g;
        b->cap = cap;
    }
    memcpy(b->ptr + b->len, p, take);
    b->len += take;
    b->ptr[b->len] = '\0';
    return take == n;
}

typedef struct http_xfer {
    body_buf body;
    ls_value headers; /* map: lower-case name -> value (repeats joined by ", ") */
    size_t header_bytes;
    bool truncated;
    const ls_call *call; /* for its cancel flag */
} http_xfer;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_xfer *x = ud;
    size_t n = size * nmemb;
    if (!body_add(&x->body, ptr, n)) {
        x->truncated = true;
        return 0; /* stop: we keep no more than the cap */
    }
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_xfer *x = ud;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) { /* a new response (redirect, 100): start over */
        ls_value_free(x->headers);
        x->headers = ls_map_new();
        x->header_bytes = 0;
        return n;
    }
    x->header_bytes += n;
    if (x->header_bytes > HTTP_HEADERS_MAX)
        return n; /* keep the first 64 KiB of headers */
    const char *colon = memchr(ptr, ':', n);
    if (colon == NULL)
        return n;
    size_t klen = (size_t)(colon - ptr);
    char key[256];
    if (klen == 0 || klen >= sizeof key)
        return n;
    for (size_t i = 0; i < klen; i++)
        key[i] = (char)tolower((unsigned char)ptr[i]);
    key[klen] = '\0';
    const char *v = colon + 1, *end = ptr + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    ls_value prev = ls_map_get(x->headers, key);
    if (prev.kind == LS_STRING)
        ls_map_set(&x->headers, key, ls_string_fmt("%s, %.*s", ls_str_ptr(prev), (int)(end - v), v));
    else
        ls_map_set(&x->headers, key, ls_string_n(v, (size_t)(end - v)));
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    http_xfer *x = ud;
    return ls_call_cancelled(x->call);
}

/* ---- the action ------------------------------------------------------------- */

static bool looks_json(ls_value headers, const char *body, size_t len)
{
    ls_value ct = ls_map_get(headers, "content-type");
    if (ct.kind == LS_STRING && strstr(ls_str_ptr(ct), "json") != NULL)
        return true;
    while (len > 0 && isspace((unsigned char)*body)) {
        body++;
        len--;
    }
    return len > 0 && (*body == '{' || *body == '[');
}

/* "METHOD URL" redacted, for messages; malloc'd. */
static char *shown_target(const char *method, const char *url)
{
    char *ru = ls_plugin_redact(url, strlen(url)), *out = NULL;
    if (asprintf(&out, "%s %s", method, ru ? ru : "***") < 0)
        out = NULL;
    free(ru);
    return out;
}

static void http_error(ls_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void http_error(ls_error *err, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ls_plugin_error(err, "http.request: %s", msg); /* redacted there */
}

LS_PLUGIN("http");

LS_PLUGIN_ACTION(http_request)
{
    ls_value in = ls_call_inputs(call);
    char why[512];
    *result = ls_map_new();
    ls_map_set(result, "status", ls_int(0));

    ls_value mv = ls_map_get(in, "method");
    char method[16] = "GET";
    if (mv.kind == LS_STRING) {
        size_t ml = ls_str_len(mv);
        if (ml == 0 || ml >= sizeof method) {
            http_error(err, "unknown method '%s'", ls_str_ptr(mv));
            return LS_ACT_FAILED;
        }
        for (size_t i = 0; i <= ml; i++)
            method[i] = (char)toupper((unsigned char)ls_str_ptr(mv)[i]);
        if (!ls_http_method_known(method)) {
            http_error(err, "unknown method '%s' (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)", ls_str_ptr(mv));
            return LS_ACT_FAILED;
        }
    }
    char *url = build_url(in, why, sizeof why);
    if (url == NULL) {
        http_error(err, "%s", why);
        return LS_ACT_FAILED;
    }
    char *target = shown_target(method, url);
    ls_value ok_status = ls_map_get(in, "ok_status");
    size_t bad = 0;
    if (ls_http_status_ok(ok_status, 200, &bad) < 0) {
        http_error(err, "%s: ok_status[%zu] is not a status or a range like \"200-299\"", target, bad);
        free(url);
        free(target);
        return LS_ACT_FAILED;
    }

    if (!http_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        http_ready = true;
    }
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char *json_body = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    http_xfer x;
    memset(&x.body, 0, sizeof x.body);
    x.headers = ls_map_new();
    x.header_bytes = 0;
    x.truncated = false;
    x.call = call;
    ls_act_status st = LS_ACT_FAILED;
    bool has_ctype = false;
    if (h == NULL) {
        http_error(err, "%s: cannot start libcurl", target);
        goto out;
    }
    if (!add_headers(ls_map_get(in, "headers"), &hdrs, &has_ctype, why, sizeof why)) {
        http_error(err, "%s: %s", target, why);
        goto out;
    }
    ls_value body = ls_map_get(in, "body"), json = ls_map_get(in, "json");
    if (!ls_is_null(body) && ls_map_has(in, "json") && !ls_is_null(json)) {
        http_error(err, "%s: give body or json, not both", target);
        goto out;
    }
    if (!ls_is_null(json)) {
        size_t jl = 0;
        json_body = ls_value_to_json(json, &jl);
        if (json_body == NULL) {
            http_error(err, "%s: cannot encode json", target);
            goto out;
        }
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)jl);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
        if (!has_ctype)
            hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    } else if (!ls_is_null(body)) {
        if (body.kind != LS_STRING) {
            json_body = ls_value_to_text(body, NULL);
        } else {
            json_body = strdup(ls_str_ptr(body));
        }
        if (json_body == NULL)
            goto out;
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(body.kind == LS_STRING ? ls_str_len(body) : strlen(json_body)));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, HTTP_MAX_REDIRECTS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "lockstep/1");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0 || json_body != NULL)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    ls_value insecure = ls_map_get(in, "insecure");
    if (insecure.kind == LS_BOOL && insecure.u.b) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    ls_value ca = ls_map_get(in, "ca_file");
    if (ca.kind == LS_STRING && ls_str_len(ca) > 0)
        curl_easy_setopt(h, CURLOPT_CAINFO, ls_str_ptr(ca));
    if (ls_call_deadline_ms(call) > 0) {
        int64_t left = ls_call_remaining_ms(call);
        if (left <= 0) {
            http_error(err, "%s: timed out before it started", target);
            st = LS_ACT_TIMED_OUT;
            goto out;
        }
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
    }
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 30000L);

    int64_t t0 = ls_now_ms();
    CURLcode rc = curl_easy_perform(h);
    int64_t dt = ls_now_ms() - t0;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    ls_map_set(result, "status", ls_int(status));
    ls_map_set(result, "duration_ms", ls_int(dt));
    if (rc == CURLE_WRITE_ERROR && x.truncated)
        rc = CURLE_OK; /* we stopped reading at the cap */
    if (rc != CURLE_OK) {
        const char *what = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        if (rc == CURLE_ABORTED_BY_CALLBACK && ls_call_cancelled(call)) {
            http_error(err, "%s: cancelled", target);
            st = LS_ACT_CANCELLED;
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            http_error(err, "%s: timed out after %lld ms (%s)", target, (long long)dt, what);
            st = LS_ACT_TIMED_OUT;
        } else {
            http_error(err, "%s: %s", target, what);
            st = LS_ACT_FAILED;
        }
        goto out;
    }
    ls_map_set(result, "headers", ls_value_copy(x.headers));
    ls_map_set(result, "body", ls_string_n((x.body.ptr ? x.body.ptr : ""), x.body.len));
    ls_value parsed = ls_null();
    if (!x.truncated && x.body.len > 0 && looks_json(x.headers, (x.body.ptr ? x.body.ptr : ""), x.body.len)) {
        char jerr[128];
        if (!ls_value_from_json((x.body.ptr ? x.body.ptr : ""), x.body.len, &parsed, jerr, sizeof jerr))
            parsed = ls_null();
    }
    ls_map_set(result, "json", parsed);
    ls_map_set(result, "truncated", ls_bool(x.truncated));
    if (ls_http_status_ok(ok_status, status, &bad) != 1) {
        /* A one-line excerpt of the body: servers often say why there. */
        char excerpt[HTTP_EXCERPT + 1];
        size_t n = 0;
        bool space = false;
        for (size_t i = 0; i < x.body.len && n < HTTP_EXCERPT; i++) {
            unsigned char c = (unsigned char)x.body.ptr[i];
            if (c < 0x20 || c == 0x7f || c == ' ') {
                if (!space && n > 0)
                    excerpt[n++] = ' ';
                space = true;
            } else {
                excerpt[n++] = (char)c;
                space = false;
            }
        }
        excerpt[n] = '\0';
        http_error(err, "%s: status %ld is not in ok_status%s%s%s", target, status, n ? " (body: " : "", excerpt,
                   n ? (x.body.len > HTTP_EXCERPT ? "...)" : ")") : "");
        st = LS_ACT_FAILED;
        goto out;
    }
    st = LS_ACT_OK;
out:
    if (!ls_map_has(*result, "headers"))
        ls_map_set(result, "headers", ls_map_new());
    if (!ls_map_has(*result, "body"))
        ls_map_set(result, "body", ls_string(""));
    if (!ls_map_has(*result, "json"))
        ls_map_set(result, "json", ls_null());
    if (!ls_map_has(*result, "truncated"))
        ls_map_set(result, "truncated", ls_bool(false));
    if (!ls_map_has(*result, "duration_ms"))
        ls_map_set(result, "duration_ms", ls_int(0));
    if (h != NULL)
        curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(json_body);
    free(x.body.ptr);
    ls_value_free(x.headers);
    free(url);
    free(target);
    return st;
}

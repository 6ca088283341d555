/*
 * Scanning text for lines that match PCRE2 patterns: `log.scan` over a
 * string, and the `scan` input of exec, kubectl.logs and docker.compose
 * over a program's whole output as it streams (issue 14).
 *
 * A line matches when any pattern matches it; it counts once, listed with
 * the first pattern that matched.  Lines end at '\n' (a '\r' before it is
 * not part of the line); the last line needs no '\n'.  Patterns are
 * JIT-compiled when PCRE2 can (the interpreter otherwise), once a scan has
 * seen 64 KiB: on short texts compiling would cost more than it saves.
 *
 * Memory is bounded whatever the input: a line longer than
 * LS_SCAN_LINE_MAX (64 KiB) is matched in windows of that size that
 * overlap by LS_SCAN_OVERLAP (4 KiB) -- `^` matches only in the first
 * window and `$` only in the last -- so a match longer than the overlap
 * that straddles two windows can be missed; the listed `line` is then the
 * window that matched.  At most `max_matches` lines are listed; `count`
 * counts them all.
 */
#ifndef LS_SCAN_H
#define LS_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lockstep/value.h>

#include "diag.h"
#include "expr.h"

#define LS_SCAN_LINE_MAX (64u * 1024)
#define LS_SCAN_OVERLAP (4u * 1024)
#define LS_SCAN_MAX_PATTERNS 256
#define LS_SCAN_DEFAULT_MAX 100

/* The rules above as the action table words them (docs/actions.md). */
#define LS_SCAN_RULES                                                                                              \
    "; a line counts once, listed with the first pattern that matches it; a \\r before \\n is not part of the "  \
    "line; a line over 64 KiB is matched in 64 KiB windows overlapping by 4 KiB (^ matches only in the first, $ "  \
    "only in the last; a match longer than 4 KiB across two windows can be missed)"

typedef struct ls_scan ls_scan;       /* compiled patterns, read-only once made */
typedef struct ls_scanner ls_scanner; /* one scan in progress */

/* Compiles `patterns` (a list of regex strings, 1..256).  NULL with msg
 * ("patterns[2]: bad regex /(/ at offset 1: ...") on error. */
ls_scan *ls_scan_compile(ls_value patterns, char *msg, size_t msglen);
void ls_scan_free(void *scan); /* an ls_scan; void * to serve as a prep_free hook */

/* Load-time hook for an action input holding patterns (`who`: the action,
 * `input`: "scan" or "patterns"): constant patterns are compiled once, a
 * bad one is an error at its place; *prep is NULL when the input is absent
 * or computed at run time. */
int ls_scan_prepare(const char *who, const char *input, const ls_tmpl *with, ls_diags *d, void **prep);
/* At run time: the prepared scan, else the input's patterns compiled now
 * (*own is then set, to free).  NULL and no error when the input is
 * absent; NULL with err when malformed. */
const ls_scan *ls_scan_for_call(const char *who, const char *input, ls_value inputs, void *prep, ls_scan **own,
                                ls_error *err);
/* The `max_matches` input (default 100, negative: 0). */
int64_t ls_scan_max_matches(ls_value inputs);

/* `streams`: list matches with {stream: stdout|stderr}. */
ls_scanner *ls_scanner_new(const ls_scan *scan, int64_t max_matches, bool streams);
/* Bytes of stream 1 (stdout) or 2 (stderr), in any pieces. */
void ls_scanner_feed(ls_scanner *sc, int stream, const char *data, size_t len);
/* The same shape as proc.h's sink. */
void ls_scanner_sink(void *sc, int stream, const char *data, size_t len);
/* A whole text at once (log.scan): lines found with memchr, not copied. */
void ls_scanner_text(ls_scanner *sc, const char *text, size_t len);
/* Ends each stream's last line, then sets matched, count and matches in
 * *result (a map). */
void ls_scanner_finish(ls_scanner *sc, ls_value *result);
void ls_scanner_free(ls_scanner *sc);

#endif

/*
 * Diagnostics (diag.h): collected in one pass, printed sorted by place with
 * the source line and a caret, and the runtime error object.  Every message
 * passes through the secret redactor on its way out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "diag.h"
#include "secret.h"
#include "work.h"

void ls_diags_init(ls_diags *d)
{
    memset(d, 0, sizeof *d);
}

void ls_diags_free(ls_diags *d)
{
    ls_arena_free(d->msgs);
    for (size_t i = 0; i < d->nsources; i++) {
        free(d->sources[i].name);
        free(d->sources[i].own);
        free(d->sources[i].lines);
        free(d->sources[i].masks);
    }
    free(d->items);
    free(d->sources);
    memset(d, 0, sizeof *d);
}

static char *ls_memdup(const char *s, size_t n)
{
    char *p = ls_oom_check(malloc(n + 1));
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static const char *ls_diags_register(ls_diags *d, const char *name, const char *text, size_t len, bool lend)
{
    for (size_t i = 0; i < d->nsources; i++) {
        ls_source *s = &d->sources[i];
        if (strcmp(s->name, name) == 0) {
            if (text && !s->text && !s->hidden) {
                s->own = lend ? NULL : ls_memdup(text, len);
                s->text = lend ? text : s->own;
                s->len = len;
            }
            return s->name;
        }
    }
    if (d->nsources == d->capsources) {
        size_t ncap = d->capsources ? d->capsources * 2 : 4;
        ls_source *ns = ls_oom_check(realloc(d->sources, ncap * sizeof *ns));
        d->sources = ns;
        d->capsources = ncap;
    }
    ls_source *s = &d->sources[d->nsources];
    memset(s, 0, sizeof *s);
    s->name = ls_memdup(name, strlen(name));
    if (text) {
        s->own = lend ? NULL : ls_memdup(text, len);
        s->text = lend ? text : s->own;
        s->len = len;
    }
    d->nsources++;
    return s->name;
}

const char *ls_diags_source(ls_diags *d, const char *name, const char *text, size_t len)
{
    return ls_diags_register(d, name, text, len, false);
}

const char *ls_diags_source_lend(ls_diags *d, const char *name, const char *text, size_t len)
{
    return ls_diags_register(d, name, text, len, true);
}

static ls_source *ls_diags_find(const ls_diags *d, const char *file)
{
    for (size_t i = 0; i < d->nsources; i++)
        if (d->sources[i].name == file || strcmp(d->sources[i].name, file) == 0)
            return &d->sources[i];
    return NULL;
}

/* A lent text becomes a copy of our own. */
static void ls_source_own(ls_source *s)
{
    if (s && s->text && !s->own)
        s->text = s->own = ls_memdup(s->text, s->len);
}

void ls_diags_source_keep(ls_diags *d, const char *file)
{
    ls_source_own(file ? ls_diags_find(d, file) : NULL);
}

void ls_diags_mask(ls_diags *d, ls_loc from, ls_loc to)
{
    ls_source *s = from.file ? ls_diags_find(d, from.file) : NULL;
    if (!s || from.line == 0)
        return;
    if (s->nmasks == s->capmasks) {
        size_t ncap = s->capmasks ? s->capmasks * 2 : 4;
        ls_span *nm = realloc(s->masks, ncap * sizeof *nm);
        if (!nm) {
            ls_diags_hide(d, from.file); /* cannot mask it: show none of the file */
            return;
        }
        s->masks = nm;
        s->capmasks = ncap;
    }
    ls_span sp = {from.line, from.col, to.line, to.col};
    if (to.line < from.line || (to.line == from.line && to.col <= from.col)) {
        sp.to_line = from.line; /* no end known: to the end of the line */
        sp.to_col = UINT32_MAX;
    }
    s->masks[s->nmasks++] = sp;
}

void ls_diags_hide(ls_diags *d, const char *file)
{
    ls_source *s = file ? ls_diags_find(d, file) : NULL;
    if (!s)
        return;
    s->hidden = true;
    free(s->own);
    s->own = NULL;
    free(s->lines);
    s->text = NULL;
    s->lines = NULL;
    s->len = s->nlines = 0;
}

void ls_diag_add(ls_diags *d, ls_sev sev, ls_loc loc, const char *fmt, ...)
{
    if (d->len == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 8;
        /* a dropped error could pass a bad playbook: no silent loss */
        ls_diag *ni = ls_oom_check(realloc(d->items, ncap * sizeof *ni));
        d->items = ni;
        d->cap = ncap;
    }
    /* Messages live in the diagnostics' arena until ls_diags_free: 10,000
     * warnings are not 10,000 mallocs and frees. */
    if (!d->msgs)
        d->msgs = ls_arena_new();
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    char *msg;
    if (n >= 0 && (size_t)n < sizeof small) {
        msg = ls_arena_alloc(d->msgs, (size_t)n + 1);
        memcpy(msg, small, (size_t)n + 1);
    } else {
        ls_buf b;
        ls_buf_init(&b, 64 * 1024); /* a longer message is clipped there */
        ls_buf_vprintf(&b, fmt, ap);
        msg = ls_arena_strdup(d->msgs, ls_buf_str(&b));
        ls_buf_free(&b);
    }
    va_end(ap);
    if (loc.file)
        ls_source_own(ls_diags_find(d, loc.file)); /* its excerpt may be shown after the lender is gone */
    ls_diag *g = &d->items[d->len];
    g->sev = sev;
    g->loc = loc;
    g->msg = msg;
    g->order = d->len;
    d->len++;
    if (sev == LS_SEV_ERROR)
        d->errors++;
    else
        d->warnings++;
}

static int ls_diag_cmp(const void *pa, const void *pb)
{
    const ls_diag *a = pa, *b = pb;
    const char *fa = a->loc.file ? a->loc.file : "";
    const char *fb = b->loc.file ? b->loc.file : "";
    int c = strcmp(fa, fb);
    if (c)
        return c;
    if (a->loc.line != b->loc.line)
        return a->loc.line < b->loc.line ? -1 : 1;
    if (a->loc.col != b->loc.col)
        return a->loc.col < b->loc.col ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order ? 1 : 0;
}

/* Appends text with control characters (C0 but tab, DEL, C1) as '?':
 * one pass, runs of plain bytes copied at once. */
static void ls_put_clean(ls_buf *out, const char *r, size_t rn)
{
    size_t i = 0, run = 0;
    while (i < rn) {
        /* Eight printable ASCII bytes at a time: none below 0x20, none
         * with the high bit, none 0x7F (the usual has-zero-byte tests). */
        while (rn - i >= 8) {
            uint64_t x;
            memcpy(&x, r + i, 8);
            const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
            uint64_t del = x ^ (0x7Fu * ones); /* a zero byte where x has 0x7F */
            uint64_t below = (x - 0x20u * ones) & ~x; /* high bit set where a byte < 0x20 */
            uint64_t is_del = (del - ones) & ~del;
            if ((below | x | is_del) & highs)
                break;
            i += 8;
        }
        if (i >= rn)
            break;
        unsigned char c = (unsigned char)r[i];
        if (c >= 0x20 && c < 0x7F) { /* nearly every byte */
            i++;
            continue;
        }
        bool c1 = c == 0xC2 && i + 1 < rn && (unsigned char)r[i + 1] >= 0x80 && (unsigned char)r[i + 1] <= 0x9F;
        if (c1 || (c < 0x20 && c != '\t') || c == 0x7F) {
            ls_buf_add(out, r + run, i - run);
            ls_buf_addc(out, '?');
            i += c1 ? 2 : 1; /* a C1 character's continuation byte goes with it */
            run = i;
        } else {
            i++;
        }
    }
    ls_buf_add(out, r + run, rn - run);
}

/* Writes diagnostic text: secrets redacted, and control characters as
 * '?', since messages quote keys and values from the file and must not
 * reach the terminal as escape sequences.  With no secret held and no
 * URI in the text there is nothing to redact: no copy is made. */
static bool ls_has_url(const char *s, size_t n)
{
    /* memmem's setup costs more than these short texts: walk the colons. */
    for (const char *p = s, *end = s + n; (p = memchr(p, ':', (size_t)(end - p))) != NULL; p++)
        if (end - p >= 3 && p[1] == '/' && p[2] == '/')
            return true;
    return false;
}

static void ls_put_redacted(ls_buf *out, const char *s, size_t n)
{
    if (ls_secret_count() == 0 && !ls_has_url(s, n)) {
        ls_put_clean(out, s, n);
        return;
    }
    size_t rn = 0;
    char *r = ls_redact(s, n, &rn);
    if (!r)
        return;
    ls_put_clean(out, r, rn);
    free(r);
}

/* Whether s[0..n) is well-formed UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF). */
static bool ls_utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        unsigned c = *p;
        size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 4;
        if (k == 4 || (size_t)(e - p) < k + 1)
            return false;
        uint32_t cp = k == 0 ? c : c & (0x3Fu >> k);
        for (size_t i = 1; i <= k; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3Fu);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += k + 1;
    }
    return true;
}

/* Builds the source's line table: one scan of the text for all its
 * excerpts, however many. */
static bool ls_source_lines(ls_source *src)
{
    if (src->lines)
        return true;
    size_t n = 1;
    for (const char *p = src->text, *end = src->text + src->len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        n++;
    LS_WORK(src->len);
    src->lines = malloc(n * sizeof *src->lines);
    if (!src->lines)
        return false;
    src->lines[0] = 0;
    size_t k = 1;
    for (const char *p = src->text, *end = src->text + src->len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        src->lines[k++] = (size_t)(p - src->text) + 1;
    src->nlines = n;
    return true;
}

/* Whether the character at line:col is inside a masked span.  A source
 * has few spans (one per secret value in it): a plain scan. */
static bool ls_masked(const ls_source *src, uint32_t line, uint32_t col)
{
    for (size_t i = 0; i < src->nmasks; i++) {
        const ls_span *m = &src->masks[i];
        bool after_from = line > m->from_line || (line == m->from_line && col >= m->from_col);
        bool before_to = line < m->to_line || (line == m->to_line && col < m->to_col);
        if (after_from && before_to)
            return true;
    }
    return false;
}

static void ls_put_spaces(ls_buf *out, size_t n)
{
    static const char spaces[] = "                                                                ";
    for (; n > sizeof spaces - 1; n -= sizeof spaces - 1)
        ls_buf_add(out, spaces, sizeof spaces - 1);
    ls_buf_add(out, spaces, n);
}

/* "   LINE | text" and, under it, the caret at display column caret_at. */
static void ls_print_excerpt(ls_buf *out, uint32_t lineno, const ls_buf *line, size_t caret_at)
{
    size_t at = out->len;
    ls_buf_add(out, "   ", 3);
    ls_buf_add_int(out, lineno);
    size_t w = out->len - at; /* "   LINE" */
    ls_buf_add(out, " | ", 3);
    ls_put_redacted(out, ls_buf_str(line), line->len);
    ls_buf_addc(out, '\n');
    ls_put_spaces(out, w + 1);
    ls_buf_add(out, "| ", 2);
    ls_put_spaces(out, caret_at);
    ls_buf_add(out, "^\n", 2);
}

/* The source line and a caret under loc.col (a character column); tabs
 * expand to 8 columns.  The line is a file's bytes, shown on a terminal:
 * control characters (C0, DEL, C1) and, on a line that is not UTF-8,
 * every non-ASCII character show as '?', so a hostile file cannot drive
 * the operator's terminal.  A masked run (a secret's value) shows as one
 * `***`, and a caret inside it points at the run. */
static void ls_print_caret(ls_buf *out, ls_source *src, ls_loc loc, ls_buf *line)
{
    if (!src || !src->text || loc.line == 0 || !ls_source_lines(src) || loc.line > src->nlines)
        return;
    const char *p = src->text + src->lines[loc.line - 1], *end = src->text + src->len;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        eol = end;
    if (eol > p && eol[-1] == '\r')
        eol--;
    if ((size_t)(eol - p) > 4096)
        eol = p + 4096; /* a minified file: show the start only */
    LS_WORK(eol - p);
    ls_buf_reset(line); /* scratch, kept by the caller across excerpts */
    bool plain = !src->nmasks; /* printable ASCII, no tab, nothing masked: shown as it is */
    for (const char *q = p; plain && q < eol; q++)
        plain = *q >= 0x20 && *q < 0x7F;
    if (plain) {
        size_t n = (size_t)(eol - p);
        ls_buf_add(line, p, n);
        ls_print_excerpt(out, loc.line, line, loc.col && loc.col - 1 < n ? loc.col - 1 : n);
        return;
    }
    size_t vcol = 0, caret_at = 0, run_at = 0;
    uint32_t ch = 0; /* characters before q: columns count characters, as libyaml's marks do */
    bool placed = false, in_mask = false;
    bool utf8 = ls_utf8_ok(p, (size_t)(eol - p));
    for (const char *q = p; q < eol; q++) {
        bool lead = ((unsigned char)*q & 0xC0) != 0x80;
        if (lead && src->nmasks) {
            bool m = ls_masked(src, loc.line, ch + 1);
            if (m && !in_mask) {
                run_at = vcol;
                ls_buf_add(line, "***", 3);
                vcol += 3;
            }
            in_mask = m;
        }
        if (lead && !placed && ch + 1 == loc.col) {
            caret_at = in_mask ? run_at : vcol;
            placed = true;
        }
        if (lead)
            ch++;
        if (in_mask) {
            continue; /* its bytes are not shown */
        } else if (*q == '\t') {
            size_t next = (vcol / 8 + 1) * 8;
            while (vcol < next) {
                ls_buf_addc(line, ' ');
                vcol++;
            }
        } else if (!lead) {
            if (utf8) /* a continuation byte: part of the character before */
                ls_buf_addc(line, *q);
        } else {
            unsigned char c = (unsigned char)*q;
            bool c1 = c == 0xC2 && q + 1 < eol && (unsigned char)q[1] >= 0x80 && (unsigned char)q[1] <= 0x9F;
            bool shown = utf8 ? !(c < 0x20 || c == 0x7F || c1) : (c >= 0x20 && c < 0x7F);
            if (shown) {
                ls_buf_addc(line, *q);
            } else {
                ls_buf_addc(line, '?');
                if (c1)
                    q++; /* its continuation byte goes with it */
            }
            vcol++;
        }
    }
    if (!placed)
        caret_at = vcol; /* past the end of the line: caret after it */
    ls_print_excerpt(out, loc.line, line, caret_at);
}

/* Output goes out in blocks of this size or more: a few writes for
 * thousands of diagnostics on an unbuffered stderr. */
#define LS_DIAG_FLUSH (64u * 1024u)

static void ls_diag_flush(ls_buf *b, FILE *out)
{
    if (b->len)
        fwrite(b->ptr, 1, b->len, out);
    ls_buf_reset(b);
}

size_t ls_diags_print(ls_diags *d, FILE *out, bool strict, bool carets)
{
    /* Diagnostics mostly arrive in order: sort only when they did not. */
    bool sorted = true;
    for (size_t i = 1; i < d->len && sorted; i++)
        sorted = ls_diag_cmp(&d->items[i - 1], &d->items[i]) <= 0;
    if (!sorted)
        qsort(d->items, d->len, sizeof *d->items, ls_diag_cmp);
    size_t errors = 0;
    ls_buf b, line;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    ls_buf_init(&line, 64 * 1024);
    ls_source *src = NULL; /* the file of the diagnostics before: sorted, so they come by file */
    for (size_t i = 0; i < d->len; i++) {
        const ls_diag *g = &d->items[i];
        bool err = g->sev == LS_SEV_ERROR || strict;
        if (err)
            errors++;
        const char *sev = err ? "error" : "warning";
        /* FILE:LINE:COL: SEV: , FILE: SEV: or lockstep: SEV: */
        ls_buf_adds(&b, g->loc.file ? g->loc.file : "lockstep");
        if (g->loc.file && g->loc.line) {
            ls_buf_addc(&b, ':');
            ls_buf_add_int(&b, g->loc.line);
            ls_buf_addc(&b, ':');
            ls_buf_add_int(&b, g->loc.col ? g->loc.col : 1);
        }
        ls_buf_add(&b, ": ", 2);
        ls_buf_adds(&b, sev);
        ls_buf_add(&b, ": ", 2);
        ls_put_redacted(&b, g->msg, strlen(g->msg));
        ls_buf_addc(&b, '\n');
        if (carets && g->loc.file) {
            if (!src || (src->name != g->loc.file && strcmp(src->name, g->loc.file) != 0))
                src = ls_diags_find(d, g->loc.file);
            ls_print_caret(&b, src, g->loc, &line);
        }
        if (b.len >= LS_DIAG_FLUSH)
            ls_diag_flush(&b, out);
    }
    ls_diag_flush(&b, out);
    ls_buf_free(&b);
    ls_buf_free(&line);
    return errors;
}

void ls_error_clear(ls_error *e)
{
    e->code = 0;
    e->loc.file = NULL;
    e->loc.line = 0;
    e->loc.col = 0;
    e->msg[0] = '\0';
}

void ls_error_set(ls_error *e, ls_loc loc, const char *fmt, ...)
{
    if (e->code != 0)
        return;
    e->code = 1;
    e->loc = loc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

const char *ls_error_format(const ls_error *e, char *buf, size_t buflen)
{
    if (!buf || !buflen)
        return "";
    size_t rn = 0;
    char *r = ls_redact(e->msg, strlen(e->msg), &rn);
    const char *msg = r ? r : "";
    if (e->loc.file && e->loc.line)
        snprintf(buf, buflen, "%s:%u:%u: %s", e->loc.file, (unsigned)e->loc.line,
                 (unsigned)(e->loc.col ? e->loc.col : 1), msg);
    else if (e->loc.file)
        snprintf(buf, buflen, "%s: %s", e->loc.file, msg);
    else
        snprintf(buf, buflen, "%s", msg);
    free(r);
    return buf;
}

int ls_oom_exit_code = 2;

_Noreturn void ls_oom(void)
{
    static const char msg[] = "lockstep: out of memory\n";
    fflush(stdout);
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(ls_oom_exit_code);
}

void *ls_oom_check(void *p)
{
    if (p == NULL)
        ls_oom();
    return p;
}

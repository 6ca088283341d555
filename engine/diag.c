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

#include "buf.h"
#include "diag.h"
#include "secret.h"

void ls_diags_init(ls_diags *d)
{
    memset(d, 0, sizeof *d);
}

void ls_diags_free(ls_diags *d)
{
    for (size_t i = 0; i < d->len; i++)
        free(d->items[i].msg);
    for (size_t i = 0; i < d->nsources; i++) {
        free(d->sources[i].name);
        free(d->sources[i].text);
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

const char *ls_diags_source(ls_diags *d, const char *name, const char *text, size_t len)
{
    for (size_t i = 0; i < d->nsources; i++) {
        ls_source *s = &d->sources[i];
        if (strcmp(s->name, name) == 0) {
            if (text && !s->text) {
                s->text = ls_memdup(text, len);
                s->len = s->text ? len : 0;
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
    s->name = ls_memdup(name, strlen(name));
    s->text = text ? ls_memdup(text, len) : NULL;
    s->len = s->text ? len : 0;
    d->nsources++;
    return s->name;
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
    ls_buf b;
    ls_buf_init(&b, 64 * 1024);
    va_list ap;
    va_start(ap, fmt);
    ls_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    ls_diag *g = &d->items[d->len];
    g->sev = sev;
    g->loc = loc;
    g->msg = ls_buf_steal(&b);
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

static const ls_source *ls_diags_find(const ls_diags *d, const char *file)
{
    for (size_t i = 0; i < d->nsources; i++)
        if (d->sources[i].name == file || strcmp(d->sources[i].name, file) == 0)
            return &d->sources[i];
    return NULL;
}

/* Writes diagnostic text: secrets redacted, and control characters (C0
 * but tab, DEL, C1) as '?', since messages quote keys and values from the
 * file and must not reach the terminal as escape sequences. */
static void ls_put_redacted(FILE *out, const char *s, size_t n)
{
    size_t rn = 0;
    char *r = ls_redact(s, n, &rn);
    if (!r)
        return;
    for (size_t i = 0; i < rn; i++) {
        unsigned char c = (unsigned char)r[i];
        if (c == 0xC2 && i + 1 < rn && (unsigned char)r[i + 1] >= 0x80 && (unsigned char)r[i + 1] <= 0x9F) {
            r[i] = '?';
            memmove(r + i + 1, r + i + 2, rn - i - 2);
            rn--;
        } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
            r[i] = '?';
        }
    }
    fwrite(r, 1, rn, out);
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

/* The source line and a caret under loc.col (a character column); tabs
 * expand to 8 columns.  The line is a file's bytes, shown on a terminal:
 * control characters (C0, DEL, C1) and, on a line that is not UTF-8,
 * every non-ASCII character show as '?', so a hostile file cannot drive
 * the operator's terminal. */
static void ls_print_caret(FILE *out, const ls_source *src, ls_loc loc)
{
    if (!src || !src->text || loc.line == 0)
        return;
    const char *p = src->text, *end = src->text + src->len;
    for (uint32_t l = 1; l < loc.line; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return;
        p = nl + 1;
    }
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        eol = end;
    if (eol > p && eol[-1] == '\r')
        eol--;
    if ((size_t)(eol - p) > 4096)
        eol = p + 4096; /* a minified file: show the start only */
    ls_buf line, caret;
    ls_buf_init(&line, 64 * 1024);
    ls_buf_init(&caret, 64 * 1024);
    size_t vcol = 0, caret_at = 0;
    uint32_t ch = 0; /* characters before q: columns count characters, as libyaml's marks do */
    bool placed = false;
    bool utf8 = ls_utf8_ok(p, (size_t)(eol - p));
    for (const char *q = p; q < eol; q++) {
        bool lead = ((unsigned char)*q & 0xC0) != 0x80;
        if (lead && !placed && ch + 1 == loc.col) {
            caret_at = vcol;
            placed = true;
        }
        if (lead)
            ch++;
        if (*q == '\t') {
            size_t next = (vcol / 8 + 1) * 8;
            while (vcol < next) {
                ls_buf_addc(&line, ' ');
                vcol++;
            }
        } else if (!lead) {
            if (utf8) /* a continuation byte: part of the character before */
                ls_buf_addc(&line, *q);
        } else {
            unsigned char c = (unsigned char)*q;
            bool c1 = c == 0xC2 && q + 1 < eol && (unsigned char)q[1] >= 0x80 && (unsigned char)q[1] <= 0x9F;
            bool shown = utf8 ? !(c < 0x20 || c == 0x7F || c1) : (c >= 0x20 && c < 0x7F);
            if (shown) {
                ls_buf_addc(&line, *q);
            } else {
                ls_buf_addc(&line, '?');
                if (c1)
                    q++; /* its continuation byte goes with it */
            }
            vcol++;
        }
    }
    if (!placed)
        caret_at = vcol; /* past the end of the line: caret after it */
    for (size_t i = 0; i < caret_at; i++)
        ls_buf_addc(&caret, ' ');
    ls_buf_addc(&caret, '^');
    char num[16];
    int w = snprintf(num, sizeof num, "%u", (unsigned)loc.line);
    fprintf(out, "%*s%s | ", 3, "", num);
    ls_put_redacted(out, ls_buf_str(&line), line.len);
    fprintf(out, "\n%*s | %s\n", 3 + w, "", ls_buf_str(&caret));
    ls_buf_free(&line);
    ls_buf_free(&caret);
}

size_t ls_diags_print(ls_diags *d, FILE *out, bool strict, bool carets)
{
    if (d->len > 1)
        qsort(d->items, d->len, sizeof *d->items, ls_diag_cmp);
    size_t errors = 0;
    for (size_t i = 0; i < d->len; i++) {
        const ls_diag *g = &d->items[i];
        bool err = g->sev == LS_SEV_ERROR || strict;
        if (err)
            errors++;
        const char *sev = err ? "error" : "warning";
        if (g->loc.file && g->loc.line)
            fprintf(out, "%s:%u:%u: %s: ", g->loc.file, (unsigned)g->loc.line,
                    (unsigned)(g->loc.col ? g->loc.col : 1), sev);
        else if (g->loc.file)
            fprintf(out, "%s: %s: ", g->loc.file, sev);
        else
            fprintf(out, "lockstep: %s: ", sev);
        ls_put_redacted(out, g->msg, strlen(g->msg));
        fputc('\n', out);
        if (carets && g->loc.file)
            ls_print_caret(out, ls_diags_find(d, g->loc.file), g->loc);
    }
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

/*
 * ls_buf: a growable byte buffer with a mandatory cap (curl's dynbuf idea).
 * Every buffer that untrusted input can grow has a cap; appending past it
 * fails (returns -1) and sets `overflow`, leaving the content intact up to
 * the cap, so callers can report `truncated`.  Out of memory below the
 * cap ends the process (ls_oom, diag.h): never a silently short buffer.
 */
#ifndef LS_BUF_H
#define LS_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <lockstep/value.h>

typedef struct ls_buf {
    char *ptr;   /* NUL-terminated whenever len > 0 */
    size_t len;
    size_t cap;  /* allocated */
    size_t max;  /* the cap on len */
    int overflow;
} ls_buf;

#define LS_BUF_UNLIMITED ((size_t)-1)

void ls_buf_init(ls_buf *b, size_t max);
void ls_buf_free(ls_buf *b);
void ls_buf_reset(ls_buf *b);
int ls_buf_add_grow(ls_buf *b, const void *data, size_t len); /* ls_buf_add when it must grow */
/* Appends data; partial up to max, then -1.  Inline while it fits, since
 * printing diagnostics and journal lines is mostly a few bytes at a time. */
static inline int ls_buf_add(ls_buf *b, const void *data, size_t len)
{
    if (b->cap - b->len > len && b->max - b->len >= len) {
        if (len)
            memcpy(b->ptr + b->len, data, len);
        b->len += len;
        b->ptr[b->len] = '\0';
        return 0;
    }
    return ls_buf_add_grow(b, data, len);
}
int ls_buf_addc(ls_buf *b, char c);
int ls_buf_adds(ls_buf *b, const char *s);
int ls_buf_printf(ls_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ls_buf_vprintf(ls_buf *b, const char *fmt, va_list ap);
int ls_buf_add_int(ls_buf *b, int64_t i);  /* decimal */
/* JSON (json.c): of a value, and a string literal of s[0..n). */
void ls_buf_add_json(ls_buf *b, ls_value v);
void ls_buf_add_json_str(ls_buf *b, const char *s, size_t n);
const char *ls_buf_str(const ls_buf *b); /* "" when empty */
char *ls_buf_steal(ls_buf *b);            /* malloc'd NUL-terminated; buffer reset */

#endif

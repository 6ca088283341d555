/*
 * ls_buf (buf.h): a growable byte buffer with a cap on its length.
 * Appending past the cap stores what fits, sets `overflow` and returns -1.
 * Running out of memory below the cap is not an overflow: a buffer cut
 * short for want of memory would pass for the whole text (a journal line,
 * a rendered input), so it ends the process (ls_oom, diag.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"

void ls_buf_init(ls_buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->overflow = 0;
}

void ls_buf_free(ls_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->overflow = 0;
}

void ls_buf_reset(ls_buf *b)
{
    b->len = 0;
    b->overflow = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

/* Makes room for `need` more bytes plus a NUL; 0, or -1 when the size
 * wraps.  Out of memory ends the process (see above). */
static int ls_buf_grow(ls_buf *b, size_t need)
{
    if (b->cap > b->len && b->cap - b->len > need)
        return 0;
    size_t want = b->len + need + 1;
    if (want < b->len) /* wrapped */
        return -1;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < want) {
        if (ncap > ((size_t)-1) / 2) {
            ncap = want;
            break;
        }
        ncap *= 2;
    }
    char *p = ls_oom_check(realloc(b->ptr, ncap));
    b->ptr = p;
    b->cap = ncap;
    return 0;
}

int ls_buf_add_grow(ls_buf *b, const void *data, size_t len)
{
    size_t room = b->max > b->len ? b->max - b->len : 0;
    size_t take = len < room ? len : room;
    if (take) {
        if (ls_buf_grow(b, take) != 0) {
            b->overflow = 1;
            return -1;
        }
        memcpy(b->ptr + b->len, data, take);
        b->len += take;
        b->ptr[b->len] = '\0';
    }
    if (take < len) {
        b->overflow = 1;
        return -1;
    }
    return 0;
}

int ls_buf_addc(ls_buf *b, char c)
{
    return ls_buf_add(b, &c, 1);
}

int ls_buf_adds(ls_buf *b, const char *s)
{
    return ls_buf_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 0))) int ls_buf_vprintf(ls_buf *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return ls_buf_add(b, small, (size_t)n);
    char *big = ls_oom_check(malloc((size_t)n + 1));
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    int rc = ls_buf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

int ls_buf_add_int(ls_buf *b, int64_t i)
{
    char d[24];
    size_t n = sizeof d;
    uint64_t u = i < 0 ? 0u - (uint64_t)i : (uint64_t)i;
    do {
        d[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (i < 0)
        d[--n] = '-';
    return ls_buf_add(b, d + n, sizeof d - n);
}

int ls_buf_printf(ls_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ls_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *ls_buf_str(const ls_buf *b)
{
    return b->len ? b->ptr : "";
}

char *ls_buf_steal(ls_buf *b)
{
    char *p = b->ptr;
    if (!p) {
        p = ls_oom_check(malloc(1));
        p[0] = '\0';
    }
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->overflow = 0;
    return p;
}

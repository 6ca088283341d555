/*
 * scan.h: a streamed scan finds exactly what a scan of the whole text
 * finds, however the bytes are cut (1 byte at a time, odd sizes, pipe-sized
 * pieces), on short lines, CRLF lines, an unterminated last line and lines
 * far longer than the 64 KiB window; and the windows behave as documented.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "scan.h"

static int failures;

#define CHECK(cond, ...)                                                                                           \
    do {                                                                                                           \
        if (!(cond)) {                                                                                             \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);                                        \
            fprintf(stderr, __VA_ARGS__);                                                                          \
            fputc('\n', stderr);                                                                                   \
            failures++;                                                                                            \
        }                                                                                                          \
    } while (0)

static ls_scan *compile(const char *const *pats)
{
    ls_value l = ls_list_new();
    for (size_t i = 0; pats[i]; i++)
        ls_list_push(&l, ls_string(pats[i]));
    char msg[256];
    ls_scan *s = ls_scan_compile(l, msg, sizeof msg);
    ls_value_free(l);
    if (s == NULL)
        fprintf(stderr, "compile: %s\n", msg);
    return s;
}

/* {matched, count, matches} as JSON, from the whole text or in pieces. */
static char *scan_json(const ls_scan *s, const char *t, size_t len, size_t piece)
{
    ls_scanner *sc = ls_scanner_new(s, 1000, false);
    if (piece == 0) {
        ls_scanner_text(sc, t, len);
    } else {
        for (size_t off = 0; off < len; off += piece)
            ls_scanner_feed(sc, 1, t + off, len - off < piece ? len - off : piece);
    }
    ls_value r = ls_map_new();
    ls_scanner_finish(sc, &r);
    ls_scanner_free(sc);
    char *j = ls_value_to_json(r, NULL);
    ls_value_free(r);
    return j;
}

static void same_in_pieces(const char *name, const char *const *pats, const char *t, size_t len)
{
    ls_scan *s = compile(pats);
    if (s == NULL) {
        failures++;
        return;
    }
    char *whole = scan_json(s, t, len, 0);
    const size_t pieces[] = {1, 2, 7, 4095, 65536, 65537, 1 << 20};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        if (pieces[i] == 1 && len > 300000)
            continue; /* a byte at a time is slow on the big text; 2 covers it */
        char *got = scan_json(s, t, len, pieces[i]);
        CHECK(strcmp(whole, got) == 0, "%s: pieces of %zu differ:\n  whole:  %.300s\n  pieces: %.300s", name,
              pieces[i], whole, got);
        free(got);
    }
    free(whole);
    ls_scan_free(s);
}

static char *count_of(const ls_scan *s, const char *t, size_t len)
{
    char *j = scan_json(s, t, len, 3);
    char *c = strstr(j, "\"count\":");
    char *out = strdup(c ? c + 8 : "?");
    char *comma = strchr(out, ',');
    if (comma)
        *comma = '\0';
    free(j);
    return out;
}

int main(void)
{
    const char *p1[] = {"MongoServerError", "TypeError.*unknown (field|key|property)", "^$", "x\\r?$", NULL};
    const char *small = "ok\nMongoServerError: a\r\n\nTypeError: unknown key\nTypeError: known\nlast x\r\nend x";
    same_in_pieces("small", p1, small, strlen(small));
    {
        ls_scan *s = compile(p1);
        char *j = scan_json(s, small, strlen(small), 0);
        CHECK(strstr(j, "\"count\":5") != NULL, "small: %s", j);
        CHECK(strstr(j, "\"line\":\"MongoServerError: a\"") != NULL, "the \\r is not part of the line: %s", j);
        free(j);
        ls_scan_free(s);
    }

    /* long lines: 200,000 x's with markers, among short lines */
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    for (int rep = 0; rep < 3; rep++) {
        ls_buf_adds(&b, "short ERR line\n");
        for (size_t i = 0; i < 200000; i++)
            ls_buf_addc(&b, i == 100000 ? 'M' : 'x');
        ls_buf_adds(&b, rep == 1 ? " TAIL\r\n" : " TAIL\n");
        for (size_t i = 0; i < LS_SCAN_LINE_MAX; i++) /* exactly one window long */
            ls_buf_addc(&b, 'y');
        ls_buf_addc(&b, '\n');
    }
    const char *p2[] = {"ERR", "xMx", "TAIL$", "^y+$", NULL};
    same_in_pieces("long lines", p2, b.ptr, b.len);
    {
        ls_scan *s = compile(p2);
        char *c = count_of(s, b.ptr, b.len);
        CHECK(strcmp(c, "9") == 0, "long lines: each line counted once: %s", c);
        free(c);
        ls_scan_free(s);
    }
    /* the documented limits: ^ only in the first window; a match longer than
     * the overlap across two windows is not seen */
    const char *p3[] = {"^x", "^M", "x{60000}M", NULL};
    {
        ls_scan *s = compile(p3);
        char *j = scan_json(s, b.ptr, b.len, 0);
        CHECK(strstr(j, "\"count\":3") != NULL && strstr(j, "\"pattern\":\"^M\"") == NULL &&
                  strstr(j, "x{60000}M") == NULL,
              "windows: %.200s", j);
        free(j);
        ls_scan_free(s);
    }
    ls_buf_free(&b);

    /* an unterminated last line longer than a window */
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    for (size_t i = 0; i < 3 * LS_SCAN_LINE_MAX; i++)
        ls_buf_addc(&b, 'z');
    ls_buf_adds(&b, "END");
    const char *p4[] = {"zEND$", NULL};
    same_in_pieces("unterminated long", p4, b.ptr, b.len);
    ls_buf_free(&b);

    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("scan: all passed\n");
    return 0;
}

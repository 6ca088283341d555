/*
 * Input files (file.h): regular files only, read whole and bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "file.h"

/* What a file that is not regular is, as the message names it. */
static const char *ls_file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO (named pipe)";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    return "not a regular file";
}

static int ls_file_refuse(char *why, size_t whylen, mode_t m)
{
    const char *kind = ls_file_kind(m);
    if (strncmp(kind, "not ", 4) == 0)
        snprintf(why, whylen, "%s (lockstep reads only regular files)", kind);
    else
        snprintf(why, whylen, "is %s, not a regular file (lockstep reads only regular files)", kind);
    return -1;
}

/* A buffer of cap + 1 bytes holding the n of old: realloc, or a new block
 * of the arena (the old one stays there until the arena goes). */
static char *ls_file_grow(ls_arena *a, char *old, size_t n, size_t cap)
{
    if (!a)
        return realloc(old, cap + 1);
    char *p = ls_arena_alloc(a, cap + 1);
    if (n)
        memcpy(p, old, n);
    return p;
}

static void ls_file_drop(ls_arena *a, char *buf)
{
    if (!a)
        free(buf);
}

int ls_file_read(const char *path, size_t max, char **text, size_t *len, char *why, size_t whylen)
{
    return ls_file_read_in(path, max, NULL, text, len, why, whylen);
}

int ls_file_read_in(const char *path, size_t max, ls_arena *a, char **text, size_t *len, char *why, size_t whylen)
{
    *text = NULL;
    *len = 0;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
     * writer; O_NOCTTY: a terminal named here must not become ours. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        struct stat st;
        /* A socket cannot be opened at all (ENXIO): say what it is. */
        if (e == ENXIO && stat(path, &st) == 0 && !S_ISREG(st.st_mode))
            return ls_file_refuse(why, whylen, st.st_mode);
        snprintf(why, whylen, "cannot open: %s", strerror(e));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ls_file_refuse(why, whylen, st.st_mode);
    }
    if ((uintmax_t)st.st_size > max) {
        snprintf(why, whylen, "file too large (%jd bytes; the limit is %zu)", (intmax_t)st.st_size, max);
        close(fd);
        return -1;
    }
    /* A regular file: reads never wait, but clear the flag all the same so
     * that the descriptor behaves as an ordinary one. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    /* The size may change while we read (a file being written): read to
     * the end, growing the buffer, up to max. */
    size_t cap = (size_t)st.st_size, n = 0;
    char *buf = ls_file_grow(a, NULL, 0, cap);
    if (!buf) {
        snprintf(why, whylen, "out of memory");
        close(fd);
        return -1;
    }
    for (;;) {
        /* Full at the size fstat gave: one byte tells whether to grow. */
        bool full = n == cap;
        char probe;
        ssize_t r = full ? read(fd, &probe, 1) : read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(why, whylen, "cannot read: %s", strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        if (!full) {
            n += (size_t)r;
            continue;
        }
        if (cap >= max) {
            snprintf(why, whylen, "file too large (the limit is %zu bytes)", max);
            goto fail;
        }
        size_t ncap = cap ? cap * 2 : 4096;
        if (ncap > max)
            ncap = max;
        char *nb = ls_file_grow(a, buf, n, ncap);
        if (!nb) {
            snprintf(why, whylen, "out of memory");
            goto fail;
        }
        buf = nb;
        cap = ncap;
        buf[n++] = probe;
    }
    close(fd);
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
fail:
    ls_file_drop(a, buf);
    close(fd);
    return -1;
}

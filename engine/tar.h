/*
 * Gzipped ustar archives, as release bundles use them (bundle.c): regular
 * files only, written reproducibly (mode 0644, owner 0, mtime 0, sorted by
 * the caller) and read as hostile input.
 *
 * The reader is bounded in every dimension (compressed size, inflated
 * size, entry count, path length) and refuses, with a message naming the
 * entry, anything that is not a plain file or directory under a relative
 * path: symlinks, hard links, devices, pax and GNU extension headers,
 * absolute paths, `..` or `.` components, duplicates, bad checksums,
 * truncated data, and bytes after the archive's end.  Nothing is written
 * to disk here: entries are returned in memory.
 */
#ifndef LS_TAR_H
#define LS_TAR_H

#include <stdbool.h>
#include <stddef.h>

#define LS_TAR_MAX_GZ (64u * 1024u * 1024u)   /* compressed bytes read */
#define LS_TAR_MAX_RAW (256u * 1024u * 1024u) /* inflated bytes */
#define LS_TAR_MAX_ENTRIES 4096u
#define LS_TAR_MAX_PATH 255u                  /* ustar: prefix 155 + '/' + name 100 */

typedef struct ls_tar_entry {
    char *path;          /* relative, '/'-separated, checked */
    unsigned char *data; /* owned (NULL for an empty file) */
    size_t size;
} ls_tar_entry;

typedef struct ls_tar {
    ls_tar_entry *e;     /* regular files in archive order (directories are dropped) */
    size_t n;
} ls_tar;

/* Whether `p` may name a file in an archive: relative, no empty, `.` or
 * `..` component, no backslash or control character, at most
 * LS_TAR_MAX_PATH bytes.  On false, `why` says which rule failed. */
bool ls_tar_path_ok(const char *p, char *why, size_t whylen);

/* Writes the entries as a .tar.gz at `path` (through a temporary file
 * renamed into place).  0, or -1 with err filled. */
int ls_tar_gz_write(const char *path, const ls_tar_entry *e, size_t n, char *err, size_t errlen);

/* Reads and checks a .tar.gz.  0 with *out filled (free with ls_tar_free),
 * or -1 with err filled and *out empty. */
int ls_tar_gz_read(const char *path, ls_tar *out, char *err, size_t errlen);
/* The same from memory (tests and fuzzing). */
int ls_tar_gz_parse(const unsigned char *gz, size_t len, ls_tar *out, char *err, size_t errlen);
void ls_tar_free(ls_tar *t);
/* The entry at `path`, or NULL. */
const ls_tar_entry *ls_tar_find(const ls_tar *t, const char *path);

#endif

/*
 * Reading an input file the user names: a playbook, a values or environment
 * file, a scenario, an env file checked by env.check.  Every such file is
 * read through ls_file_read, and only a regular file is read: a FIFO would
 * block the open (and then the read) until some writer came, a socket
 * cannot be read as a file, and a device may never end.  The file is opened
 * with O_NONBLOCK, so that the open itself cannot wait, and checked with
 * fstat on the descriptor before anything is read from it.
 */
#ifndef LS_FILE_H
#define LS_FILE_H

#include <stddef.h>

/* Reads path whole, at most `max` bytes.  Returns 0 with *text (malloc'd,
 * NUL-terminated; the caller frees it) and *len, or -1 with the reason in
 * why[0..whylen) — "cannot open: ...", "is a FIFO (named pipe), not a
 * regular file", "larger than N bytes", ... — without the path, which the
 * caller places as it places its messages. */
int ls_file_read(const char *path, size_t max, char **text, size_t *len, char *why, size_t whylen);
/* The same with *text in arena `a` (arena.h; NULL: malloc'd as above),
 * freed with the arena: a large playbook's text then sits in huge pages
 * with the rest of the playbook. */
struct ls_arena;
int ls_file_read_in(const char *path, size_t max, struct ls_arena *a, char **text, size_t *len, char *why,
                    size_t whylen);

#endif

/*
 * Fault injection for the engine, test builds only.
 *
 * The fault test executable links the engine (a static library) with
 * -Wl,--wrap for the allocation calls and for write/pwrite/fsync/fdatasync,
 * so every call the ENGINE makes goes through the wrappers below; calls
 * made inside shared libraries (libc's own, libyaml, PCRE2) do not.  The
 * engine's sources carry no test hook at all.  The wrappers work in the
 * plain and in the ASan build alike (they call the real, or ASan's,
 * functions through __real_*).
 *
 * ALLOCATIONS: with fault_alloc_fail_at = N > 0, the Nth allocation counted
 * from the last fault_alloc_reset() returns NULL (errno ENOMEM), once;
 * every other one succeeds.  fault_alloc_count says how many were made.
 *
 * JOURNAL I/O: only file descriptors whose path lies under
 * fault_io_prefix (STATE_DIR/runs, so the journal and every file of a run
 * directory) are counted; writes and syncs are counted separately.
 *   FAULT_IO_ENOSPC: the Nth write writes half its bytes and returns that
 *     short count, and from then on every write fails with ENOSPC (a full
 *     disk stays full until the operator frees space).
 *   FAULT_IO_EIO_WRITE: the Nth write fails with EIO, once.
 *   FAULT_IO_EIO_SYNC: the Nth fsync/fdatasync fails with EIO, once (the
 *     Linux behaviour that makes a retried fsync lie).
 */
#ifndef LS_FAULT_HOOKS_H
#define LS_FAULT_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum fault_io_mode { FAULT_IO_OFF, FAULT_IO_ENOSPC, FAULT_IO_EIO_WRITE, FAULT_IO_EIO_SYNC } fault_io_mode;

extern long fault_alloc_fail_at;
extern long fault_alloc_count;
extern bool fault_alloc_failed; /* the injected failure happened */

extern fault_io_mode fault_io;
extern long fault_io_fail_at;
extern long fault_io_writes, fault_io_syncs;
extern bool fault_io_failed;
extern char fault_io_prefix[4096];

void fault_alloc_reset(long fail_at);
void fault_io_reset(fault_io_mode mode, long fail_at, const char *prefix);

/* The wrapped calls (-Wl,--wrap=NAME makes the engine's NAME() call these). */
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
char *__wrap_realpath(const char *path, char *resolved);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off);
int __wrap_fsync(int fd);
int __wrap_fdatasync(int fd);

#endif

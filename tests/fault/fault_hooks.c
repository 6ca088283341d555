/*
 * The wrappers of fault_hooks.h: a failing allocator and a failing disk.
 */
#include "fault_hooks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
char *__real_realpath(const char *path, char *resolved);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);
int __real_fsync(int fd);
int __real_fdatasync(int fd);

long fault_alloc_fail_at;
long fault_alloc_count;
bool fault_alloc_failed;

fault_io_mode fault_io;
long fault_io_fail_at;
long fault_io_writes, fault_io_syncs;
bool fault_io_failed;
char fault_io_prefix[4096];
static bool disk_full;

void fault_alloc_reset(long fail_at)
{
    fault_alloc_fail_at = fail_at;
    fault_alloc_count = 0;
    fault_alloc_failed = false;
}

void fault_io_reset(fault_io_mode mode, long fail_at, const char *prefix)
{
    fault_io = mode;
    fault_io_fail_at = fail_at;
    fault_io_writes = fault_io_syncs = 0;
    fault_io_failed = false;
    disk_full = false;
    snprintf(fault_io_prefix, sizeof fault_io_prefix, "%s", prefix ? prefix : "");
}

/* ---- allocations ---- */

/* Counts one allocation; true when this one must fail. */
static bool alloc_fails(void)
{
    fault_alloc_count++;
    if (fault_alloc_fail_at > 0 && fault_alloc_count == fault_alloc_fail_at) {
        fault_alloc_failed = true;
        errno = ENOMEM;
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t n)
{
    return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return alloc_fails() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return alloc_fails() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return alloc_fails() ? NULL : __real_strndup(s, n);
}

/* realpath allocates only when it is not given a buffer. */
char *__wrap_realpath(const char *path, char *resolved)
{
    if (resolved == NULL && alloc_fails())
        return NULL;
    return __real_realpath(path, resolved);
}

/* ---- journal I/O ---- */

/* Whether fd is a file under fault_io_prefix. */
static bool watched(int fd)
{
    if (fault_io == FAULT_IO_OFF || fault_io_prefix[0] == '\0')
        return false;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return false;
    path[n] = '\0';
    size_t plen = strlen(fault_io_prefix);
    return strncmp(path, fault_io_prefix, plen) == 0 && (path[plen] == '/' || path[plen] == '\0');
}

/* -1 with errno set when this write must fail; else the number of bytes
 * to write for real (n, or a short count). */
static ssize_t write_fault(int fd, size_t n, size_t *allow)
{
    *allow = n;
    if (!watched(fd))
        return 0;
    if (disk_full) {
        errno = ENOSPC;
        return -1;
    }
    fault_io_writes++;
    if (fault_io_writes != fault_io_fail_at)
        return 0;
    if (fault_io == FAULT_IO_ENOSPC) {
        fault_io_failed = true;
        disk_full = true;
        if (n > 1) {
            *allow = n / 2; /* what fitted */
            return 0;
        }
        errno = ENOSPC;
        return -1;
    }
    if (fault_io == FAULT_IO_EIO_WRITE) {
        fault_io_failed = true;
        errno = EIO;
        return -1;
    }
    return 0;
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    size_t allow;
    if (write_fault(fd, n, &allow) < 0)
        return -1;
    return __real_write(fd, buf, allow);
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    size_t allow;
    if (write_fault(fd, n, &allow) < 0)
        return -1;
    return __real_pwrite(fd, buf, allow, off);
}

static bool sync_fails(int fd)
{
    if (!watched(fd))
        return false;
    fault_io_syncs++;
    if (fault_io == FAULT_IO_EIO_SYNC && fault_io_syncs == fault_io_fail_at) {
        fault_io_failed = true;
        errno = EIO;
        return true;
    }
    return false;
}

int __wrap_fsync(int fd)
{
    return sync_fails(fd) ? -1 : __real_fsync(fd);
}

int __wrap_fdatasync(int fd)
{
    return sync_fails(fd) ? -1 : __real_fdatasync(fd);
}

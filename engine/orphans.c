/*
 * Children never outlive the engine (orphans.h).
 *
 * The record file is a table of fixed-width slots, one per running child
 * (lowest free slot first, so one child at a time uses one line):
 * reserving, filling and clearing a slot is one pwrite each (a cleared
 * slot is blanks), with no fsync: the file matters only
 * while the processes it names can still be alive, i.e. on this boot.
 *
 * The guardian is forked, not executed: between fork and _exit it makes
 * only async-signal-safe calls (the engine may have threads).
 */
#include "orphans.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "secret.h"

#define MAX_SLOTS 64
#define BOOT_ID_LEN 36
#define START_SLACK_MS 1000 /* /proc start times are in clock ticks */
#define MAX_MEMBERS 256     /* processes of one group looked at */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int rec_fd = -1;       /* RUN_DIR/children; -1: not watching */
static int guard_w = -1;      /* the guardian's pipe: closes when we die */
static pid_t guard_pid = -1;
static bool used[MAX_SLOTS];
static int nused;
static pid_t my_sid;
static char boot_id[BOOT_ID_LEN + 1];

static int64_t boot_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void read_boot_id(char out[BOOT_ID_LEN + 1])
{
    memset(out, 0, BOOT_ID_LEN + 1);
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, out, BOOT_ID_LEN);
        close(fd);
        if (n == BOOT_ID_LEN)
            return;
    }
    memset(out, '-', BOOT_ID_LEN); /* unknown: still one value per boot on this machine */
}

/* ---- the record, per child --------------------------------------------- */

void ls_orphans_prepare(ls_orphan_note *n)
{
    memset(n, 0, sizeof *n);
    n->fd = -1;
    pthread_mutex_lock(&mu);
    int slot = -1;
    for (int i = 0; rec_fd >= 0 && i < MAX_SLOTS && slot < 0; i++)
        if (!used[i])
            slot = i;
    if (slot >= 0) {
        used[slot] = true;
        nused++;
        n->fd = rec_fd;
        n->slot = slot;
        n->off = (off_t)slot * LS_ORPHAN_LINE;
        int len = snprintf(n->line, sizeof n->line, "%10s %10d %16lld %.*s", "", (int)my_sid,
                           (long long)boot_ms(), BOOT_ID_LEN, boot_id);
        if (len < 0)
            len = 0;
        memset(n->line + len, ' ', sizeof n->line - (size_t)len);
        n->line[LS_ORPHAN_LINE - 1] = '\n';
    }
    pthread_mutex_unlock(&mu);
}

__attribute__((no_sanitize("address", "undefined"))) void ls_orphans_child_note(const ls_orphan_note *n, pid_t pid)
{
    if (n->fd < 0)
        return;
    char line[LS_ORPHAN_LINE];
    for (size_t i = 0; i < sizeof line; i++)
        line[i] = n->line[i];
    unsigned long v = pid > 0 ? (unsigned long)pid : 0;
    for (int i = 9; i >= 0 && v > 0; i--) {
        line[i] = (char)('0' + v % 10);
        v /= 10;
    }
    syscall(SYS_pwrite64, n->fd, line, sizeof line, n->off);
}

void ls_orphans_release(ls_orphan_note *n)
{
    if (n->fd < 0)
        return;
    pthread_mutex_lock(&mu);
    if (n->fd == rec_fd && used[n->slot]) {
        used[n->slot] = false;
        nused--;
        /* Blanked, not truncated: the file keeps its size, so the journal's
         * next fsync does not also commit a size change of this file. */
        char blank[LS_ORPHAN_LINE];
        memset(blank, ' ', sizeof blank);
        blank[sizeof blank - 1] = '\n';
        (void)pwrite(rec_fd, blank, sizeof blank, n->off);
    }
    pthread_mutex_unlock(&mu);
    n->fd = -1;
}

/* ---- parsing the record ------------------------------------------------ */

typedef struct record {
    pid_t pgid, sid;
    int64_t start_ms;
    char boot[BOOT_ID_LEN + 1];
} record;

/* Parses one line; false when blank or malformed.  Async-signal-safe (the
 * guardian uses it). */
static bool parse_num(const char **p, const char *end, int64_t *out)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    if (s >= end || *s < '0' || *s > '9')
        return false;
    int64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9' && v < INT64_MAX / 10)
        v = v * 10 + (*s++ - '0');
    *p = s;
    *out = v;
    return true;
}

static bool parse_record(const char *line, size_t len, record *r)
{
    const char *p = line, *end = line + len;
    int64_t pg, sid, st;
    if (!parse_num(&p, end, &pg) || !parse_num(&p, end, &sid) || !parse_num(&p, end, &st))
        return false;
    if (pg <= 1 || pg > INT32_MAX || sid > INT32_MAX)
        return false;
    while (p < end && *p == ' ')
        p++;
    size_t bl = 0;
    while (p + bl < end && p[bl] != ' ' && p[bl] != '\n' && bl < BOOT_ID_LEN)
        bl++;
    memset(r->boot, 0, sizeof r->boot);
    memcpy(r->boot, p, bl);
    r->pgid = (pid_t)pg;
    r->sid = (pid_t)sid;
    r->start_ms = st;
    return true;
}

/* ---- the guardian ------------------------------------------------------ */

/* Waits for the engine's end of the pipe to close, then kills every group
 * still recorded.  fd 3: the pipe; fd 4: the record file. */
__attribute__((noreturn)) static void guardian_main(void)
{
    char b[256];
    for (;;) {
        ssize_t n = read(3, b, sizeof b);
        if (n > 0 || (n < 0 && errno == EINTR))
            continue;
        break;
    }
    static char table[MAX_SLOTS * LS_ORPHAN_LINE];
    ssize_t len = pread(4, table, sizeof table, 0);
    for (ssize_t i = 0; len > 0 && i + LS_ORPHAN_LINE <= len; i += LS_ORPHAN_LINE) {
        record r;
        if (parse_record(table + i, LS_ORPHAN_LINE, &r))
            kill(-r.pgid, SIGKILL);
    }
    _exit(0);
}

static pid_t start_guardian(int pipe_r, int rec)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* the guardian: async-signal-safe calls only from here */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    const int quiet[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++)
        sigaction(quiet[i], &ign, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Out of the engine's process group: a group kill aimed at the engine
     * (Ctrl-C, kill -9 -PGID) leaves it to clean up after. */
    setpgid(0, 0);
    prctl(PR_SET_NAME, "lockstep-guard", 0, 0, 0);
    int r = fcntl(pipe_r, F_DUPFD, 10), c = fcntl(rec, F_DUPFD, 10);
    int null = open("/dev/null", O_RDWR);
    if (r < 0 || c < 0 || null < 0)
        _exit(1);
    /* Holds nothing of the engine's: not its output (a reader waiting for
     * EOF), not its lock or journal. */
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    dup2(r, 3);
    dup2(c, 4);
    syscall(SYS_close_range, 5, ~0u, 0);
    guardian_main();
}

int ls_orphans_watch(const char *run_dir, ls_error *err)
{
    ls_loc none = {0};
    ls_orphans_unwatch();
    char path[4200];
    snprintf(path, sizeof path, "%s/children", run_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        ls_error_set(err, none, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        ls_error_set(err, none, "cannot start the child guardian: %s", strerror(errno));
        close(fd);
        return -1;
    }
    pid_t g = start_guardian(p[0], fd);
    close(p[0]);
    if (g < 0) {
        ls_error_set(err, none, "cannot start the child guardian: %s", strerror(errno));
        close(p[1]);
        close(fd);
        return -1;
    }
    pthread_mutex_lock(&mu);
    read_boot_id(boot_id);
    my_sid = getsid(0);
    rec_fd = fd;
    guard_w = p[1];
    guard_pid = g;
    memset(used, 0, sizeof used);
    nused = 0;
    pthread_mutex_unlock(&mu);
    return 0;
}

void ls_orphans_unwatch(void)
{
    pthread_mutex_lock(&mu);
    int fd = rec_fd, w = guard_w;
    pid_t g = guard_pid;
    rec_fd = guard_w = -1;
    guard_pid = -1;
    if (fd >= 0)
        (void)ftruncate(fd, 0); /* nothing is running: the guardian kills nothing */
    pthread_mutex_unlock(&mu);
    if (w >= 0)
        close(w);
    if (fd >= 0)
        close(fd);
    while (g > 0 && waitpid(g, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* ---- resume: reaping what is left --------------------------------------- */

typedef struct member {
    pid_t pid;
    int64_t start_ms;
    pid_t sid;
    char comm[32];
} member;

/* Reads /proc/PID/stat; false when gone, a zombie, or unreadable. */
static bool read_stat(pid_t pid, pid_t *pgrp, member *m)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
    if (open_p == NULL || close_p == NULL || close_p < open_p)
        return false;
    size_t cl = (size_t)(close_p - open_p - 1);
    if (cl >= sizeof m->comm)
        cl = sizeof m->comm - 1;
    memcpy(m->comm, open_p + 1, cl);
    m->comm[cl] = '\0';
    /* fields after the name: 3 state, 4 ppid, 5 pgrp, 6 session, ... 22 starttime */
    char state = 0;
    long long f[20];
    int field = 3;
    char *p = close_p + 1;
    while (*p && field <= 22) {
        while (*p == ' ')
            p++;
        if (field == 3)
            state = *p;
        else if (field <= 22)
            f[field - 4 < 20 ? field - 4 : 19] = strtoll(p, NULL, 10);
        while (*p && *p != ' ')
            p++;
        field++;
    }
    if (field <= 22 || state == 'Z' || state == 'X')
        return false;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    m->pid = pid;
    *pgrp = (pid_t)f[1];
    m->sid = (pid_t)f[2];
    m->start_ms = f[18] * 1000 / hz;
    return true;
}

/* The live (non-zombie) members of group `pg`; returns how many (up to max). */
static size_t group_members(pid_t pg, member *out, size_t max)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        pid_t g;
        member m;
        if (read_stat((pid_t)pid, &g, &m) && g == pg)
            out[n++] = m;
    }
    closedir(d);
    return n;
}

/* Is this group the one recorded?  Same session, the leader (if alive)
 * started when the record says, every member started after it. */
static bool group_is_ours(const record *r, const member *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (m[i].sid != r->sid || m[i].start_ms + START_SLACK_MS < r->start_ms)
            return false;
        if (m[i].pid == r->pgid && m[i].start_ms > r->start_ms + START_SLACK_MS)
            return false;
    }
    return n > 0;
}

/* Waits until every process in `m` has exited (pidfds: no polling loop),
 * bounded by `deadline`.  Processes that cannot be watched are looked at
 * again by the caller's rescan. */
static void wait_gone(const member *m, size_t n, int64_t deadline)
{
    for (size_t i = 0; i < n; i++) {
        long fd = syscall(SYS_pidfd_open, m[i].pid, 0);
        if (fd < 0)
            continue;
        struct pollfd p = {.fd = (int)fd, .events = POLLIN};
        int64_t left = deadline - boot_ms();
        if (left > 0)
            (void)poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        close((int)fd);
    }
}

int ls_orphans_reap(const char *state_dir, const char *run_id, FILE *report, long wait_ms, ls_error *err)
{
    ls_loc none = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/runs/%s/children", state_dir, run_id);
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return 0; /* a run from before this file existed, or no program ever ran */
    static char table[MAX_SLOTS * LS_ORPHAN_LINE];
    ssize_t len = pread(fd, table, sizeof table, 0);
    char boot[BOOT_ID_LEN + 1];
    read_boot_id(boot);
    int killed = 0, rc = 0;
    member *m = calloc(MAX_MEMBERS, sizeof *m);
    if (m == NULL) {
        close(fd);
        ls_error_set(err, none, "out of memory");
        return -1;
    }
    for (ssize_t i = 0; len > 0 && i + LS_ORPHAN_LINE <= len && rc == 0; i += LS_ORPHAN_LINE) {
        record r;
        if (!parse_record(table + i, LS_ORPHAN_LINE, &r) || strcmp(r.boot, boot) != 0)
            continue;
        size_t n = group_members(r.pgid, m, MAX_MEMBERS);
        if (n == 0)
            continue;
        if (!group_is_ours(&r, m, n)) {
            fprintf(report, "lockstep: process group %d recorded by the interrupted run now belongs to "
                            "another program: left alone\n", (int)r.pgid);
            continue;
        }
        char names[256] = "";
        size_t used_n = 0;
        for (size_t k = 0; k < n && used_n + 1 < sizeof names; k++) {
            char *red = ls_redact(m[k].comm, strlen(m[k].comm), NULL);
            int w = snprintf(names + used_n, sizeof names - used_n, "%s%s %d", k ? ", " : "",
                             red ? red : "?", (int)m[k].pid);
            free(red);
            if (w < 0)
                break;
            used_n += (size_t)w;
            if (used_n >= sizeof names)
                used_n = sizeof names - 1;
        }
        fprintf(report, "lockstep: a program of the interrupted run is still running (process group %d: %s); "
                        "killing it before resuming\n", (int)r.pgid, names);
        fflush(report);
        int64_t t0 = boot_ms(), deadline = t0 + wait_ms;
        for (;;) {
            if (kill(-r.pgid, SIGKILL) != 0 && errno != ESRCH) {
                ls_error_set(err, none, "cannot kill process group %d of the interrupted run: %s", (int)r.pgid,
                             strerror(errno));
                rc = -1;
                break;
            }
            wait_gone(m, n, deadline);
            n = group_members(r.pgid, m, MAX_MEMBERS);
            if (n == 0)
                break;
            if (boot_ms() >= deadline) {
                ls_error_set(err, none, "process group %d of the interrupted run is still alive %ld ms after "
                                        "SIGKILL: not resuming", (int)r.pgid, wait_ms);
                rc = -1;
                break;
            }
        }
        if (rc == 0) {
            killed++;
            fprintf(report, "lockstep: process group %d is gone (%lld ms)\n", (int)r.pgid,
                    (long long)(boot_ms() - t0));
        }
    }
    free(m);
    if (rc == 0)
        (void)ftruncate(fd, 0);
    close(fd);
    return rc == 0 ? killed : -1;
}

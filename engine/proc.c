/*
 * Running programs (proc.h).
 *
 * The child is started with posix_spawnp from an argv -- never through a
 * shell -- as the leader of a new process group, with default signal
 * dispositions and an empty signal mask whatever the engine has set.
 * glibc (>= 2.24) reports a failed exec through posix_spawnp's return
 * value, so "could not start" is never confused with "exited 127".
 * argv[0] is looked up on the engine's PATH (an `env` input that sets PATH
 * changes the child's environment, not where its program is found).
 *
 * One poll() loop then does everything: writes stdin (non-blocking, so a
 * child that does not read cannot block us), drains stdout and stderr (each
 * kept up to the cap, the rest read and thrown away so the child never
 * blocks on a full pipe), watches the child through a pidfd, the deadline
 * and the cancel flag (polled at least every 50 ms).  On timeout or cancel
 * the whole group gets SIGTERM, then SIGKILL after the grace period.
 *
 * When the child has exited it is left a zombie (waitid WNOWAIT) while the
 * group gets SIGKILL: the zombie pins the pid, so the group id cannot have
 * been reused by then.  That kills a backgrounded grandchild still holding
 * the pipes; the pipes are then drained for a bounded time and closed.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "registry.h"
#include "secret.h"

#define POLL_TICK_MS 50      /* the cancel flag is looked at this often */
#define DEFAULT_GRACE_MS 2000
#define DRAIN_AFTER_EXIT_MS 200 /* pipes held by an escaped grandchild */

/* ---- small helpers ---------------------------------------------------- */

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Keeps our pipe ends off 0, 1 and 2 (an engine started with a closed
 * stdin would otherwise get fd 0 from pipe2 and dup2 onto itself). */
static int lift_fd(int fd)
{
    if (fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

static int make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    fds[0] = lift_fd(fds[0]);
    fds[1] = lift_fd(fds[1]);
    if (fds[0] < 0 || fds[1] < 0) {
        close_fd(&fds[0]);
        close_fd(&fds[1]);
        return -1;
    }
    return 0;
}

/* Our ends of the pipes only (the child's stay blocking); a pipe end has
 * no other status flag to keep. */
static void set_nonblock(int fd)
{
    (void)fcntl(fd, F_SETFL, O_NONBLOCK);
}

/* The inherited environment with env_add laid over it: a key in env_add
 * replaces the inherited entry of the same name. */
static char **build_env(const char *const *env_add)
{
    size_t ninh = 0, nadd = 0;
    for (char **e = environ; e && *e; e++)
        ninh++;
    for (const char *const *a = env_add; a && *a; a++)
        nadd++;
    char **envp = calloc(ninh + nadd + 1, sizeof *envp);
    if (envp == NULL)
        return NULL;
    size_t n = 0;
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t klen = eq ? (size_t)(eq - *e) : strlen(*e);
        bool overridden = false;
        for (const char *const *a = env_add; a && *a && !overridden; a++)
            overridden = strncmp(*a, *e, klen) == 0 && (*a)[klen] == '=';
        if (!overridden)
            envp[n++] = *e;
    }
    for (const char *const *a = env_add; a && *a; a++) {
        /* a later duplicate key in env_add wins too */
        const char *eq = strchr(*a, '=');
        size_t klen = eq ? (size_t)(eq - *a) : strlen(*a);
        bool later = false;
        for (const char *const *b = a + 1; *b && !later; b++)
            later = strncmp(*a, *b, klen) == 0 && (*b)[klen] == '=';
        if (!later)
            envp[n++] = (char *)(uintptr_t)*a;
    }
    envp[n] = NULL;
    return envp;
}

static void start_error(ls_proc_result *res, const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void start_error(ls_proc_result *res, const char *prog, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    char msg[sizeof res->start_error];
    snprintf(msg, sizeof msg, "cannot run '%s': %s", prog, why);
    char *red = ls_redact(msg, strlen(msg), NULL);
    snprintf(res->start_error, sizeof res->start_error, "%s", red ? red : "cannot run a program");
    free(red);
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    long fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0)
        return lift_fd((int)fd); /* close-on-exec already, and so is a lifted copy */
#else
    (void)pid;
#endif
    return -1;
}

/* ---- the spawn -------------------------------------------------------- */

static int spawn_child(const ls_proc_opts *o, int in_fd, int out_w, int err_w, char **envp, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t all, none;
    int rc;

    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        return rc;
    if ((rc = posix_spawnattr_init(&attr)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    sigfillset(&all);
    sigemptyset(&none);
    if (in_fd >= 0)
        rc = posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    else
        rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, err_w, 2);
    /* Nothing else of ours leaks into the child: a journal or lock fd held
     * by a long-lived grandchild would outlive the run. */
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (rc == 0 && o->cwd != NULL)
        rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    if (rc == 0)
        rc = posix_spawnattr_setpgroup(&attr, 0);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                 POSIX_SPAWN_SETSIGMASK);
    if (rc == 0)
        rc = posix_spawnp(pid, o->argv[0], &fa, &attr, (char *const *)(uintptr_t)o->argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- supervising the child -------------------------------------------- */

typedef struct stream {
    int fd;
    ls_buf buf;
} stream;

typedef struct child {
    const ls_proc_opts *o;
    pid_t pid;             /* also the process group id */
    int pidfd;             /* readable when the child exits; -1: none */
    int in_fd;             /* our end of its stdin; -1: closed */
    size_t in_off;         /* stdin bytes written so far */
    stream out, err;
    int grace_ms;
    bool exited;           /* a zombie, not yet reaped */
    bool lost;             /* reaped by someone else: no status */
    int64_t term_at;       /* when SIGTERM went to the group; 0: not yet */
    int64_t drain_until;   /* after exit: stop waiting for EOF then */
} child;

void (*ls_proc_output_hook)(const char *p, size_t n);

/* Reads what is there; returns false at EOF or on a hard error.  Past the
 * cap the bytes are read and dropped, so the child never blocks. */
static bool drain(stream *s)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(s->fd, chunk, sizeof chunk);
        if (n > 0) {
            if (ls_proc_output_hook)
                ls_proc_output_hook(chunk, (size_t)n);
            if (!s->buf.overflow)
                (void)ls_buf_add(&s->buf, chunk, (size_t)n);
            if ((size_t)n < sizeof chunk)
                return true;
            continue;
        }
        if (n == 0)
            return false;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

static void feed_stdin(child *c)
{
    const ls_proc_opts *o = c->o;
    ssize_t n = write(c->in_fd, o->stdin_data + c->in_off, o->stdin_len - c->in_off);
    if (n > 0) {
        c->in_off += (size_t)n;
        if (c->in_off >= o->stdin_len)
            close_fd(&c->in_fd); /* EOF for the child */
    } else if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
        close_fd(&c->in_fd); /* EPIPE: the child stopped reading */
    }
}

/* Notices the child's exit without reaping it.  The zombie pins the pid,
 * so the group id cannot have been reused when the group gets SIGKILL:
 * whatever it left running in its group (a backgrounded grandchild still
 * holding our pipes) dies with it. */
static void check_exit(child *c, int64_t now)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int rc = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    if (rc != 0 && errno == ECHILD) {
        /* Reaped behind our back (SIGCHLD set to SIG_IGN): the exit status
         * is lost and the pid may be reused, so no group kill. */
        c->exited = true;
        c->lost = true;
    } else if (rc != 0 || si.si_pid != c->pid) {
        return;
    } else {
        c->exited = true;
        kill(-c->pid, SIGKILL);
    }
    c->drain_until = now + DRAIN_AFTER_EXIT_MS;
    close_fd(&c->in_fd);
    close_fd(&c->pidfd);
}

/* Deadline and cancel: SIGTERM to the group, SIGKILL after the grace. */
static void check_stop(child *c, ls_proc_result *res, int64_t now)
{
    const ls_proc_opts *o = c->o;
    if (c->term_at == 0) {
        bool cancel = o->cancel != NULL && *o->cancel;
        bool late = o->deadline_ms > 0 && now >= o->deadline_ms;
        if (!cancel && !late)
            return;
        res->cancelled = cancel;
        res->timed_out = !cancel;
        kill(-c->pid, SIGTERM);
        c->term_at = now;
        close_fd(&c->in_fd);
    } else if (now - c->term_at >= c->grace_ms) {
        kill(-c->pid, SIGKILL);
    }
}

/* How long poll() may sleep: never past the next thing to do, and never
 * more than a tick, so the cancel flag is seen promptly. */
static int poll_wait_ms(const child *c, int64_t now)
{
    int64_t w = POLL_TICK_MS;
    if (c->exited)
        w = min64(w, c->drain_until - now);
    else if (c->term_at != 0)
        w = min64(w, c->term_at + c->grace_ms - now);
    else if (c->o->deadline_ms > 0)
        w = min64(w, c->o->deadline_ms - now);
    /* Without a pidfd, exit is noticed by looking: look often once the
     * pipes are closed and nothing else would wake us. */
    if (c->pidfd < 0 && !c->exited && c->out.fd < 0 && c->err.fd < 0)
        w = min64(w, 2);
    return w < 0 ? 0 : (int)w;
}

/* One round: wait for the pipes (or the pidfd, or a tick) and move data. */
static void poll_once(child *c, int64_t now)
{
    struct pollfd pfd[4];
    int np = 0, i_out = -1, i_err = -1, i_in = -1;
    if (c->out.fd >= 0) {
        i_out = np;
        pfd[np++] = (struct pollfd){.fd = c->out.fd, .events = POLLIN};
    }
    if (c->err.fd >= 0) {
        i_err = np;
        pfd[np++] = (struct pollfd){.fd = c->err.fd, .events = POLLIN};
    }
    if (c->in_fd >= 0) {
        i_in = np;
        pfd[np++] = (struct pollfd){.fd = c->in_fd, .events = POLLOUT};
    }
    if (c->pidfd >= 0) /* readable on exit: check_exit then notices it */
        pfd[np++] = (struct pollfd){.fd = c->pidfd, .events = POLLIN};

    int pr = poll(pfd, (nfds_t)np, poll_wait_ms(c, now));
    if (pr < 0 && errno != EINTR) {
        /* Cannot watch the pipes any more (never seen): rather than spin or
         * leave the child blocked on a full pipe, end it; check_exit then
         * notices and the drain period bounds the rest. */
        kill(-c->pid, SIGKILL);
        return;
    }
    if (pr <= 0)
        return; /* a tick or EINTR: the caller looks at the clock and flags */
    if (i_out >= 0 && pfd[i_out].revents && !drain(&c->out))
        close_fd(&c->out.fd);
    if (i_err >= 0 && pfd[i_err].revents && !drain(&c->err))
        close_fd(&c->err.fd);
    if (i_in >= 0 && pfd[i_in].revents) {
        if (pfd[i_in].revents & (POLLERR | POLLHUP))
            close_fd(&c->in_fd);
        else
            feed_stdin(c);
    }
}

static void supervise(child *c, ls_proc_result *res)
{
    for (;;) {
        int64_t now = ls_now_ms();
        if (!c->exited)
            check_exit(c, now);
        if (!c->exited)
            check_stop(c, res, now);
        if (c->exited && ((c->out.fd < 0 && c->err.fd < 0) || now >= c->drain_until))
            break;
        poll_once(c, now);
    }
    int status = 0;
    if (c->lost)
        return; /* exit_code stays -1 */
    pid_t w;
    while ((w = waitpid(c->pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (w != c->pid)
        return; /* gone already (see check_exit): exit_code stays -1 */
    if (WIFEXITED(status)) {
        res->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        res->exit_code = -1;
        res->term_signal = WTERMSIG(status);
    }
}

/* ---- ls_proc_run -------------------------------------------------------- */

int ls_proc_run(const ls_proc_opts *o, ls_proc_result *res)
{
    memset(res, 0, sizeof *res);
    res->exit_code = -1;
    int64_t t0 = ls_now_ms();

    if (o->argv == NULL || o->argv[0] == NULL || o->argv[0][0] == '\0') {
        snprintf(res->start_error, sizeof res->start_error, "cannot run a program: argv is empty");
        return -1;
    }
    const char *prog = o->argv[0];
    if (o->cwd != NULL) {
        /* checked here so that the message can say it was the directory */
        struct stat st;
        if (stat(o->cwd, &st) != 0) {
            start_error(res, prog, "cannot change directory to '%s': %s", o->cwd, strerror(errno));
            return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
            start_error(res, prog, "cannot change directory to '%s': Not a directory", o->cwd);
            return -1;
        }
    }

    int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
    if ((o->stdin_data != NULL && make_pipe(in_p) != 0) || make_pipe(out_p) != 0 ||
        make_pipe(err_p) != 0) {
        start_error(res, prog, "cannot create pipes: %s", strerror(errno));
        goto fail;
    }
    char **envp = build_env(o->env_add);
    if (envp == NULL) {
        start_error(res, prog, "out of memory");
        goto fail;
    }

    /* Writing stdin to a child that has exited must give EPIPE, not kill
     * the engine; the child gets SIGPIPE back at its default (SETSIGDEF).
     * Only stdin is ever written. */
    struct sigaction ign, dfl, old_pipe, old_chld;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    bool feeds = o->stdin_data != NULL;
    if (feeds)
        sigaction(SIGPIPE, &ign, &old_pipe);
    /* A SIGCHLD set to SIG_IGN (or SA_NOCLDWAIT) would reap the child
     * before we read its status: use the default while it runs. */
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGCHLD, NULL, &old_chld);
    bool chld_changed = old_chld.sa_handler == SIG_IGN || (old_chld.sa_flags & SA_NOCLDWAIT);
    if (chld_changed)
        sigaction(SIGCHLD, &dfl, NULL);

    child c;
    memset(&c, 0, sizeof c);
    int rc = spawn_child(o, in_p[0], out_p[1], err_p[1], envp, &c.pid);
    free(envp);
    close_fd(&in_p[0]);
    close_fd(&out_p[1]);
    close_fd(&err_p[1]);
    if (rc != 0) {
        if (feeds)
            sigaction(SIGPIPE, &old_pipe, NULL);
        if (chld_changed)
            sigaction(SIGCHLD, &old_chld, NULL);
        start_error(res, prog, "%s", strerror(rc));
        goto fail;
    }
    res->started = true;

    c.o = o;
    c.grace_ms = o->grace_ms > 0 ? o->grace_ms : DEFAULT_GRACE_MS;
    size_t cap = o->cap ? o->cap : LS_PROC_DEFAULT_CAP;
    c.out.fd = out_p[0];
    c.err.fd = err_p[0];
    c.in_fd = in_p[1];
    out_p[0] = err_p[0] = in_p[1] = -1;
    ls_buf_init(&c.out.buf, cap);
    ls_buf_init(&c.err.buf, cap);
    set_nonblock(c.out.fd);
    set_nonblock(c.err.fd);
    if (c.in_fd >= 0) {
        set_nonblock(c.in_fd);
        if (o->stdin_len == 0)
            close_fd(&c.in_fd);
    }
    c.pidfd = open_pidfd(c.pid);

    supervise(&c, res);

    close_fd(&c.out.fd);
    close_fd(&c.err.fd);
    close_fd(&c.in_fd);
    close_fd(&c.pidfd);
    if (feeds)
        sigaction(SIGPIPE, &old_pipe, NULL);
    if (chld_changed)
        sigaction(SIGCHLD, &old_chld, NULL);

    res->truncated = c.out.buf.overflow || c.err.buf.overflow;
    res->out_len = c.out.buf.len;
    res->out = ls_buf_steal(&c.out.buf);
    res->err_len = c.err.buf.len;
    res->err = ls_buf_steal(&c.err.buf);
    if (res->out == NULL)
        res->out_len = 0;
    if (res->err == NULL)
        res->err_len = 0;
    res->duration_ms = ls_now_ms() - t0;
    return 0;

fail:
    close_fd(&in_p[0]);
    close_fd(&in_p[1]);
    close_fd(&out_p[0]);
    close_fd(&out_p[1]);
    close_fd(&err_p[0]);
    close_fd(&err_p[1]);
    res->duration_ms = ls_now_ms() - t0;
    return -1;
}

void ls_proc_result_free(ls_proc_result *res)
{
    if (res == NULL)
        return;
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
    res->out_len = res->err_len = 0;
}

ls_value ls_proc_result_value(const ls_proc_result *res)
{
    ls_value m = ls_map_new();
    ls_map_set(&m, "exit_code", ls_int(res->exit_code));
    ls_map_set(&m, "stdout", ls_string_n(res->out ? res->out : "", res->out ? res->out_len : 0));
    ls_map_set(&m, "stderr", ls_string_n(res->err ? res->err : "", res->err ? res->err_len : 0));
    ls_map_set(&m, "duration_ms", ls_int(res->duration_ms));
    ls_map_set(&m, "truncated", ls_bool(res->truncated));
    return m;
}

/* Characters that never need quoting in a shell-like display. */
static bool plain_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("_@%+=:,./-", c) != NULL;
}

char *ls_proc_argv_string(const char *const *argv)
{
    ls_buf b;
    ls_buf_init(&b, LS_BUF_UNLIMITED);
    for (size_t i = 0; argv && argv[i]; i++) {
        size_t n = 0;
        char *a = ls_redact(argv[i], strlen(argv[i]), &n);
        if (a == NULL)
            continue;
        if (i > 0)
            ls_buf_addc(&b, ' ');
        bool plain = n > 0;
        for (size_t k = 0; k < n && plain; k++)
            plain = a[k] != '\0' && plain_char((unsigned char)a[k]);
        if (plain) {
            ls_buf_add(&b, a, n);
        } else {
            ls_buf_addc(&b, '\'');
            for (size_t k = 0; k < n; k++) {
                if (a[k] == '\'')
                    ls_buf_adds(&b, "'\\''");
                else
                    ls_buf_addc(&b, a[k]);
            }
            ls_buf_addc(&b, '\'');
        }
        free(a);
    }
    return ls_buf_steal(&b);
}

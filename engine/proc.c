/*
 * Running programs (proc.h).
 *
 * The child is started with clone(CLONE_VM | CLONE_VFORK) -- what
 * posix_spawn does inside, minus its per-file-action rlimit lookups and
 * per-signal queries -- because the child must run code of ours before
 * the program: it resets every signal to its default, leads a new process
 * group, asks to be SIGKILLed when the engine dies (PR_SET_PDEATHSIG) and
 * checks that the engine is still its parent, records its group in the
 * run directory (orphans.h), then sets up fds and executes the program,
 * never through a shell.  A failed exec comes back through shared memory,
 * so "could not start" is never confused with "exited 127".  argv[0] is
 * looked up on the engine's PATH (an `env` input that sets PATH changes
 * the child's environment, not where its program is found).
 *
 * One poll() loop then does everything: writes stdin (non-blocking, so a
 * child that does not read cannot block us), drains stdout and stderr (each
 * kept up to the cap, the rest read and thrown away so the child never
 * blocks on a full pipe; every byte also goes to the optional sink),
 * watches the child through a pidfd (from clone), the deadline
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
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "orphans.h"
#include "registry.h"
#include "secret.h"

#define POLL_TICK_MS 50      /* the cancel flag is looked at this often */
#define DEFAULT_GRACE_MS 2000
#define DRAIN_AFTER_EXIT_MS 200 /* pipes held by an escaped grandchild */
#define BIG_READ (1 << 20)      /* a scanned stream: the pipe's size, one read per fill */

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

/* ---- the spawn -------------------------------------------------------- */

/* What the child needs, all prepared by the parent: between clone and
 * execve the child shares our memory and may only make system calls. */
typedef struct spawn_args {
    const char *const *argv;
    char *const *envp;
    char **paths;        /* where to look for the program, in order */
    const char *cwd;
    int in_fd, out_fd, err_fd;
    pid_t parent;        /* the engine: the child checks it still is its parent */
    uint64_t reset;      /* bit s-1: set signal s to its default (see reset_set) */
    long max_fd;         /* without close_range: close 3..max_fd-1 */
    ls_orphan_note note; /* records the child's group in the run directory */
    int err;             /* set by the child when it fails: errno */
} spawn_args;

/* The kernel's struct sigaction for rt_sigaction (no sa_restorer needed
 * for SIG_DFL). */
struct k_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

/* Runs in the child, on a stack inside the parent's frame, while the
 * parent is suspended (CLONE_VFORK).  Raw system calls only: no libc
 * state, no allocation, nothing a sanitizer intercepts.  The order
 * matters: signals to their defaults before the mask opens; the group and
 * the parent-death signal before anything can fork. */
__attribute__((no_sanitize("address", "undefined"))) static int child_main(void *p)
{
    spawn_args *a = p;
    struct k_sigaction dfl = {SIG_DFL, 0, NULL, 0};
    for (long s = 1; s < 65; s++)
        if (a->reset & (UINT64_C(1) << (s - 1)))
            syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof dfl.mask);
    long rc = syscall(SYS_setpgid, 0, 0);
    /* Dies with the engine; and if the engine already died, stop here. */
    if (rc == 0)
        rc = syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (rc == 0 && syscall(SYS_getppid) != a->parent)
        goto fail_quiet;
    if (rc == 0)
        ls_orphans_child_note(&a->note, (pid_t)syscall(SYS_getpid));
    if (rc == 0)
        rc = syscall(SYS_dup3, a->in_fd, 0, 0);
    if (rc >= 0)
        rc = syscall(SYS_dup3, a->out_fd, 1, 0);
    if (rc >= 0)
        rc = syscall(SYS_dup3, a->err_fd, 2, 0);
    /* Nothing else of ours leaks into the child: a journal or lock fd held
     * by a long-lived grandchild would outlive the run. */
    if (rc >= 0)
        rc = syscall(SYS_close_range, 3, ~0u, 0);
    if (rc < 0 && errno == ENOSYS) { /* a kernel before 5.9 */
        for (long fd = 3; fd < a->max_fd; fd++)
            syscall(SYS_close, fd);
        rc = 0;
    }
    if (rc >= 0 && a->cwd != NULL)
        rc = syscall(SYS_chdir, a->cwd);
    uint64_t none = 0;
    if (rc >= 0)
        rc = syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
    if (rc < 0) {
        a->err = errno;
        goto fail_quiet;
    }
    /* PATH lookup as execvp does it: a candidate that does not exist is
     * skipped; "permission denied" is reported when nothing else ran. */
    int err = ENOENT;
    bool denied = false;
    for (char **path = a->paths; *path != NULL; path++) {
        syscall(SYS_execve, *path, a->argv, a->envp);
        err = errno;
        if (err == EACCES)
            denied = true;
        else if (err != ENOENT && err != ENOTDIR)
            break;
    }
    a->err = denied && (err == ENOENT || err == ENOTDIR) ? EACCES : err;
fail_quiet:
    if (a->err == 0)
        a->err = ESRCH; /* the engine is gone: not started */
    syscall(SYS_exit, 127);
    return 127;
}

#define SPAWN_STACK (32 * 1024)

/* The signals a child resets to their default.  Looking at all 64 per
 * program costs 64 system calls in the child (posix_spawn's SETSIGDEF
 * does two per signal), so they are looked at once, at the first spawn:
 * every signal then ignored or caught (inherited SIG_IGN, sanitizer
 * handlers), plus those the engine itself changes later (run.c: INT,
 * TERM, HUP, PIPE; proc.c: PIPE, CHLD) and the job-control and user
 * signals a library might.  An embedder that changes another signal
 * after its first program ran must know that its children inherit an
 * ignored one (a caught one is reset by execve anyway). */
static uint64_t reset_bits;
static pthread_once_t reset_once = PTHREAD_ONCE_INIT;

static void reset_init(void)
{
    static const int always[] = {SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM, SIGCHLD, SIGALRM, SIGUSR1,
                                 SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH, SIGURG, SIGXFSZ, SIGXCPU};
    uint64_t bits = 0;
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        bits |= UINT64_C(1) << (always[i] - 1);
    for (int s = 1; s < 65; s++) {
        if (s == SIGKILL || s == SIGSTOP || (s > 31 && (s < SIGRTMIN || s > SIGRTMAX)))
            continue;
        struct sigaction cur;
        if (sigaction(s, NULL, &cur) == 0 && cur.sa_handler != SIG_DFL)
            bits |= UINT64_C(1) << (s - 1);
    }
    reset_bits = bits;
}

static uint64_t reset_set(void)
{
    pthread_once(&reset_once, reset_init);
    return reset_bits;
}

/* The fd limit, for kernels without close_range (looked up once). */
static long max_fd(void)
{
    static long n;
    if (n == 0) {
        long m = sysconf(_SC_OPEN_MAX);
        n = m > 0 && m < 65536 ? m : 65536;
    }
    return n;
}

/* "dir/prog" for each PATH entry (or prog itself when it has a '/'), in
 * one allocation: pointers, then the strings.  NULL when out of memory. */
static char **search_paths(const char *prog)
{
    const char *path = NULL;
    size_t plen = strlen(prog), nd = 1, bytes = plen + 1;
    if (strchr(prog, '/') == NULL) {
        path = getenv("PATH");
        if (path == NULL || *path == '\0')
            path = "/bin:/usr/bin";
        nd = 1;
        for (const char *c = path; *c; c++)
            nd += *c == ':';
        bytes = strlen(path) + nd * (plen + 2);
    }
    char **v = malloc((nd + 1) * sizeof *v + bytes);
    if (v == NULL)
        return NULL;
    char *out = (char *)(v + nd + 1);
    if (path == NULL) {
        memcpy(out, prog, plen + 1);
        v[0] = out;
        v[1] = NULL;
        return v;
    }
    size_t n = 0;
    for (const char *d = path;; ) {
        const char *e = strchr(d, ':');
        size_t dl = e ? (size_t)(e - d) : strlen(d);
        v[n++] = out;
        if (dl > 0) { /* an empty entry is the current directory */
            memcpy(out, d, dl);
            out += dl;
            *out++ = '/';
        }
        memcpy(out, prog, plen + 1);
        out += plen + 1;
        if (e == NULL)
            break;
        d = e + 1;
    }
    v[n] = NULL;
    return v;
}

/* stdin of a child given none: one /dev/null, opened once. */
static int dev_null(void)
{
    static int fd = -1;
    if (fd < 0) {
        int n = open("/dev/null", O_RDONLY | O_CLOEXEC);
        fd = n >= 0 ? lift_fd(n) : -1;
    }
    return fd;
}

/* Starts the child (see child_main) and returns 0 with *pid and *pidfd
 * (-1 when the kernel gives none), or an errno value.  The child's group
 * is recorded in `note` (orphans.h), released by the caller. */
static int spawn_child(const ls_proc_opts *o, int in_fd, int out_w, int err_w, char **envp,
                       ls_orphan_note *note, pid_t *pid, int *pidfd)
{
    spawn_args a;
    memset(&a, 0, sizeof a);
    a.argv = o->argv;
    a.envp = envp;
    a.paths = search_paths(o->argv[0]);
    if (a.paths == NULL)
        return ENOMEM;
    a.cwd = o->cwd;
    a.in_fd = in_fd >= 0 ? in_fd : dev_null();
    if (a.in_fd < 0) {
        free(a.paths);
        return errno ? errno : EMFILE;
    }
    a.out_fd = out_w;
    a.err_fd = err_w;
    a.parent = getpid();
    a.reset = reset_set();
    a.max_fd = max_fd();
    ls_orphans_prepare(note);
    a.note = *note;

    /* The child's stack lies in this frame: the parent is suspended until
     * the child has executed the program or given up (CLONE_VFORK). */
    _Alignas(16) char stack[SPAWN_STACK];
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* no handler of ours runs in the child */
    int fd = -1;
    pid_t p = clone(child_main, stack + sizeof stack, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &a, &fd);
    if (p < 0 && errno == EINVAL) { /* a kernel before 5.2: no CLONE_PIDFD */
        fd = -1;
        p = clone(child_main, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    }
    int cerr = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(a.paths);
    if (p < 0) {
        ls_orphans_release(note);
        return cerr ? cerr : EAGAIN;
    }
    if (a.err != 0) { /* it never ran the program: reap it and say why */
        ls_orphans_release(note);
        if (fd >= 0)
            close(fd);
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
        return a.err;
    }
    *pid = p;
    *pidfd = fd >= 0 ? lift_fd(fd) : -1;
    return 0;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- supervising the child -------------------------------------------- */

typedef struct stream {
    int fd;
    int which;             /* 1: stdout, 2: stderr (for the sink) */
    ls_buf buf;
} stream;

typedef struct child {
    const ls_proc_opts *o;
    pid_t pid;             /* also the process group id */
    int pidfd;             /* readable when the child exits; -1: none */
    bool pid_ready;        /* the pidfd said so */
    int in_fd;             /* our end of its stdin; -1: closed */
    size_t in_off;         /* stdin bytes written so far */
    stream out, err;
    int grace_ms;
    bool exited;           /* a zombie, not yet reaped */
    bool lost;             /* reaped by someone else: no status */
    int64_t term_at;       /* when SIGTERM went to the group; 0: not yet */
    int64_t drain_until;   /* after exit: stop waiting for EOF then */
    ls_orphan_note note;   /* its group, recorded in the run directory */
    char *big;             /* BIG_READ bytes for a scanned (large) stream; NULL: 64 KiB on the stack */
} child;

void (*ls_proc_output_hook)(const char *p, size_t n);

/* One read (the fd was reported readable, so it does not block; our ends
 * stay blocking, which saves a failing read per wake-up); false at EOF or
 * on a hard error.  Every byte goes to the sink; past the cap the bytes
 * are dropped from the capture, so the child never blocks. */
static bool drain(const child *c, stream *s)
{
    char small[65536];
    char *chunk = c->big != NULL ? c->big : small;
    size_t size = c->big != NULL ? BIG_READ : sizeof small;
    for (;;) {
        ssize_t n = read(s->fd, chunk, size);
        if (n > 0) {
            if (ls_proc_output_hook)
                ls_proc_output_hook(chunk, (size_t)n);
            if (c->o->sink != NULL)
                c->o->sink(c->o->sink_ctx, s->which, chunk, (size_t)n);
            if (!s->buf.overflow)
                (void)ls_buf_add(&s->buf, chunk, (size_t)n);
            return true;
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

/* The child has exited and is a zombie: the zombie pins the pid, so the
 * group id cannot have been reused when the group gets SIGKILL, and
 * whatever it left running in its group (a backgrounded grandchild still
 * holding our pipes) dies with it.  Its record is cleared only then,
 * before it is reaped. */
static void exited(child *c, int64_t now)
{
    c->exited = true;
    if (!c->lost)
        kill(-c->pid, SIGKILL);
    ls_orphans_release(&c->note);
    c->drain_until = now + DRAIN_AFTER_EXIT_MS;
    close_fd(&c->in_fd);
    close_fd(&c->pidfd);
}

/* Without a pidfd: notices the exit by looking (without reaping). */
static void check_exit(child *c, int64_t now)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int rc = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    if (rc != 0 && errno == ECHILD) {
        /* Reaped behind our back (SIGCHLD set to SIG_IGN): the exit status
         * is lost and the pid may be reused, so no group kill. */
        c->lost = true;
        exited(c, now);
    } else if (rc == 0 && si.si_pid == c->pid) {
        exited(c, now);
    }
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
    int np = 0, i_out = -1, i_err = -1, i_in = -1, i_pid = -1;
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
    if (c->pidfd >= 0 && !c->exited) {
        i_pid = np;
        pfd[np++] = (struct pollfd){.fd = c->pidfd, .events = POLLIN};
    }

    int pr = poll(pfd, (nfds_t)np, poll_wait_ms(c, now));
    if (pr < 0 && errno != EINTR) {
        /* Cannot watch the pipes any more (never seen): rather than spin or
         * leave the child blocked on a full pipe, end it; its exit is then
         * noticed and the drain period bounds the rest. */
        kill(-c->pid, SIGKILL);
        return;
    }
    if (pr <= 0)
        return; /* a tick or EINTR: the caller looks at the clock and flags */
    /* A hang-up without POLLIN is an empty pipe with no writer left: end
     * of file, known without the read() that would return 0. */
    if (i_out >= 0 && pfd[i_out].revents && (!(pfd[i_out].revents & POLLIN) || !drain(c, &c->out)))
        close_fd(&c->out.fd);
    if (i_err >= 0 && pfd[i_err].revents && (!(pfd[i_err].revents & POLLIN) || !drain(c, &c->err)))
        close_fd(&c->err.fd);
    if (i_in >= 0 && pfd[i_in].revents) {
        if (pfd[i_in].revents & (POLLERR | POLLHUP))
            close_fd(&c->in_fd);
        else
            feed_stdin(c);
    }
    if (i_pid >= 0 && pfd[i_pid].revents)
        c->pid_ready = true;
}

static void supervise(child *c, ls_proc_result *res)
{
    for (;;) {
        int64_t now = ls_now_ms();
        if (!c->exited) {
            /* With a pidfd, its readiness says the child is a zombie (we
             * keep SIGCHLD from reaping it): no waitid needed. */
            if (c->pid_ready)
                exited(c, now);
            else if (c->pidfd < 0)
                check_exit(c, now);
        }
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
    /* A scanned stream is usually a large one: a bigger pipe means fewer
     * wake-ups (best effort; the system's limit may refuse). */
    if (o->sink != NULL)
        (void)fcntl(out_p[1], F_SETPIPE_SZ, BIG_READ);

    /* Writing stdin to a child that has exited must give EPIPE, not kill
     * the engine; the child gets SIGPIPE back at its default.  Only stdin
     * is ever written. */
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
    int rc = spawn_child(o, in_p[0], out_p[1], err_p[1], envp, &c.note, &c.pid, &c.pidfd);
    free(envp);
    close_fd(&in_p[0]);
    close_fd(&out_p[1]);
    close_fd(&err_p[1]);
    if (rc != 0) {
        if (feeds)
            sigaction(SIGPIPE, &old_pipe, NULL);
        if (chld_changed)
            sigaction(SIGCHLD, &old_chld, NULL);
        /* ENOMEM: an allocation of ours failed (or the kernel's): say it in
         * the words of the out-of-memory policy (diag.h). */
        start_error(res, prog, "%s", rc == ENOMEM ? "out of memory" : strerror(rc));
        goto fail;
    }
    res->started = true;

    c.o = o;
    c.big = o->sink != NULL ? malloc(BIG_READ) : NULL; /* NULL: the stack buffer does */
    c.grace_ms = o->grace_ms > 0 ? o->grace_ms : DEFAULT_GRACE_MS;
    size_t cap = o->cap ? o->cap : LS_PROC_DEFAULT_CAP;
    c.out.fd = out_p[0];
    c.out.which = 1;
    c.err.fd = err_p[0];
    c.err.which = 2;
    c.in_fd = in_p[1];
    out_p[0] = err_p[0] = in_p[1] = -1;
    ls_buf_init(&c.out.buf, cap);
    ls_buf_init(&c.err.buf, cap);
    if (c.in_fd >= 0) {
        set_nonblock(c.in_fd); /* a child that does not read cannot block us */
        if (o->stdin_len == 0)
            close_fd(&c.in_fd);
    }

    supervise(&c, res);

    close_fd(&c.out.fd);
    close_fd(&c.err.fd);
    close_fd(&c.in_fd);
    close_fd(&c.pidfd);
    ls_orphans_release(&c.note); /* already, unless the exit was never seen */
    free(c.big);
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

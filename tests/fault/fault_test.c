/*
 * Error paths that run (issue 13): a failing allocator and a failing disk,
 * looped over whole commands.  fault_hooks.h says what is injected and how.
 *
 *   fault_test alloc [--stride S] -- COMMAND ARGS...
 *       Runs `lockstep COMMAND ARGS...` (in process: the commands of
 *       cli.h) once to count its allocations (K), then again for every
 *       N = 1, 1+S, 1+2S, ... <= K with the Nth allocation failing.  Each
 *       run must end with a clean exit: the output of the run without
 *       faults, or a non-zero exit that says "out of memory" (and never 0
 *       when the command without faults failed).  No signal, no sanitizer
 *       report, no leak (under ASan, LeakSanitizer checks each run at exit).
 *
 *   fault_test alloc-run [--stride S] PLAYBOOK
 *   fault_test io PLAYBOOK
 *       A small run of PLAYBOOK (fault_small.yaml: exec states that append
 *       their name to DIR/log, a decision state, a secret) in a fresh state
 *       directory for each N, with the Nth allocation failing (alloc-run),
 *       or the Nth journal write or fsync failing with ENOSPC or EIO (io).
 *       Then: the journal still verifies (`status --verify`), `resume`
 *       finishes the run (saying --assume STATE=ok only for a state whose
 *       action did run), and no action ran twice or was skipped.
 *
 * The stride (default 1; LOCKSTEP_FAULT_STRIDE overrides it) keeps the
 * ctest runs short; LOCKSTEP_FAULT_STRIDE=1 is the exhaustive run that
 * fails every allocation (docs/runs.md, "Testing the error paths").
 *
 *   fault_test alloc --at N -- COMMAND ARGS...
 *       Just the Nth allocation failing, in this process: for a debugger.
 *
 * Every command runs in a forked child, so that each starts from the same
 * state and an exit from deep inside (ls_oom) ends only that child.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fault_hooks.h"

typedef struct outcome {
    int status;      /* waitpid's */
    char *out, *err; /* what it printed */
    long allocs;     /* allocations made (when it returned) */
    long writes, syncs;
    bool returned;   /* the command returned (not ls_oom's _exit) */
} outcome;

static int failures;
static char work[4096]; /* this test's scratch directory */

static void fail(const outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const outcome *o, const char *fmt, ...)
{
    failures++;
    fprintf(stderr, "FAIL: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (o != NULL) {
        if (WIFSIGNALED(o->status))
            fprintf(stderr, "  killed by signal %d\n", WTERMSIG(o->status));
        else
            fprintf(stderr, "  exit %d\n", WEXITSTATUS(o->status));
        fprintf(stderr, "  stdout: %.4000s\n  stderr: %.8000s\n", o->out, o->err);
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return strdup("");
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf != NULL && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL) {
        fputs("fault_test: out of memory\n", stderr);
        exit(99);
    }
    buf[n] = '\0';
    return buf;
}

static void outcome_free(outcome *o)
{
    free(o->out);
    free(o->err);
    memset(o, 0, sizeof *o);
}

typedef int (*command_fn)(int, char **);

static command_fn command_of(const char *name)
{
    static const struct {
        const char *name;
        command_fn fn;
    } cmds[] = {{"validate", ls_cmd_validate}, {"plan", ls_cmd_plan},     {"graph", ls_cmd_graph},
                {"run", ls_cmd_run},           {"resume", ls_cmd_resume}, {"status", ls_cmd_status},
                {"test", ls_cmd_test},         {"actions", ls_cmd_actions}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmds[i].name, name) == 0)
            return cmds[i].fn;
    fprintf(stderr, "fault_test: unknown command %s\n", name);
    exit(99);
}

typedef struct faults {
    long alloc_at;      /* 0: none */
    fault_io_mode io;   /* with io_at 0: only counted */
    long io_at;
    const char *io_dir; /* the state directory whose runs/ is watched */
} faults;

struct report {
    long allocs, writes, syncs;
};

/* Runs argv (argv[0] the command) in a child with the given faults. */
static void run_child(char **argv, const faults *f, outcome *o)
{
    memset(o, 0, sizeof *o);
    char outp[4200], errp[4200];
    snprintf(outp, sizeof outp, "%s/stdout", work);
    snprintf(errp, sizeof errp, "%s/stderr", work);
    int pfd[2];
    if (pipe(pfd) != 0) {
        perror("fault_test: pipe");
        exit(99);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fault_test: fork");
        exit(99);
    }
    if (pid == 0) {
        close(pfd[0]);
        int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fi = open("/dev/null", O_RDONLY);
        if (fo < 0 || fe < 0 || fi < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0 || dup2(fi, 0) < 0)
            _exit(98);
        close(fo);
        close(fe);
        close(fi);
        int argc = 0;
        while (argv[argc] != NULL)
            argc++;
        command_fn fn = command_of(argv[0]);
        char prefix[4200] = "";
        if (f->io_dir != NULL)
            snprintf(prefix, sizeof prefix, "%s/runs", f->io_dir);
        fault_io_reset(f->io, f->io_at, prefix);
        fault_alloc_reset(f->alloc_at);
        int rc = fn(argc, argv);
        struct report rep = {fault_alloc_count, fault_io_writes, fault_io_syncs};
        fault_alloc_reset(0);
        fault_io_reset(FAULT_IO_OFF, 0, NULL);
        ssize_t w = write(pfd[1], &rep, sizeof rep);
        (void)w;
        fflush(NULL);
        exit(rc); /* LeakSanitizer checks here */
    }
    close(pfd[1]);
    struct report rep;
    ssize_t r = read(pfd[0], &rep, sizeof rep);
    close(pfd[0]);
    while (waitpid(pid, &o->status, 0) < 0)
        if (errno != EINTR) {
            perror("fault_test: waitpid");
            exit(99);
        }
    o->returned = r == (ssize_t)sizeof rep;
    if (o->returned) {
        o->allocs = rep.allocs;
        o->writes = rep.writes;
        o->syncs = rep.syncs;
    }
    o->out = slurp(outp);
    o->err = slurp(errp);
}

static bool exited(const outcome *o, int code)
{
    return WIFEXITED(o->status) && WEXITSTATUS(o->status) == code;
}

static bool clean_exit(const outcome *o)
{
    return WIFEXITED(o->status) && WEXITSTATUS(o->status) <= 4;
}

static long stride_of(long given)
{
    const char *e = getenv("LOCKSTEP_FAULT_STRIDE");
    long s = e != NULL ? strtol(e, NULL, 10) : given;
    return s > 0 ? s : 1;
}

/* ---- fault_test alloc -- COMMAND ARGS ---- */

static int loop_alloc(char **argv, long stride)
{
    faults f = {0};
    outcome base;
    run_child(argv, &f, &base);
    if (!clean_exit(&base) || !base.returned) {
        fail(&base, "%s without faults did not end cleanly", argv[0]);
        return 1;
    }
    int code = WEXITSTATUS(base.status);
    long k = base.allocs, tried = 0;
    for (long n = 1; n <= k; n += stride) {
        f.alloc_at = n;
        outcome o;
        run_child(argv, &f, &o);
        tried++;
        bool oom = strstr(o.err, "out of memory") != NULL || strstr(o.out, "out of memory") != NULL;
        if (!clean_exit(&o))
            fail(&o, "%s with allocation %ld failing: not a clean exit", argv[0], n);
        else if (exited(&o, code) && !oom &&
                 (strcmp(o.out, base.out) != 0 || strcmp(o.err, base.err) != 0))
            fail(&o, "%s with allocation %ld failing: a different answer, and no word of it", argv[0], n);
        else if (!exited(&o, code) && !oom)
            fail(&o, "%s with allocation %ld failing: an error that does not say out of memory", argv[0], n);
        else if (code != 0 && exited(&o, 0))
            fail(&o, "%s with allocation %ld failing: success where it fails without faults", argv[0], n);
        else if (oom && exited(&o, 0))
            fail(&o, "%s with allocation %ld failing: out of memory, and exit 0", argv[0], n);
        outcome_free(&o);
    }
    printf("%s: %ld allocations, %ld failed in turn (stride %ld)\n", argv[0], k, tried, stride);
    outcome_free(&base);
    return 0;
}

/* ---- the small run ---- */

typedef struct small {
    char *playbook;
    char sd[4200];  /* state dir */
    char dir[4200]; /* where the actions write their log */
    char dirset[4300];
} small;

static const char *const small_states[] = {"first", "second", "third"};
enum { NSMALL = 3 };

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d != NULL && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char sub[4200];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_rf(sub);
        }
        if (d != NULL)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void small_fresh(small *s)
{
    snprintf(s->sd, sizeof s->sd, "%s/state", work);
    snprintf(s->dir, sizeof s->dir, "%s/out", work);
    snprintf(s->dirset, sizeof s->dirset, "dir=%s", s->dir);
    rm_rf(s->sd);
    rm_rf(s->dir);
    if (mkdir(s->dir, 0700) != 0) {
        perror("fault_test: mkdir");
        exit(99);
    }
}

/* The one run id in the state dir, or "" (nothing was created). */
static void small_run_id(const small *s, char *id, size_t idlen)
{
    char runs[4300];
    snprintf(runs, sizeof runs, "%s/runs", s->sd);
    id[0] = '\0';
    DIR *d = opendir(runs);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            snprintf(id, idlen, "%s", de->d_name);
    if (d != NULL)
        closedir(d);
}

/* How many times each state's action ran, from DIR/log. */
static void small_counts(const small *s, int counts[NSMALL])
{
    char path[4300];
    snprintf(path, sizeof path, "%s/log", s->dir);
    char *log = slurp(path);
    for (int i = 0; i < NSMALL; i++) {
        counts[i] = 0;
        size_t len = strlen(small_states[i]);
        for (const char *p = log; (p = strstr(p, small_states[i])) != NULL; p += len)
            if ((p == log || p[-1] == '\n') && p[len] == '\n')
                counts[i]++;
    }
    free(log);
}

/* After a faulted run that may have left a run to resume: the journal
 * verifies, resume finishes it, every action ran exactly once.  `may_fail`:
 * an action that never ran may be settled as failed (the allocator can
 * end the engine between action_started and the action's start). */
static void small_settle(small *s, const char *what, long n, int rc, bool may_fail)
{
    char id[256];
    small_run_id(s, id, sizeof id);
    int counts[NSMALL];
    faults none = {0};
    outcome o;
    if (rc == 2) {
        /* nothing ran */
        small_counts(s, counts);
        for (int i = 0; i < NSMALL; i++)
            if (counts[i] != 0)
                fail(NULL, "%s %ld: exit 2 (nothing ran) but an action ran", what, n);
        return;
    }
    if (id[0] == '\0') {
        fail(NULL, "%s %ld: no run directory", what, n);
        return;
    }
    char *verify[] = {(char[]){"status"}, (char[]){"--verify"}, id, (char[]){"--state-dir"}, s->sd, NULL};
    run_child(verify, &none, &o);
    if (!exited(&o, 0))
        fail(&o, "%s %ld: the journal does not verify after the fault", what, n);
    outcome_free(&o);
    if (rc == 1) {
        /* the failure was the action's (it could not start) and the run
         * took its failure path: finished, on record */
        small_counts(s, counts);
        for (int i = 0; i < NSMALL; i++)
            if (counts[i] > 1)
                fail(NULL, "%s %ld: an action ran twice", what, n);
        return;
    }
    char *resume[] = {(char[]){"resume"}, id, (char[]){"--state-dir"}, s->sd, NULL};
    run_child(resume, &none, &o);
    bool failed_terminal = false;
    if (rc == 0 && exited(&o, 2) && strstr(o.err, "already finished") != NULL) {
        /* the run finished, journal and all: nothing to resume */
        outcome_free(&o);
        small_counts(s, counts);
        for (int i = 0; i < NSMALL; i++)
            if (counts[i] != 1)
                fail(NULL, "%s %ld: an action ran twice or never", what, n);
        return;
    }
    for (int round = 0; round < 2 && exited(&o, 3); round++) {
        /* an action of unknown outcome: settle it from the log */
        const char *a = strstr(o.out, "--assume ");
        if (a == NULL)
            a = strstr(o.err, "--assume ");
        char state[64] = "";
        if (a != NULL)
            sscanf(a + 9, "%63[a-z_]", state);
        small_counts(s, counts);
        int idx = -1;
        for (int i = 0; i < NSMALL; i++)
            if (strcmp(small_states[i], state) == 0)
                idx = i;
        if (idx < 0) {
            fail(&o, "%s %ld: resume halted, and not for --assume", what, n);
            outcome_free(&o);
            return;
        }
        if (counts[idx] == 0 && !may_fail) {
            fail(&o, "%s %ld: resume asks about an action that never ran", what, n);
            outcome_free(&o);
            return;
        }
        char assume[128];
        snprintf(assume, sizeof assume, "%s=%s", state, counts[idx] ? "ok" : "failed");
        failed_terminal = counts[idx] == 0;
        outcome_free(&o);
        char *again[] = {(char[]){"resume"}, id, (char[]){"--state-dir"}, s->sd, (char[]){"--assume"}, assume, NULL};
        run_child(again, &none, &o);
    }
    if (!exited(&o, failed_terminal ? 1 : 0))
        fail(&o, "%s %ld: resume did not finish the run", what, n);
    outcome_free(&o);
    run_child(verify, &none, &o);
    if (!exited(&o, 0))
        fail(&o, "%s %ld: the journal does not verify after resume", what, n);
    outcome_free(&o);
    small_counts(s, counts);
    for (int i = 0; i < NSMALL; i++)
        if (counts[i] > 1 || (counts[i] == 0 && !failed_terminal))
            fail(NULL, "%s %ld: an action ran twice or never", what, n);
}

static void small_argv(small *s, char *argv[8])
{
    static char run[] = "run", state_dir[] = "--state-dir", set[] = "--set";
    argv[0] = run;
    argv[1] = s->playbook;
    argv[2] = state_dir;
    argv[3] = s->sd;
    argv[4] = set;
    argv[5] = s->dirset;
    argv[6] = NULL;
}

static int loop_alloc_run(char *playbook, long stride)
{
    small s = {.playbook = playbook};
    char *argv[8];
    small_argv(&s, argv);
    small_fresh(&s);
    faults f = {0};
    outcome base;
    run_child(argv, &f, &base);
    if (!exited(&base, 0)) {
        fail(&base, "the small run %s without faults failed", playbook);
        return 1;
    }
    long k = base.allocs, tried = 0;
    outcome_free(&base);
    for (long n = 1; n <= k; n += stride) {
        small_fresh(&s);
        f.alloc_at = n;
        outcome o;
        run_child(argv, &f, &o);
        tried++;
        bool oom = strstr(o.err, "out of memory") != NULL || strstr(o.out, "out of memory") != NULL;
        int rc = WIFEXITED(o.status) ? WEXITSTATUS(o.status) : -1;
        if (!clean_exit(&o) || rc == 4)
            fail(&o, "run with allocation %ld failing: not a clean exit", n);
        else if (rc != 0 && !oom)
            fail(&o, "run with allocation %ld failing: an error that does not say out of memory", n);
        else
            small_settle(&s, "run with allocation failing", n, rc, true);
        outcome_free(&o);
    }
    printf("run: %ld allocations, %ld failed in turn (stride %ld)\n", k, tried, stride);
    return 0;
}

static int loop_io(char *playbook)
{
    static const struct {
        fault_io_mode mode;
        const char *name;
    } modes[] = {{FAULT_IO_ENOSPC, "ENOSPC on write"},
                 {FAULT_IO_EIO_WRITE, "EIO on write"},
                 {FAULT_IO_EIO_SYNC, "EIO on fsync"}};
    small s = {.playbook = playbook};
    char *argv[8];
    small_argv(&s, argv);
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        small_fresh(&s);
        faults f = {.io = modes[m].mode, .io_at = 0, .io_dir = s.sd};
        outcome base;
        run_child(argv, &f, &base);
        if (!exited(&base, 0)) {
            fail(&base, "the small run %s without faults failed", playbook);
            return 1;
        }
        long k = modes[m].mode == FAULT_IO_EIO_SYNC ? base.syncs : base.writes;
        outcome_free(&base);
        for (long n = 1; n <= k; n++) {
            small_fresh(&s);
            f.io_at = n;
            outcome o;
            run_child(argv, &f, &o);
            int rc = WIFEXITED(o.status) ? WEXITSTATUS(o.status) : -1;
            bool said = strstr(o.err, "cannot write") != NULL;
            if (!clean_exit(&o) || rc == 1 || rc == 4)
                fail(&o, "run with %s at %ld: not a clean halt", modes[m].name, n);
            else if (rc != 0 && !said)
                fail(&o, "run with %s at %ld: the error does not say what failed", modes[m].name, n);
            else
                small_settle(&s, modes[m].name, n, rc, false);
            outcome_free(&o);
        }
        printf("run: %ld journal %s, each failing in turn with %s\n", k,
               modes[m].mode == FAULT_IO_EIO_SYNC ? "fsyncs" : "writes", modes[m].name);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: fault_test alloc [--stride S] -- COMMAND ARGS... | alloc-run [--stride S] PLAYBOOK | "
              "io PLAYBOOK\n",
              stderr);
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(work, sizeof work, "%s/lockstep-fault-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(work) == NULL) {
        perror("fault_test: mkdtemp");
        return 99;
    }
    /* the small run's secret param reads it (resume reads it again) */
    setenv("FAULT_TOKEN", "tok-fault-secret-1234", 1);
    int a = 2;
    long stride = 1;
    if (a + 1 < argc && strcmp(argv[a], "--stride") == 0) {
        stride = strtol(argv[a + 1], NULL, 10);
        a += 2;
    }
    stride = stride_of(stride);
    if (a + 1 < argc && strcmp(argv[a], "--at") == 0 && strcmp(argv[1], "alloc") == 0 &&
        a + 3 < argc && strcmp(argv[a + 2], "--") == 0) {
        /* one allocation failing, in this process: for a debugger */
        rm_rf(work);
        fault_alloc_reset(strtol(argv[a + 1], NULL, 10));
        int argc2 = argc - (a + 3);
        return command_of(argv[a + 3])(argc2, argv + a + 3);
    }
    int rc;
    if (strcmp(argv[1], "alloc") == 0 && a < argc && strcmp(argv[a], "--") == 0 && a + 1 < argc)
        rc = loop_alloc(argv + a + 1, stride);
    else if (strcmp(argv[1], "alloc-run") == 0 && a < argc)
        rc = loop_alloc_run(argv[a], stride);
    else if (strcmp(argv[1], "io") == 0 && a < argc)
        rc = loop_io(argv[a]);
    else {
        fputs("fault_test: bad arguments\n", stderr);
        rc = 2;
    }
    rm_rf(work);
    if (failures > 0) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    return rc;
}

/*
 * ls_proc_run: exit codes, capture, caps, stdin, env, cwd, start errors,
 * timeouts and cancel killing the whole process group, argv display.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "proc.h"
#include "registry.h"
#include "secret.h"

static int failures;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            failures++;                                                       \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

static char tmpdir[] = "/tmp/ls-proc-test-XXXXXX";

static int run(const char *const *argv, ls_proc_opts *o, ls_proc_result *r)
{
    o->argv = argv;
    return ls_proc_run(o, r);
}

/* How long a check waits for something that must happen: a bound for a
 * very busy machine, never a measure (the processes waited for sleep 100
 * seconds when they are not killed). */
#define WAIT_BOUND_MS 60000

/* A process is gone when kill(pid, 0) says so, or when it is a zombie
 * waiting for init to reap it (it runs nothing and holds no pipe).  Waits
 * up to WAIT_BOUND_MS for init. */
static bool process_gone(long pid)
{
    for (int64_t end = ls_now_ms() + WAIT_BOUND_MS; ls_now_ms() < end;) {
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            return true;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = '\0';
            const char *rp = strrchr(buf, ')');
            if (rp != NULL && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
                return true;
        }
        usleep(10000);
    }
    return false;
}

/* No live process (zombies awaiting init do not count) is left in process
 * group pgid.  Reads /proc/PID/stat: "pid (comm) state ppid pgrp ...". */
static bool group_gone(long pgid)
{
    for (int64_t end = ls_now_ms() + WAIT_BOUND_MS; ls_now_ms() < end;) {
        bool found = false;
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL && !found) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9')
                continue;
            char path[300], buf[512];
            snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
            FILE *f = fopen(path, "r");
            if (f == NULL)
                continue;
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = '\0';
            const char *rp = strrchr(buf, ')');
            char state;
            long ppid, pgrp;
            if (rp != NULL && sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3)
                found = pgrp == pgid && state != 'Z' && state != 'X';
        }
        if (d != NULL)
            closedir(d);
        if (!found)
            return true;
        usleep(10000);
    }
    return false;
}

static void test_exit_codes(void)
{
    ls_proc_opts o = {0};
    ls_proc_result r;
    const char *a1[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    CHECK(run(a1, &o, &r) == 0, "start: %s", r.start_error);
    CHECK(r.started, "started");
    CHECK(r.exit_code == 3, "exit %d", r.exit_code);
    CHECK(r.term_signal == 0, "signal %d", r.term_signal);
    CHECK(strcmp(r.out, "out\n") == 0 && r.out_len == 4, "out '%s'", r.out);
    CHECK(strcmp(r.err, "err\n") == 0 && r.err_len == 4, "err '%s'", r.err);
    CHECK(!r.truncated && !r.timed_out && !r.cancelled, "flags");
    ls_value v = ls_proc_result_value(&r);
    char *j = ls_value_to_json(v, NULL);
    char expect[256];
    snprintf(expect, sizeof expect,
             "{\"exit_code\":3,\"stdout\":\"out\\n\",\"stderr\":\"err\\n\",\"duration_ms\":%lld,\"truncated\":false}",
             (long long)r.duration_ms);
    CHECK(j && strcmp(j, expect) == 0, "value %s", j ? j : "(null)");
    free(j);
    ls_value_free(v);
    ls_proc_result_free(&r);

    /* 127 from the program itself is an exit code, not a start failure */
    const char *a2[] = {"sh", "-c", "exit 127", NULL};
    CHECK(run(a2, &o, &r) == 0 && r.started && r.exit_code == 127, "exit 127: %d", r.exit_code);
    ls_proc_result_free(&r);

    const char *a3[] = {"sh", "-c", "kill -9 $$", NULL};
    CHECK(run(a3, &o, &r) == 0 && r.exit_code == -1 && r.term_signal == SIGKILL,
          "signal: exit %d sig %d", r.exit_code, r.term_signal);
    ls_proc_result_free(&r);

    const char *a4[] = {"true", NULL};
    CHECK(run(a4, &o, &r) == 0 && r.exit_code == 0 && r.out_len == 0 && strcmp(r.out, "") == 0,
          "true: %d", r.exit_code);
    ls_proc_result_free(&r);
}

static void test_big_output(void)
{
    /* 10 MB on stdout while 10 MB go to stderr at the same time: both pipes
     * must be drained or the child blocks forever. */
    ls_proc_opts o = {0};
    ls_proc_result r;
    const char *a[] = {"sh", "-c",
                       "head -c 10485760 /dev/zero | tr '\\0' x & head -c 10485760 /dev/zero >&2; wait",
                       NULL};
    o.deadline_ms = ls_now_ms() + 300000;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    CHECK(run(a, &o, &r) == 0, "start");
    getrusage(RUSAGE_SELF, &ru1);
    /* 20 MB went through; the engine's peak grows by the two capped
     * buffers (each at most twice the cap once grown), not by the output */
    CHECK(ru1.ru_maxrss - ru0.ru_maxrss < 8 * 1024, "peak RSS grew by %ld KiB", ru1.ru_maxrss - ru0.ru_maxrss);
    CHECK(!r.timed_out && r.exit_code == 0, "exit %d timed_out %d", r.exit_code, r.timed_out);
    CHECK(r.truncated, "truncated");
    CHECK(r.out_len == LS_PROC_DEFAULT_CAP, "out_len %zu", r.out_len);
    CHECK(r.err_len == LS_PROC_DEFAULT_CAP, "err_len %zu", r.err_len);
    CHECK(r.out[0] == 'x' && r.out[r.out_len - 1] == 'x' && r.out[r.out_len] == '\0', "content");
    ls_proc_result_free(&r);

    /* a small cap is honoured exactly */
    o.cap = 10;
    const char *b[] = {"sh", "-c", "echo 0123456789abcdef", NULL};
    CHECK(run(b, &o, &r) == 0 && r.out_len == 10 && r.truncated && strcmp(r.out, "0123456789") == 0,
          "cap 10: %zu '%s'", r.out_len, r.out);
    ls_proc_result_free(&r);
}

static void test_stdin(void)
{
    size_t n = 5u << 20;
    char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 26);
    ls_proc_opts o = {0};
    ls_proc_result r;
    o.stdin_data = data;
    o.stdin_len = n;
    o.cap = 8u << 20;
    o.deadline_ms = ls_now_ms() + 300000;
    const char *cat[] = {"cat", NULL};
    CHECK(run(cat, &o, &r) == 0 && r.exit_code == 0, "cat exit %d", r.exit_code);
    CHECK(r.out_len == n && memcmp(r.out, data, n) == 0 && !r.truncated, "echoed %zu of %zu", r.out_len, n);
    ls_proc_result_free(&r);

    /* a child that never reads its 5 MB: no hang, no SIGPIPE for us */
    const char *tr[] = {"true", NULL};
    CHECK(run(tr, &o, &r) == 0 && r.exit_code == 0 && !r.timed_out, "true with stdin: %d", r.exit_code);
    ls_proc_result_free(&r);

    /* no stdin: /dev/null, so a reader sees EOF at once */
    ls_proc_opts o2 = {0};
    o2.deadline_ms = ls_now_ms() + 300000;
    CHECK(run(cat, &o2, &r) == 0 && r.exit_code == 0 && r.out_len == 0 && !r.timed_out, "cat /dev/null");
    ls_proc_result_free(&r);

    /* empty stdin */
    o2.stdin_data = "";
    o2.stdin_len = 0;
    CHECK(run(cat, &o2, &r) == 0 && r.exit_code == 0 && r.out_len == 0 && !r.timed_out, "cat empty");
    ls_proc_result_free(&r);
    free(data);
}

static void test_env_cwd(void)
{
    setenv("LS_TEST_INHERITED", "kept", 1);
    setenv("LS_TEST_OVERRIDDEN", "old", 1);
    const char *env[] = {"LS_TEST_ADDED=new value", "LS_TEST_OVERRIDDEN=new", NULL};
    ls_proc_opts o = {0};
    ls_proc_result r;
    o.env_add = env;
    const char *a[] = {"sh", "-c",
                       "echo \"$LS_TEST_INHERITED|$LS_TEST_ADDED|$LS_TEST_OVERRIDDEN\"; "
                       "env | grep -c '^LS_TEST_OVERRIDDEN='; test -n \"$PATH\"",
                       NULL};
    CHECK(run(a, &o, &r) == 0 && r.exit_code == 0, "env exit %d: %s", r.exit_code, r.err);
    CHECK(strcmp(r.out, "kept|new value|new\n1\n") == 0, "env out '%s'", r.out);
    ls_proc_result_free(&r);

    ls_proc_opts c = {0};
    c.cwd = tmpdir;
    const char *pwd[] = {"pwd", "-P", NULL};
    char expect[256];
    char *real = realpath(tmpdir, NULL);
    snprintf(expect, sizeof expect, "%s\n", real ? real : tmpdir);
    free(real);
    CHECK(run(pwd, &c, &r) == 0 && strcmp(r.out, expect) == 0, "cwd '%s'", r.out);
    ls_proc_result_free(&r);

    c.cwd = "/nonexistent/lockstep-dir";
    CHECK(run(pwd, &c, &r) == -1 && !r.started, "bad cwd ran");
    CHECK(strcmp(r.start_error,
                 "cannot run 'pwd': cannot change directory to '/nonexistent/lockstep-dir': No such file or directory") == 0,
          "bad cwd: %s", r.start_error);
    ls_proc_result_free(&r);
}

static void test_start_errors(void)
{
    ls_proc_opts o = {0};
    ls_proc_result r;
    const char *a[] = {"lockstep-no-such-program", "x", NULL};
    CHECK(run(a, &o, &r) == -1 && !r.started, "missing program started");
    CHECK(strcmp(r.start_error, "cannot run 'lockstep-no-such-program': No such file or directory") == 0,
          "missing: %s", r.start_error);
    ls_proc_result_free(&r);

    const char *b[] = {"/nonexistent/bin/prog", NULL};
    CHECK(run(b, &o, &r) == -1 &&
              strcmp(r.start_error, "cannot run '/nonexistent/bin/prog': No such file or directory") == 0,
          "missing path: %s", r.start_error);
    ls_proc_result_free(&r);

    char path[256];
    snprintf(path, sizeof path, "%s/not-executable", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("#!/bin/sh\necho hi\n", f);
    fclose(f);
    chmod(path, 0644);
    const char *c[] = {path, NULL};
    char expect[512];
    snprintf(expect, sizeof expect, "cannot run '%s': Permission denied", path);
    if (geteuid() != 0 || access(path, X_OK) != 0) {
        CHECK(run(c, &o, &r) == -1 && strcmp(r.start_error, expect) == 0, "not executable: %s", r.start_error);
        ls_proc_result_free(&r);
    }
    const char *d[] = {tmpdir, NULL};
    snprintf(expect, sizeof expect, "cannot run '%s': Permission denied", tmpdir);
    CHECK(run(d, &o, &r) == -1 && strcmp(r.start_error, expect) == 0, "directory: %s", r.start_error);
    ls_proc_result_free(&r);

    const char *e[] = {NULL};
    CHECK(run(e, &o, &r) == -1 && !r.started, "empty argv");
    ls_proc_result_free(&r);
}

static void test_timeout_kills_group(void)
{
    ls_proc_opts o = {0};
    ls_proc_result r;
    /* a grandchild in the background and the child itself, both sleeping */
    const char *a[] = {"sh", "-c", "sleep 100 & echo $! $$; sleep 100", NULL};
    int64_t t0 = ls_now_ms();
    o.deadline_ms = t0 + 300;
    o.grace_ms = 500;
    CHECK(run(a, &o, &r) == 0, "start");
    int64_t took = ls_now_ms() - t0;
    CHECK(r.timed_out && !r.cancelled, "timed_out %d", r.timed_out);
    CHECK(r.term_signal == SIGTERM, "signal %d", r.term_signal);
    CHECK(took >= 280 && took < WAIT_BOUND_MS, "took %lld ms", (long long)took);
    char *end = NULL;
    long gpid = strtol(r.out, &end, 10);
    long pgid = strtol(end, NULL, 10);
    CHECK(gpid > 0 && process_gone(gpid), "grandchild %ld survived", gpid);
    CHECK(pgid > 0 && group_gone(pgid), "process group %ld not empty", pgid);
    ls_proc_result_free(&r);

    /* a child that ignores SIGTERM gets SIGKILL after the grace period */
    const char *b[] = {"sh", "-c", "trap '' TERM; echo $$; while :; do sleep 0.05; done", NULL};
    t0 = ls_now_ms();
    o.deadline_ms = t0 + 200;
    o.grace_ms = 300;
    CHECK(run(b, &o, &r) == 0, "start");
    took = ls_now_ms() - t0;
    CHECK(r.timed_out && r.term_signal == SIGKILL, "signal %d", r.term_signal);
    CHECK(took >= 480 && took < WAIT_BOUND_MS, "took %lld ms", (long long)took);
    long pid = strtol(r.out, NULL, 10);
    CHECK(pid > 0 && process_gone(pid), "child %ld survived", pid);
    ls_proc_result_free(&r);
}

static void test_grandchild_holding_pipes(void)
{
    /* The child exits at once but leaves a grandchild with our stdout: we
     * must not wait for it, and it must not be left running. */
    ls_proc_opts o = {0};
    ls_proc_result r;
    const char *a[] = {"sh", "-c", "sleep 100 & echo $! $$", NULL};
    int64_t t0 = ls_now_ms();
    o.deadline_ms = t0 + 300000;
    CHECK(run(a, &o, &r) == 0 && r.exit_code == 0 && !r.timed_out, "exit %d", r.exit_code);
    int64_t took = ls_now_ms() - t0;
    CHECK(took < WAIT_BOUND_MS, "took %lld ms", (long long)took);
    char *end = NULL;
    long gpid = strtol(r.out, &end, 10);
    long pgid = strtol(end, NULL, 10);
    CHECK(gpid > 0 && process_gone(gpid), "grandchild %ld survived", gpid);
    CHECK(pgid > 0 && group_gone(pgid), "process group %ld not empty", pgid);
    ls_proc_result_free(&r);
}

static volatile sig_atomic_t cancel_flag;

static void on_alarm(int sig)
{
    (void)sig;
    cancel_flag = 1;
}

static void test_cancel(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 200000}};
    cancel_flag = 0;
    setitimer(ITIMER_REAL, &it, NULL);

    ls_proc_opts o = {0};
    ls_proc_result r;
    o.cancel = &cancel_flag;
    o.grace_ms = 500;
    const char *a[] = {"sh", "-c", "echo $$; sleep 100", NULL};
    int64_t t0 = ls_now_ms();
    CHECK(run(a, &o, &r) == 0, "start");
    int64_t took = ls_now_ms() - t0;
    CHECK(r.cancelled && !r.timed_out, "cancelled %d", r.cancelled);
    CHECK(took >= 150 && took < WAIT_BOUND_MS, "took %lld ms", (long long)took);
    long pid = strtol(r.out, NULL, 10);
    CHECK(pid > 0 && process_gone(pid), "child %ld survived", pid);
    ls_proc_result_free(&r);
    cancel_flag = 0;
}

/* The engine ignores or blocks signals (SIGPIPE, its own SIGINT/SIGTERM
 * handling); a program still starts with default dispositions and an
 * empty mask, and the engine's SIGPIPE disposition is what it was. */
static void test_child_signals(void)
{
    struct sigaction ign, old_int, cur;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGINT, &ign, &old_int);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old_mask);

    ls_proc_opts o = {0};
    ls_proc_result r;
    const char *a[] = {"sh", "-c", "kill -INT $$; echo survived", NULL};
    CHECK(run(a, &o, &r) == 0 && r.term_signal == SIGINT && r.out_len == 0,
          "SIGINT in child: signal %d out '%s'", r.term_signal, r.out);
    ls_proc_result_free(&r);
    const char *b[] = {"grep", "^SigBlk:", "/proc/self/status", NULL};
    CHECK(run(b, &o, &r) == 0 && strcmp(r.out, "SigBlk:\t0000000000000000\n") == 0, "mask: %s", r.out);
    ls_proc_result_free(&r);

    /* with SIGCHLD ignored the kernel would reap the child before we read
     * its status: it still comes back, and the disposition is restored */
    struct sigaction old_chld;
    sigaction(SIGCHLD, &ign, &old_chld);
    const char *c[] = {"sh", "-c", "exit 7", NULL};
    int64_t t0 = ls_now_ms();
    CHECK(run(c, &o, &r) == 0 && r.exit_code == 7, "SIGCHLD ignored: exit %d", r.exit_code);
    CHECK(ls_now_ms() - t0 < WAIT_BOUND_MS, "SIGCHLD ignored: took %lld ms", (long long)(ls_now_ms() - t0));
    ls_proc_result_free(&r);
    sigaction(SIGCHLD, NULL, &cur);
    CHECK(cur.sa_handler == SIG_IGN, "SIGCHLD disposition not restored");
    sigaction(SIGCHLD, &old_chld, NULL);

    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGPIPE, NULL, &cur);
    CHECK(cur.sa_handler == SIG_DFL, "SIGPIPE disposition not restored");
}

static void test_no_shell_injection(void)
{
    ls_proc_opts o = {0};
    ls_proc_result r;
    o.cwd = tmpdir;
    const char *a[] = {"printf", "[%s]\\n", "; touch PWNED", "$(touch PWNED2)", "`touch PWNED3`", NULL};
    CHECK(run(a, &o, &r) == 0 && r.exit_code == 0, "exit %d", r.exit_code);
    CHECK(strcmp(r.out, "[; touch PWNED]\n[$(touch PWNED2)]\n[`touch PWNED3`]\n") == 0, "out '%s'", r.out);
    const char *names[] = {"PWNED", "PWNED2", "PWNED3"};
    for (size_t i = 0; i < 3; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        CHECK(access(p, F_OK) != 0, "%s was created", p);
    }
    ls_proc_result_free(&r);
}

static void test_argv_string(void)
{
    const char *a[] = {"prog", "a b", "it's", "", "x=1,y", "--password=hunter2", NULL};
    ls_secret_add("hunter2", 7);
    char *s = ls_proc_argv_string(a);
    CHECK(s && strcmp(s, "prog 'a b' 'it'\\''s' '' x=1,y '--password=***'") == 0, "got %s", s ? s : "(null)");
    free(s);
    ls_secret_clear();
}

static void test_no_fd_leak(void)
{
    /* an fd the engine holds without CLOEXEC (a lock, a journal) does not
     * reach the child */
    int held = open("/dev/null", O_RDONLY);
    char script[128];
    snprintf(script, sizeof script, "test -e /proc/self/fd/%d && echo leaked || echo closed", held);
    const char *probe[] = {"sh", "-c", script, NULL};
    ls_proc_opts po = {0};
    ls_proc_result pr;
    CHECK(run(probe, &po, &pr) == 0 && strcmp(pr.out, "closed\n") == 0, "fd %d in child: %s", held, pr.out);
    ls_proc_result_free(&pr);
    close(held);

    int before = open("/dev/null", O_RDONLY);
    close(before);
    ls_proc_opts o = {0};
    ls_proc_result r;
    o.stdin_data = "x";
    o.stdin_len = 1;
    const char *a[] = {"cat", NULL};
    const char *bad[] = {"lockstep-no-such-program", NULL};
    for (int i = 0; i < 10; i++) {
        run(a, &o, &r);
        ls_proc_result_free(&r);
        run(bad, &o, &r);
        ls_proc_result_free(&r);
    }
    int after = open("/dev/null", O_RDONLY);
    close(after);
    CHECK(before == after, "fd %d then %d", before, after);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    test_exit_codes();
    test_big_output();
    test_stdin();
    test_env_cwd();
    test_start_errors();
    test_timeout_kills_group();
    test_grandchild_holding_pipes();
    test_cancel();
    test_child_signals();
    test_no_shell_injection();
    test_argv_string();
    test_no_fd_leak();

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("proc: all passed\n");
    return 0;
}

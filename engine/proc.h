/*
 * Running programs: argv only, never through a shell (the `shell` action
 * passes its script to /bin/sh -c explicitly).  Each child gets its own
 * process group; stdout and stderr are drained concurrently with poll()
 * (no deadlock on large output) and capped; on timeout or cancel the whole
 * group gets SIGTERM, then SIGKILL after a short grace, and the group is
 * reaped so nothing is left behind.  The child dies with the engine
 * (PR_SET_PDEATHSIG, and its group through orphans.h), so call
 * ls_proc_run from a thread that outlives the program: the parent-death
 * signal follows the thread that started it.
 */
#ifndef LS_PROC_H
#define LS_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lockstep/value.h>

#define LS_PROC_DEFAULT_CAP (1u << 20) /* bytes kept per stream */

typedef struct ls_proc_opts {
    const char *const *argv;     /* argv[0] is looked up on PATH when it has no '/' */
    const char *const *env_add;  /* "K=V" entries added to the inherited environment; NULL-terminated or NULL */
    const char *cwd;             /* NULL: inherit */
    const char *stdin_data;      /* NULL: /dev/null */
    size_t stdin_len;
    size_t cap;                  /* per stream; 0: LS_PROC_DEFAULT_CAP */
    int64_t deadline_ms;         /* ls_now_ms() value; 0: none */
    const volatile sig_atomic_t *cancel;
    int grace_ms;                /* SIGTERM -> SIGKILL; 0: 2000 */
    /* Optional: sees every byte of output as it arrives, whatever the cap
     * (stream 1: stdout, 2: stderr), e.g. a streaming scan (scan.h). */
    void (*sink)(void *ctx, int stream, const char *data, size_t len);
    void *sink_ctx;
} ls_proc_opts;

typedef struct ls_proc_result {
    bool started;           /* false: could not start; start_error says why */
    char start_error[256];
    int exit_code;          /* -1 when killed by a signal */
    int term_signal;        /* 0 when it exited */
    bool timed_out;
    bool cancelled;
    char *out; size_t out_len;  /* malloc'd, NUL-terminated */
    char *err; size_t err_len;
    bool truncated;         /* either stream hit the cap */
    int64_t duration_ms;
} ls_proc_result;

/* Returns 0 when the program ran (whatever its exit code), -1 when it could
 * not be started.  Always fill and free `res` with ls_proc_result_free. */
int ls_proc_run(const ls_proc_opts *opts, ls_proc_result *res);
void ls_proc_result_free(ls_proc_result *res);
/* {exit_code, stdout, stderr, duration_ms, truncated} */
ls_value ls_proc_result_value(const ls_proc_result *res);
/* "prog arg1 'arg 2'" for messages, quoted for reading, secrets redacted. */
char *ls_proc_argv_string(const char *const *argv);

/* Called with every chunk a program writes (stdout and stderr), while
 * set: the runner's progress line shows the last line (run_out.c). */
extern void (*ls_proc_output_hook)(const char *p, size_t n);

#endif

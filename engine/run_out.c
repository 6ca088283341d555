/*
 * What an operator sees while a run goes: one line per state start and
 * end (stdout, text mode), errors on stderr, a live elapsed counter on a
 * TTY while a long action runs, and the summary at the end (with, in a dry
 * run, the basis of every decision).  Also the approval prompt on
 * /dev/tty.  `--output json` prints journal lines instead (run.c) and
 * `--quiet` keeps only errors and the final line.  Everything shown passes
 * through the redactor.
 *
 * The live counter is a small thread that redraws one `\r` line on stderr
 * about once a second; it touches no lockstep value, only a fixed label
 * and a start time copied in before it starts, so the single-threaded
 * value rule holds.
 */
#include "run_int.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "secret.h"

static void put_redacted(FILE *f, const char *s)
{
    char *red = ls_redact(s, strlen(s), NULL);
    fputs(red ? red : "", f);
    free(red);
}

static void outf(ls_runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(ls_runner *r, const char *fmt, ...)
{
    if (!r->text || r->opts->quiet)
        return;
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put_redacted(stdout, buf);
    fflush(stdout);
}

static void fmt_secs(int64_t ms, char *buf, size_t len)
{
    if (ms < 60000)
        snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
    else
        snprintf(buf, len, "%lldm%02llds", (long long)(ms / 60000), (long long)((ms / 1000) % 60));
}

static void stamp(ls_runner *r, char *buf, size_t len)
{
    char t[32];
    fmt_secs(ls_now_ms() - r->t0, t, sizeof t);
    snprintf(buf, len, "[%7s]", t);
}

const char *ls_out_user(void)
{
    const char *u = getenv("USER");
    if (u != NULL && u[0] != '\0')
        return u;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_name ? pw->pw_name : "unknown";
}

const char *ls_signal_name(int sig)
{
    switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "signal";
    }
}

void ls_out_error(ls_runner *r, const char *fmt, ...)
{
    if (r->fake)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs("lockstep: ", stderr);
    put_redacted(stderr, buf);
    fputc('\n', stderr);
}

void ls_out_begin(ls_runner *r)
{
    if (r->lock_holder[0] != '\0' && !r->fake) {
        char buf[1024];
        snprintf(buf, sizeof buf,
                 "lockstep: %s of %s%s%s is in progress (it holds the lock): this dry run only reads, "
                 "but what it reads may be half way through that run's changes\n",
                 r->lock_holder, r->pb->name, r->pb->env_name ? " env " : "", r->pb->env_name ? r->pb->env_name : "");
        put_redacted(stderr, buf);
    }
    outf(r, "lockstep: %s run %s of %s%s%s%s\n", r->resuming ? "resuming" : "starting", r->run_id,
         r->pb->name, r->pb->env_name ? " (env " : "", r->pb->env_name ? r->pb->env_name : "",
         r->pb->env_name ? ")" : "");
    if (r->dry_run)
        outf(r, "lockstep: DRY RUN: probes run for real, mutating actions are simulated\n");
}

void ls_out_state_start(ls_runner *r, int idx)
{
    const ls_state *st = &r->pb->states[idx];
    char t[48];
    stamp(r, t, sizeof t);
    if (st->action)
        outf(r, "%s %s: start (%s)%s\n", t, st->name, st->action->name,
             r->visits[idx] > 1 ? " again" : "");
}

void ls_out_state_end(ls_runner *r, int idx, const char *status, int attempts, const char *error)
{
    const ls_state *st = &r->pb->states[idx];
    if (st->action == NULL && error == NULL)
        return;
    char t[48], el[32];
    stamp(r, t, sizeof t);
    fmt_secs(ls_now_ms() - r->state_t0, el, sizeof el);
    int max = st->retry.attempts > 0 ? st->retry.attempts : 1;
    const char *sim = r->simulated[idx] ? " (simulated)" : "";
    if (error != NULL) {
        outf(r, "%s %s: %s in %s, attempt %d/%d%s: %s\n", t, st->name, status, el, attempts, max, sim, error);
        if (r->text && r->opts->quiet) {
            char buf[2048];
            snprintf(buf, sizeof buf, "lockstep: %s %s: %s\n", st->name, status, error);
            put_redacted(stderr, buf);
        }
    } else {
        outf(r, "%s %s: %s in %s, attempt %d/%d%s\n", t, st->name, status, el, attempts, max, sim);
    }
}

void ls_out_retry(ls_runner *r, int idx, int attempt, int max, const char *why, int64_t delay_ms)
{
    char t[48], d[32];
    stamp(r, t, sizeof t);
    fmt_secs(delay_ms, d, sizeof d);
    outf(r, "%s %s: attempt %d/%d: %s; next attempt in %s\n", t, r->pb->states[idx].name, attempt, max, why, d);
}

void ls_out_transition(ls_runner *r, int from, int to, const char *reason)
{
    char t[48];
    stamp(r, t, sizeof t);
    if (strcmp(reason, "next") != 0)
        outf(r, "%s %s -> %s (%s)\n", t, r->pb->states[from].name, r->pb->states[to].name, reason);
}

static void basis_text(const ls_runner *r, const ls_decision *d, char *out, size_t len)
{
    char also[200] = "";
    if (d->sim_from != NULL && d->basis != LS_BASIS_SIMULATED)
        snprintf(also, sizeof also, "; also SIMULATED data of %s", d->sim_from);
    if (d->basis == LS_BASIS_FLAG) {
        snprintf(out, len, "the DRY-RUN FLAG (a real run would decide %s here)", d->value ? "false" : "true");
    } else if (d->basis == LS_BASIS_UNCHANGED) {
        char names[400] = "";
        size_t n = 0;
        for (size_t k = 0; k < d->nunchanged && n < sizeof names; k++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", k ? ", " : "",
                                  r->pb->states[d->unchanged_by[k]].name);
        snprintf(out, len, "UNCHANGED data (the simulated %s would have changed what it read%s)", names, also);
    } else if (d->basis == LS_BASIS_SIMULATED) {
        snprintf(out, len, "SIMULATED data (dry_run.result of %s)", d->sim_from ? d->sim_from : "?");
    } else if (d->basis == LS_BASIS_REAL) {
        snprintf(out, len, "real data");
    } else {
        snprintf(out, len, "params/run data only");
    }
}

static void summary(ls_runner *r)
{
    const ls_playbook *pb = r->pb;
    outf(r, "\nsummary:\n");
    for (size_t i = 0; i < pb->nstates; i++) {
        ls_value e = ls_run_state_rec(r, (int)i);
        if (e.kind != LS_MAP)
            continue;
        ls_value st = ls_map_get(e, "status"), at = ls_map_get(e, "attempts"), vi = ls_map_get(e, "visits");
        outf(r, "  %-24s %-10s attempts %-3lld visits %lld%s\n", pb->states[i].name,
             st.kind == LS_STRING ? ls_str_ptr(st) : "-", at.kind == LS_INT ? (long long)at.u.i : 0LL,
             vi.kind == LS_INT ? (long long)vi.u.i : 0LL, r->simulated[i] ? "  (simulated result)" : "");
    }
    if (!r->dry_run)
        return;
    outf(r, "\ndecisions (dry run):\n");
    if (r->ndec == 0)
        outf(r, "  none\n");
    for (size_t i = 0; i < r->ndec; i++) {
        const ls_decision *d = &r->dec[i];
        char basis[600];
        basis_text(r, d, basis, sizeof basis);
        outf(r, "  %-20s %-8s %-40s = %-5s on %s\n", pb->states[d->state].name, d->kind, d->text,
             d->value ? "true" : "false", basis);
    }
}

/* Counts of a dry run's decisions that checked nothing: ", N on ..." parts
 * for the final line ("" when every decision rested on real data). */
static void dry_run_note(const ls_runner *r, char *out, size_t len)
{
    size_t unch = 0, sim = 0, flag = 0;
    for (size_t i = 0; i < r->ndec; i++) {
        unch += r->dec[i].basis == LS_BASIS_UNCHANGED;
        sim += r->dec[i].basis == LS_BASIS_SIMULATED;
        flag += r->dec[i].basis == LS_BASIS_FLAG;
    }
    out[0] = '\0';
    if (!r->dry_run || unch + sim + flag == 0)
        return;
    size_t n = 0;
    n += (size_t)snprintf(out + n, len - n, " (dry run: %zu decision%s rested on the unchanged system", unch,
                          unch == 1 ? "" : "s");
    if (n < len && sim)
        n += (size_t)snprintf(out + n, len - n, "; %zu on simulated results", sim);
    if (n < len && flag)
        n += (size_t)snprintf(out + n, len - n, "; %zu only on the dry-run flag", flag);
    if (n < len)
        snprintf(out + n, len - n, ")");
}

ls_value ls_out_decisions(const ls_runner *r)
{
    static const char *const names[] = {"params", "real", "simulated", "dry_run_flag", "unchanged"};
    ls_value list = ls_list_new();
    for (size_t i = 0; i < r->ndec; i++) {
        const ls_decision *d = &r->dec[i];
        ls_value m = ls_map_new();
        ls_map_set(&m, "state", ls_string(r->pb->states[d->state].name));
        ls_map_set(&m, "kind", ls_string(d->kind));
        ls_map_set(&m, "condition", ls_string(d->text));
        ls_map_set(&m, "value", ls_bool(d->value));
        ls_map_set(&m, "basis", ls_string(d->basis >= 0 && d->basis <= 4 ? names[d->basis] : "params"));
        if (d->sim_from != NULL)
            ls_map_set(&m, "simulated", ls_string(d->sim_from));
        if (d->nunchanged > 0) {
            ls_value by = ls_list_new();
            for (size_t k = 0; k < d->nunchanged; k++)
                ls_list_push(&by, ls_string(r->pb->states[d->unchanged_by[k]].name));
            ls_map_set(&m, "unchanged_by", by);
        }
        ls_list_push(&list, m);
    }
    return list;
}

void ls_out_final(ls_runner *r, const char *what, int state, const char *detail)
{
    /* With --output json stdout carries only events; a halt is still told
     * on stderr, with the command that continues the run. */
    if (r->fake || (!r->text && strcmp(what, "halted") != 0))
        return;
    if (r->text)
        summary(r);
    char el[32];
    fmt_secs(ls_now_ms() - r->t0, el, sizeof el);
    char buf[2048];
    const char *name = state >= 0 ? r->pb->states[state].name : "?";
    if (strcmp(what, "halted") == 0) {
        char hint[600] = "";
        if (detail != NULL && strncmp(detail, "approval needed for ", 20) == 0)
            snprintf(hint, sizeof hint, " --approve %s", name);
        else if (detail != NULL && strncmp(detail, "unknown outcome", 15) == 0)
            snprintf(hint, sizeof hint, " --assume %s=ok|failed|rerun", name);
        snprintf(buf, sizeof buf, "lockstep: run %s halted at %s after %s: %s\n"
                 "lockstep: continue with: lockstep resume %s%s\n",
                 r->run_id, name, el, detail ? detail : "", r->run_id, hint);
    }
    else {
        char note[300];
        dry_run_note(r, note, sizeof note);
        snprintf(buf, sizeof buf, "lockstep: run %s%s ended in %s at %s after %s%s%s%s\n", r->run_id,
                 r->dry_run ? " (dry run)" : "", what, name, el, detail ? ": " : "", detail ? detail : "", note);
    }
    /* The final line is shown even with --quiet; on stderr when it is bad news. */
    put_redacted(strcmp(what, "success") == 0 ? stdout : stderr, buf);
    fflush(stdout);
}

/* ---- approvals ---- */

int ls_out_ask(const char *prompt)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    char *red = ls_redact(prompt, strlen(prompt), NULL);
    char q[4096];
    int n = snprintf(q, sizeof q, "%s [y/N] ", red ? red : "approve?");
    free(red);
    if (n > 0 && write(fd, q, (size_t)n < sizeof q ? (size_t)n : sizeof q - 1) < 0) {
        close(fd);
        return -1;
    }
    char ans[64];
    size_t len = 0;
    for (;;) {
        char c;
        ssize_t rd = read(fd, &c, 1);
        if (rd < 0 && errno == EINTR) {
            if (ls_run_cancel)
                break;
            continue;
        }
        if (rd <= 0 || c == '\n' || c == '\r')
            break;
        if (len < sizeof ans - 1)
            ans[len++] = c;
    }
    ans[len] = '\0';
    close(fd);
    return (len >= 1 && (ans[0] == 'y' || ans[0] == 'Y') && (len == 1 || strcmp(ans + 1, "es") == 0 ||
                                                              strcmp(ans + 1, "ES") == 0))
               ? 1
               : 0;
}

/* ---- the live line and the heartbeat ---- */

static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_cv = PTHREAD_COND_INITIALIZER;
static pthread_t live_thread;
static bool live_running, live_stop, live_tty;
static char live_label[256];
static char live_last[160];      /* the last line the program wrote (raw; redacted when shown) */
static char live_partial[160];   /* the line it is writing now */
static size_t live_partial_len;
static int64_t live_t0, live_total_ms, live_every_ms;
static bool live_waiting;        /* a retry delay, not an action */

/* Keeps the last whole line of what the program writes (proc.c hook). */
static void live_output(const char *p, size_t n)
{
    pthread_mutex_lock(&live_mu);
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\n' || c == '\r') {
            if (live_partial_len > 0) {
                memcpy(live_last, live_partial, live_partial_len);
                live_last[live_partial_len] = '\0';
            }
            live_partial_len = 0;
        } else if (live_partial_len + 1 < sizeof live_partial) {
            live_partial[live_partial_len++] = (unsigned char)c < 0x20 ? ' ' : c;
        }
    }
    pthread_mutex_unlock(&live_mu);
}

static void fmt_dur(char *out, size_t n, int64_t ms)
{
    if (ms < 60000)
        snprintf(out, n, "%llds", (long long)(ms / 1000));
    else if (ms < 3600000)
        snprintf(out, n, "%lldm%02llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
    else
        snprintf(out, n, "%lldh%02lldm", (long long)(ms / 3600000), (long long)(ms / 60000 % 60));
}

/* One progress line (without end): what is awaited, elapsed of timeout or
 * time left of a delay, and the program's last line, redacted. */
static int live_line(char *line, size_t len, int64_t el)
{
    char e[32], t[32], tail[200] = "";
    fmt_dur(e, sizeof e, el);
    if (live_waiting) {
        fmt_dur(t, sizeof t, live_total_ms > el ? live_total_ms - el : 0);
        return snprintf(line, len, "%s: %s left", live_label, t);
    }
    if (live_last[0] != '\0') {
        char *red = ls_redact(live_last, strlen(live_last), NULL);
        snprintf(tail, sizeof tail, "; last output: %.120s", red ? red : "");
        free(red);
    }
    if (live_total_ms > 0) {
        fmt_dur(t, sizeof t, live_total_ms);
        char left[32];
        fmt_dur(left, sizeof left, live_total_ms > el ? live_total_ms - el : 0);
        return snprintf(line, len, "%s: %s of %s (%s left)%s", live_label, e, t, left, tail);
    }
    return snprintf(line, len, "%s: %s%s", live_label, e, tail);
}

static void *live_main(void *arg)
{
    (void)arg;
    bool drawn = false;
    int64_t next_beat = live_t0 + live_every_ms;
    pthread_mutex_lock(&live_mu);
    while (!live_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&live_cv, &live_mu, &ts);
        if (live_stop)
            break;
        int64_t now = ls_now_ms(), el = now - live_t0;
        char line[512];
        if (live_tty) {
            if (el < 2000)
                continue;
            char body[480];
            live_line(body, sizeof body, el);
            int n = snprintf(line, sizeof line, "\r  %s \033[K", body);
            if (n > 0 && write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) > 0)
                drawn = true;
        } else if (live_every_ms > 0 && now >= next_beat) {
            /* Piped or in CI: a whole line now and then, so a log shows
             * that the run is alive and what it waits for. */
            char body[480];
            live_line(body, sizeof body, el);
            int n = snprintf(line, sizeof line, "lockstep: ... %s\n", body);
            if (n > 0 && write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) < 0)
                break;
            next_beat = now + live_every_ms;
        }
    }
    pthread_mutex_unlock(&live_mu);
    if (drawn && write(STDERR_FILENO, "\r\033[K", 4) < 0)
        return NULL;
    return NULL;
}

static void live_begin(ls_runner *r, const char *label, int64_t total_ms, bool waiting)
{
    if (r->fake || r->opts->quiet || live_running)
        return; /* before isatty: one ioctl per action that --quiet does not need */
    live_tty = isatty(STDERR_FILENO) && r->text;
    if (!live_tty && r->opts->heartbeat_ms <= 0)
        return;
    char *red = ls_redact(label, strlen(label), NULL);
    snprintf(live_label, sizeof live_label, "%s", red ? red : "");
    free(red);
    live_t0 = ls_now_ms();
    live_total_ms = total_ms;
    live_every_ms = r->opts->heartbeat_ms;
    live_waiting = waiting;
    live_last[0] = '\0';
    live_partial_len = 0;
    live_stop = false;
    /* Signals must reach the main thread, whose waits they interrupt. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    if (pthread_create(&live_thread, NULL, live_main, NULL) == 0) {
        live_running = true;
        if (!waiting)
            ls_proc_output_hook = live_output;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void ls_out_live_start(ls_runner *r, int idx, int attempt)
{
    const ls_state *st = &r->pb->states[idx];
    char label[300];
    int max = st->retry.attempts > 0 ? st->retry.attempts : 1;
    snprintf(label, sizeof label, "%s (%s, attempt %d/%d)", st->name, st->action->name, attempt, max);
    live_begin(r, label, st->timeout_ms, false);
}

void ls_out_wait_start(ls_runner *r, int idx, int next_attempt, int64_t delay_ms)
{
    const ls_state *st = &r->pb->states[idx];
    char label[300];
    snprintf(label, sizeof label, "%s: attempt %d in", st->name, next_attempt);
    live_begin(r, label, delay_ms, true);
}

void ls_out_live_stop(ls_runner *r)
{
    (void)r;
    if (!live_running)
        return;
    pthread_mutex_lock(&live_mu);
    live_stop = true;
    pthread_cond_signal(&live_cv);
    pthread_mutex_unlock(&live_mu);
    pthread_join(live_thread, NULL);
    ls_proc_output_hook = NULL;
    live_running = false;
}

/*
 * The run store (store.h): the lease, its renewal, the journal's second
 * home and the local copy.  MongoDB itself is reached through
 * lockstep-store.so (store_int.h).
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lockstep/plugin.h>

#include "buf.h"
#include "expr.h"
#include "file.h"
#include "plugin.h"
#include "secret.h"
#include "store_int.h"

#define OPEN_TIMEOUT_MS 5000

static const ls_loc noloc = {NULL, 0, 0};

struct ls_store {
    const ls_store_api *api;
    ls_store_conn *c;      /* the runner's connection */
    char *uri;
    char shown[512];       /* the URI, password as *** */
    int64_t lease_ms;
    /* the lease, while held */
    bool held;
    char key[600];
    char run_id[LS_RUN_ID_MAX];
    int64_t token;
    char host[256];
    /* renewal */
    pthread_t thr;
    bool thr_running;
    ls_store_conn *thr_c;  /* the renewal thread's own connection */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    int64_t last_ok;       /* monotonic ms of the last renewal the store acknowledged */
    atomic_int lost;
    char lost_why[600];    /* under mu */
};

static ls_store *current;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* lockstep-store.so beside the executable or in ../lib/lockstep/, as the
 * other plugins are found (plugin.h); loaded once. */
static const ls_store_api *store_api(char *err, size_t errlen)
{
    static const ls_store_api *api;
    if (api == NULL)
        api = ls_plugin_table("store", "lockstep_store", "--store needs", err, errlen);
    return api;
}

const char *ls_store_uri(const char *opt)
{
    if (opt != NULL && opt[0] != '\0')
        return opt;
    const char *e = getenv("LOCKSTEP_STORE");
    return e != NULL && e[0] != '\0' ? e : NULL;
}

ls_store *ls_store_open(const char *uri, int64_t lease_ms, ls_error *err)
{
    char msg[900] = "";
    char *shown = ls_redact(uri, strlen(uri), NULL);
    const ls_store_api *api = store_api(msg, sizeof msg);
    if (api == NULL) {
        ls_error_set(err, noloc, "%s", msg);
        free(shown);
        return NULL;
    }
    ls_store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->uri = strdup(uri)) == NULL) {
        free(s);
        free(shown);
        ls_error_set(err, noloc, "out of memory");
        return NULL;
    }
    s->api = api;
    s->lease_ms = lease_ms > 0 ? lease_ms : LS_STORE_LEASE_DEFAULT_MS;
    snprintf(s->shown, sizeof s->shown, "%s", shown ? shown : "***");
    free(shown);
    s->c = api->open(uri, OPEN_TIMEOUT_MS, msg, sizeof msg);
    if (s->c == NULL) {
        ls_error_set(err, noloc, "cannot reach the store %s: %s", s->shown, msg);
        free(s->uri);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (gethostname(s->host, sizeof s->host - 1) != 0)
        snprintf(s->host, sizeof s->host, "?");
    current = s;
    return s;
}

void ls_store_close(ls_store *s)
{
    if (s == NULL)
        return;
    ls_store_lease_release(s);
    s->api->close(s->c);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->uri);
    if (current == s)
        current = NULL;
    free(s);
}

ls_store *ls_store_current(void)
{
    return current;
}

const char *ls_store_db(const ls_store *s)
{
    return s->api->db_name(s->c);
}

/* ---- the playbook's own databases ---- */

/* The database of a MongoDB URI (after the hosts, before '?'), or "". */
static void uri_db(const char *uri, char *out, size_t outlen)
{
    out[0] = '\0';
    const char *p = strstr(uri, "://");
    if (p == NULL)
        return;
    p = strchr(p + 3, '/');
    if (p == NULL)
        return;
    p++;
    size_t n = strcspn(p, "?");
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

int ls_store_check_playbook(const ls_store *s, const ls_playbook *pb, ls_error *err)
{
    const char *db = ls_store_db(s);
    ls_eval_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.params = pb->param_values;
    ctx.states = ls_map_new();
    ctx.run = ls_map_new();
    int rc = 0;
    for (size_t i = 0; i < pb->nstates && rc == 0; i++) {
        const ls_state *st = &pb->states[i];
        if (st->action == NULL || st->with == NULL || strncmp(st->action->name, "mongo.", 6) != 0)
            continue;
        static const char *const keys[] = {"db", "scratch_db", "uri"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0] && rc == 0; k++) {
            const ls_tmpl *t = ls_tmpl_map_get(st->with, keys[k]);
            if (t == NULL)
                continue;
            ls_value v = ls_tmpl_render_plan(t, &ctx);
            if (v.kind == LS_STRING && strstr(ls_str_ptr(v), "${{") == NULL) {
                char target[256];
                if (strcmp(keys[k], "uri") == 0)
                    uri_db(ls_str_ptr(v), target, sizeof target);
                else
                    snprintf(target, sizeof target, "%s", ls_str_ptr(v));
                if (strcmp(target, db) == 0) {
                    ls_error_set(err, ls_tmpl_loc(t),
                                 "error: state %s: %s's %s names database '%s', which is the run store's (--store): "
                                 "a playbook must not back up, restore or change the store it is recorded in; "
                                 "give the store a database of its own",
                                 st->name, st->action->name, keys[k], db);
                    rc = -1;
                }
            }
            ls_value_free(v);
        }
    }
    ls_value_free(ctx.states);
    ls_value_free(ctx.run);
    return rc;
}

/* ---- the lease ---- */

static void lease_key(const char *playbook, const char *env, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", playbook, env != NULL && env[0] != '\0' ? env : "default");
}

static void holder_text(const ls_store_lease *l, char *out, size_t outlen)
{
    snprintf(out, outlen, "run %s (pid %ld on %s)", l->run_id[0] ? l->run_id : "?", l->pid,
             l->host[0] ? l->host : "?");
}

/* Marks the lease lost (once); why is what the runner says when it stops. */
/* kind: LOST_TAKEN (another holder has the run), LOST_EXPIRED (the lease
 * could not be renewed in time) or LOST_CONFLICT (the journal grew under
 * this holder: it stops, and releases the lease it still holds). */
enum { LOST_TAKEN = 1, LOST_EXPIRED = 2, LOST_CONFLICT = 3 /* a seq written by another first */ };

static void set_lost(ls_store *s, int kind, const char *why)
{
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->lost)) {
        snprintf(s->lost_why, sizeof s->lost_why, "%s", why);
        atomic_store(&s->lost, kind);
    }
    pthread_mutex_unlock(&s->mu);
}

bool ls_store_fenced(const ls_store *s)
{
    return s != NULL && (atomic_load(&s->lost) == LOST_TAKEN || atomic_load(&s->lost) == LOST_CONFLICT);
}

static void set_lost_to(ls_store *s, const ls_store_lease *now)
{
    char why[600];
    if (now->found && now->token != s->token)
        snprintf(why, sizeof why,
                 "lease lost to %.200s/%ld, run taken over; nothing more was done here (the store's lease of "
                 "%.150s now belongs to run %.63s)",
                 now->host[0] ? now->host : "?", now->pid, s->key, now->run_id[0] ? now->run_id : "?");
    else
        snprintf(why, sizeof why,
                 "lease lost: the store no longer records this process's lease of %.300s; nothing more was done here",
                 s->key);
    set_lost(s, LOST_TAKEN, why);
}

static void *renew_loop(void *arg)
{
    ls_store *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        int64_t step = s->lease_ms / 3 > 0 ? s->lease_ms / 3 : 1;
        until.tv_sec += (time_t)(step / 1000);
        until.tv_nsec += (long)(step % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int w = 0;
        while (!s->stop && w != ETIMEDOUT)
            w = pthread_cond_timedwait(&s->cv, &s->mu, &until);
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        ls_store_lease now;
        char msg[600] = "";
        int64_t asked = ls_now_ms();
        int rc = s->api->lease_renew(s->thr_c, s->key, s->token, wall_ms() + s->lease_ms, -1, &now, msg, sizeof msg);
        if (rc == 1)
            set_lost_to(s, &now);
        pthread_mutex_lock(&s->mu);
        if (rc == 0 && asked > s->last_ok)
            s->last_ok = asked;
        if (rc == 1)
            break;
        if (rc < 0 && ls_now_ms() - s->last_ok >= s->lease_ms) {
            char why[800];
            snprintf(why, sizeof why,
                     "the lease expired: the store could not be reached to renew it (%s); nothing more was done "
                     "here",
                     msg);
            pthread_mutex_unlock(&s->mu);
            set_lost(s, LOST_EXPIRED, why);
            pthread_mutex_lock(&s->mu);
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int ls_store_lease_take(ls_store *s, const char *playbook, const char *env, const char *run_id, char *holder,
                        size_t holderlen, ls_error *err)
{
    char msg[600] = "";
    lease_key(playbook, env, s->key, sizeof s->key);
    ls_store_lease got;
    int64_t asked = ls_now_ms();
    int64_t now = wall_ms();
    int rc = s->api->lease_take(s->c, s->key, s->host, (long)getpid(), run_id, now + s->lease_ms, now, &got, msg,
                                sizeof msg);
    if (rc < 0) {
        ls_error_set(err, noloc, "store %s: %s", s->shown, msg);
        return -1;
    }
    if (rc == 1) {
        char h[400];
        holder_text(&got, h, sizeof h);
        char until[64] = "";
        time_t t = (time_t)(got.expires_at / 1000);
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(holder, holderlen, "%s, lease of %s in the store until %s unless renewed", h, s->key, until);
        return 1;
    }
    s->token = got.token;
    snprintf(s->run_id, sizeof s->run_id, "%s", run_id);
    s->held = true;
    s->last_ok = asked;
    atomic_store(&s->lost, 0);
    s->stop = false;
    s->thr_c = s->api->open(s->uri, OPEN_TIMEOUT_MS, msg, sizeof msg);
    /* The renewal thread takes no signals: SIGINT, SIGTERM and SIGCHLD
     * must interrupt the runner's waits, in the main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int made = s->thr_c != NULL ? pthread_create(&s->thr, NULL, renew_loop, s) : -1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (made != 0) {
        ls_error_set(err, noloc, "store %s: cannot start renewing the lease: %s", s->shown,
                     msg[0] ? msg : strerror(made));
        ls_store_lease_release(s);
        return -1;
    }
    s->thr_running = true;
    return 0;
}

void ls_store_lease_release(ls_store *s)
{
    if (s == NULL)
        return;
    if (s->thr_running) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thr, NULL);
        s->thr_running = false;
    }
    if (s->thr_c) {
        s->api->close(s->thr_c);
        s->thr_c = NULL;
    }
    if (s->held && atomic_load(&s->lost) != LOST_TAKEN) {
        char msg[600];
        /* Conditional on the token: a lease taken over is not touched. */
        if (s->api->lease_release(s->c, s->key, s->token, msg, sizeof msg) != 0)
            fprintf(stderr, "lockstep: could not release the lease of %s in the store (%s): it expires by "
                            "itself\n", s->key, msg);
    }
    s->held = false;
}

bool ls_store_running(ls_store *s, const char *playbook, const char *env, const char *run_id)
{
    char key[600], msg[600];
    lease_key(playbook, env, key, sizeof key);
    ls_store_lease l;
    if (s->api->lease_get(s->c, key, &l, msg, sizeof msg) != 0 || !l.found)
        return false;
    return !l.released && l.expires_at > wall_ms() && strcmp(l.run_id, run_id) == 0;
}

/* ---- the journal's second home ---- */

/* Puts in the store every blob a line names (journal.h), from the run
 * directory, before the line itself.  0, or -1 with msg. */
static int put_blobs(ls_store *s, const char *dir, const char *line, size_t n, char *msg, size_t msglen)
{
    if (memmem(line, n, "\"blobs\":[", 9) == NULL)
        return 0;
    ls_value ev;
    char pm[128];
    if (!ls_value_from_json(line, n, &ev, pm, sizeof pm)) {
        ls_value_free(ev);
        snprintf(msg, msglen, "a journal line does not parse: %s", pm);
        return -1;
    }
    ls_value blobs = ls_map_get(ev, "blobs");
    int rc = 0;
    for (size_t i = 0; rc == 0 && blobs.kind == LS_LIST && i < ls_list_len(blobs); i++) {
        ls_value sha = ls_map_get(ls_list_at(blobs, i), "sha256");
        if (sha.kind != LS_STRING || ls_str_len(sha) != 64)
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/blobs/%s", dir, ls_str_ptr(sha));
        char *data = NULL, why[256];
        size_t got = 0;
        if (ls_file_read(path, SIZE_MAX / 2, &data, &got, why, sizeof why) != 0) {
            snprintf(msg, msglen, "%.400s: %s", path, why);
            rc = -1;
            break;
        }
        rc = s->api->blob_put(s->c, s->run_id, ls_str_ptr(sha), data, got, msg, msglen);
        free(data);
    }
    ls_value_free(ev);
    return rc;
}

static void store_lost_msg(ls_store *s, const char *why, ls_error *err)
{
    ls_error_set(err, noloc,
                 "the run store %s is lost (%s): the run halts here, with nothing done past what the store "
                 "holds; resume it from any machine once the store answers (lockstep resume %s --store URI)",
                 s->shown, why, s->run_id);
}

static int hook(void *ud, ls_journal *j, const char *lines, size_t len, int64_t first_seq, ls_error *err)
{
    ls_store *s = ud;
    if (atomic_load(&s->lost)) {
        pthread_mutex_lock(&s->mu);
        ls_error_set(err, noloc, "%s", s->lost_why);
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    if (len == 0)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += lines[i] == '\n';
    const char **lp = calloc(n ? n : 1, sizeof *lp);
    size_t *ll = calloc(n ? n : 1, sizeof *ll);
    char msg[700] = "";
    int rc = 0;
    if (lp == NULL || ll == NULL) {
        ls_error_set(err, noloc, "out of memory");
        rc = -1;
        goto out;
    }
    size_t k = 0, at = 0;
    while (at < len && k < n) {
        const char *nl = memchr(lines + at, '\n', len - at);
        size_t ln = (size_t)(nl - (lines + at));
        lp[k] = lines + at;
        ll[k] = ln;
        if (put_blobs(s, j->dir, lp[k], ln, msg, sizeof msg) != 0) {
            store_lost_msg(s, msg, err);
            rc = -1;
            goto out;
        }
        k++;
        at += ln + 1;
    }
    /* The token first: the lines go in only while this process holds the
     * lease (docs/runs.md: why the order is safe). */
    int64_t asked = ls_now_ms();
    ls_store_lease now;
    int r = s->api->lease_renew(s->c, s->key, s->token, wall_ms() + s->lease_ms, first_seq + (int64_t)n - 1, &now,
                                msg, sizeof msg);
    if (r == 1) {
        set_lost_to(s, &now);
        pthread_mutex_lock(&s->mu);
        ls_error_set(err, noloc, "%s", s->lost_why);
        pthread_mutex_unlock(&s->mu);
        rc = -1;
        goto out;
    }
    if (r < 0) {
        store_lost_msg(s, msg, err);
        rc = -1;
        goto out;
    }
    r = s->api->events_put(s->c, s->run_id, first_seq, lp, ll, n, msg, sizeof msg);
    if (r == 1) {
        char why[800];
        snprintf(why, sizeof why,
                 "lease lost: %.500s (a holder paused past its lease wrote on waking, or another took the run over); "
                 "nothing more was done here",
                 msg);
        set_lost(s, LOST_CONFLICT, why);
        ls_error_set(err, noloc, "%s", why);
        rc = -1;
    } else if (r < 0) {
        store_lost_msg(s, msg, err);
        rc = -1;
    } else {
        pthread_mutex_lock(&s->mu);
        if (asked > s->last_ok)
            s->last_ok = asked;
        pthread_mutex_unlock(&s->mu);
    }
out:
    free(lp);
    free(ll);
    return rc;
}

int ls_store_attach(ls_store *s, ls_journal *j, const char *run_id, const ls_playbook *pb, const char *started_at,
                    const char *params_json, size_t params_len, ls_error *err)
{
    char msg[700] = "";
    if (pb != NULL &&
        s->api->run_put(s->c, run_id, pb->name, pb->env_name, pb->sha256, started_at, pb->text ? pb->text : "",
                        pb->text_len, params_json, params_len, msg, sizeof msg) != 0) {
        ls_error_set(err, noloc, "store %s: %s", s->shown, msg);
        return -1;
    }
    j->hook = hook;
    j->hook_ud = s;
    return 0;
}

/* ---- reading ---- */

typedef struct collect {
    ls_buf text;
    int64_t next;   /* the seq expected next */
    char why[200];
} collect;

static int collect_line(void *ud, int64_t seq, const char *line, size_t len)
{
    collect *c = ud;
    if (seq != c->next) {
        snprintf(c->why, sizeof c->why, "seq %lld is missing from the store (found %lld next)", (long long)c->next,
                 (long long)seq);
        return -1;
    }
    c->next++;
    if (ls_buf_add(&c->text, line, len) != 0 || ls_buf_addc(&c->text, '\n') != 0) {
        snprintf(c->why, sizeof c->why, "the journal is too large");
        return -1;
    }
    return 0;
}

/* The store's journal text of a run: 0 with c->text; -1 with err. */
static int store_text(ls_store *s, const char *run_id, collect *c, ls_error *err)
{
    char msg[700] = "";
    ls_buf_init(&c->text, (size_t)1 << 30);
    c->next = 1;
    c->why[0] = '\0';
    int rc = s->api->events_get(s->c, run_id, 1, false, collect_line, c, msg, sizeof msg);
    if (rc != 0) {
        ls_error_set(err, noloc, "store %s, run %s: %s", s->shown, run_id, c->why[0] ? c->why : msg);
        ls_buf_free(&c->text);
        return -1;
    }
    return 0;
}

/* Writes a file into the run directory unless it is there already (a
 * crash while writing leaves no part of it: ls_journal_replace_file). */
static int put_file(const char *dir, const char *name, const char *data, size_t len, ls_error *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (access(path, F_OK) == 0)
        return 0;
    return ls_journal_replace_file(dir, name, data, len, err);
}

/* Fetches every blob the journal text names that the run directory lacks. */
static int fetch_blobs(ls_store *s, const char *run_id, const char *dir, const char *text, size_t len, ls_error *err)
{
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *line = text + pos;
        pos += n + 1;
        if (memmem(line, n, "\"blobs\":[", 9) == NULL)
            continue;
        ls_value ev;
        char pm[128];
        if (!ls_value_from_json(line, n, &ev, pm, sizeof pm)) {
            ls_value_free(ev);
            continue; /* the chain check names it */
        }
        ls_value blobs = ls_map_get(ev, "blobs");
        for (size_t i = 0; blobs.kind == LS_LIST && i < ls_list_len(blobs); i++) {
            ls_value sha = ls_map_get(ls_list_at(blobs, i), "sha256");
            if (sha.kind != LS_STRING || ls_str_len(sha) != 64 || strspn(ls_str_ptr(sha), "0123456789abcdef") != 64)
                continue;
            char bdir[4300], name[80];
            snprintf(bdir, sizeof bdir, "%s/blobs", dir);
            snprintf(name, sizeof name, "%s", ls_str_ptr(sha));
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", bdir, name);
            if (access(path, F_OK) == 0)
                continue;
            char *data = NULL, msg[700] = "";
            size_t dlen = 0;
            int rc = s->api->blob_get(s->c, run_id, name, &data, &dlen, msg, sizeof msg);
            if (rc != 0) {
                ls_error_set(err, noloc, "store %s, run %s: result file %.12s...: %s", s->shown, run_id, name,
                             rc > 0 ? "missing from the store" : msg);
                ls_value_free(ev);
                return -1;
            }
            rc = (ls_journal_mkdirs(bdir) == 0) ? put_file(bdir, name, data, dlen, err) : -1;
            free(data);
            if (rc != 0) {
                if (err->msg[0] == '\0')
                    ls_error_set(err, noloc, "cannot create %s: %s", bdir, strerror(errno));
                ls_value_free(ev);
                return -1;
            }
        }
        ls_value_free(ev);
    }
    return 0;
}

/* Whole lines of text: the length up to and with its last newline. */
static size_t whole_len(const char *text, size_t len)
{
    while (len > 0 && text[len - 1] != '\n')
        len--;
    return len;
}

/* Whether a process of this machine holds the local lock of the run whose
 * journal text this is (journal.h: ls_lock_held_by). */
static bool held_here(const char *state_dir, const char *run_id, const char *text, size_t len)
{
    const char *nl = memchr(text, '\n', len);
    ls_value first;
    char pm[64];
    if (nl == NULL || !ls_value_from_json(text, (size_t)(nl - text), &first, pm, sizeof pm)) {
        if (nl != NULL)
            ls_value_free(first);
        return false;
    }
    ls_value pb = ls_map_get(first, "playbook"), env = ls_map_get(first, "env");
    bool held = pb.kind == LS_STRING &&
                ls_lock_held_by(state_dir, ls_str_ptr(pb), env.kind == LS_STRING ? ls_str_ptr(env) : NULL, run_id);
    ls_value_free(first);
    return held;
}

/* Whether STATE_DIR/runs/RUN_ID is a dry run: its first event says so. */
static bool local_dry_run(const char *state_dir, const char *run_id)
{
    ls_value first = ls_null(), last = ls_null();
    ls_error e;
    ls_error_clear(&e);
    bool dry = ls_journal_ends(state_dir, run_id, &first, &last, &e) == 0 &&
               ls_map_get(first, "dry_run").kind == LS_BOOL && ls_map_get(first, "dry_run").u.b;
    ls_value_free(first);
    ls_value_free(last);
    return dry;
}

int ls_store_fetch(ls_store *s, const char *state_dir, const char *run_id, bool locked, ls_error *err)
{
    if (!ls_journal_id_ok(run_id)) {
        ls_error_set(err, noloc, "bad run id '%s'", run_id);
        return -1;
    }
    char *pbtext = NULL, *params = NULL, msg[700] = "";
    size_t pblen = 0, plen = 0;
    int rc = s->api->run_get(s->c, run_id, &pbtext, &pblen, &params, &plen, msg, sizeof msg);
    if (rc > 0 && local_dry_run(state_dir, run_id))
        return 2;
    if (rc != 0) {
        if (rc > 0)
            ls_error_set(err, noloc, "no run '%s' in the store %s", run_id, s->shown);
        else
            ls_error_set(err, noloc, "store %s: %s", s->shown, msg);
        return rc;
    }
    collect c;
    rc = store_text(s, run_id, &c, err);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/runs/%s", state_dir, run_id);
    if (rc == 0 && ls_journal_mkdirs(dir) != 0) {
        ls_error_set(err, noloc, "cannot create %s: %s", dir, strerror(errno));
        rc = -1;
    }
    if (rc == 0)
        rc = put_file(dir, "playbook.yaml", pbtext, pblen, err);
    if (rc == 0)
        rc = put_file(dir, "params.json", params, plen, err);
    free(pbtext);
    free(params);
    if (rc != 0) {
        if (c.text.ptr)
            ls_buf_free(&c.text);
        return -1;
    }
    const char *stext = c.text.ptr ? c.text.ptr : "";
    size_t slen = c.text.len;
    rc = fetch_blobs(s, run_id, dir, stext, slen, err);
    if (rc == 0 && !locked && held_here(state_dir, run_id, stext, slen)) {
        /* Its holder on this machine is writing the local copy now: that
         * copy is the run's, ahead of the store by at most a group. */
        ls_buf_free(&c.text);
        return 0;
    }
    if (rc == 0) {
        /* The local copy: alike (nothing to do), a prefix of the store's
         * (behind), or longer with the store's as its prefix (lines
         * written here that the store never took: never acted on).
         * Anything else is a different journal, refused. */
        char jpath[4400];
        snprintf(jpath, sizeof jpath, "%s/journal.jsonl", dir);
        size_t llen = 0;
        char *local = NULL;
        if (access(jpath, F_OK) == 0) {
            local = ls_journal_text(state_dir, run_id, &llen, err);
            if (local == NULL)
                rc = -1;
        }
        size_t lw = local ? whole_len(local, llen) : 0;
        size_t common = lw < slen ? lw : slen;
        ls_journal_check chk;
        bool alike = local != NULL && lw == slen && memcmp(local, stext, slen) == 0 && lw == llen &&
                     ls_journal_verify(state_dir, run_id, &chk, err) == 0;
        if (rc == 0 && local != NULL && memcmp(local, stext, common) != 0) {
            size_t line = 1;
            for (size_t i = 0; i < common && local[i] == stext[i]; i++)
                line += local[i] == '\n';
            ls_error_set(err, noloc,
                         "the local copy of run %s in %s differs from the store's at line %zu: refusing to "
                         "replace it (lockstep status --verify %s --store URI shows both)",
                         run_id, state_dir, line, run_id);
            rc = -1;
        } else if (rc == 0 && !alike) {
            ls_error_clear(err);
            rc = ls_journal_adopt(state_dir, run_id, stext, slen, err);
        }
        free(local);
    }
    ls_buf_free(&c.text);
    return rc;
}

int ls_store_list(ls_store *s, char ***ids, size_t *n, ls_error *err)
{
    char msg[700] = "";
    if (s->api->run_list(s->c, ids, n, msg, sizeof msg) != 0) {
        ls_error_set(err, noloc, "store %s: %s", s->shown, msg);
        return -1;
    }
    return 0;
}

typedef struct one_line {
    ls_value v;
} one_line;

static int parse_one(void *ud, int64_t seq, const char *line, size_t len)
{
    (void)seq;
    one_line *o = ud;
    char pm[64];
    ls_value v;
    if (ls_value_from_json(line, len, &v, pm, sizeof pm) && v.kind == LS_MAP) {
        o->v = v;
    } else {
        ls_value_free(v);
    }
    return 2; /* one is enough */
}

int ls_store_ends(ls_store *s, const char *run_id, ls_value *first, ls_value *last, ls_error *err)
{
    one_line a = {ls_null()}, b = {ls_null()};
    char msg[700] = "";
    int rc = s->api->events_get(s->c, run_id, 1, false, parse_one, &a, msg, sizeof msg);
    if (rc >= 0)
        rc = s->api->events_get(s->c, run_id, 1, true, parse_one, &b, msg, sizeof msg);
    if (rc < 0) {
        ls_value_free(a.v);
        ls_value_free(b.v);
        ls_error_set(err, noloc, "store %s: %s", s->shown, msg);
        return -1;
    }
    *first = a.v;
    *last = b.v;
    return 0;
}

int ls_store_verify(ls_store *s, const char *state_dir, const char *run_id, FILE *out, ls_error *err)
{
    collect c;
    if (store_text(s, run_id, &c, err) != 0)
        return 2;
    const char *stext = c.text.ptr ? c.text.ptr : "";
    size_t slen = c.text.len;
    int code = 0;
    ls_journal_check chk;
    if (slen == 0) {
        fprintf(out, "store: no journal of run %s in %s\n", run_id, s->shown);
        ls_buf_free(&c.text);
        ls_error_set(err, noloc, "no run '%s' in the store %s", run_id, s->shown);
        return 2;
    }
    if (ls_journal_verify_text(NULL, stext, slen, &chk, NULL) != 0) {
        fprintf(out, "store: journal of run %s: BROKEN at line %zu: %s\n", run_id, chk.bad_line, chk.why);
        code = 1;
    } else {
        fprintf(out, "store: journal of run %s: hash chain intact (%zu lines)\n", run_id, chk.lines);
    }
    size_t slines = chk.lines;
    char jpath[4400];
    snprintf(jpath, sizeof jpath, "%s/runs/%s/journal.jsonl", state_dir, run_id);
    if (access(jpath, F_OK) != 0) {
        fprintf(out, "local copy: none in %s (lockstep status %s --store URI makes one)\n", state_dir, run_id);
        ls_buf_free(&c.text);
        return code;
    }
    ls_error lerr;
    ls_error_clear(&lerr);
    int lrc = ls_journal_verify(state_dir, run_id, &chk, &lerr);
    if (lrc < 0) {
        fprintf(out, "local copy: unreadable: %s\n", lerr.msg);
        code = 1;
    } else if (lrc > 0) {
        fprintf(out, "local copy: BROKEN at line %zu: %s\n", chk.bad_line, chk.why);
        code = 1;
    }
    size_t llen = 0;
    char *local = ls_journal_text(state_dir, run_id, &llen, &lerr);
    if (local != NULL) {
        size_t lw = whole_len(local, llen);
        size_t common = lw < slen ? lw : slen;
        size_t line = 1, i = 0;
        for (; i < common && local[i] == stext[i]; i++)
            line += local[i] == '\n';
        size_t llines = 0;
        for (size_t k = 0; k < lw; k++)
            llines += local[k] == '\n';
        if (i < common) {
            fprintf(out, "local copy: DIFFERS from the store's at line %zu\n", line);
            code = 1;
        } else if (lw == slen) {
            fprintf(out, "local copy: the same as the store's (%zu lines)\n", llines);
        } else if (lw < slen) {
            fprintf(out, "local copy: behind the store's (%zu of %zu lines; lockstep status %s --store URI "
                         "brings it up to date)\n", llines, slines, run_id);
        } else {
            fprintf(out, "local copy: %zu lines past the store's %zu (written here when the store did not take "
                         "them; never acted on: the store's copy is the run)\n", llines - slines, slines);
        }
        free(local);
    }
    ls_buf_free(&c.text);
    return code;
}

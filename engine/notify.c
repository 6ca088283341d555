/*
 * Notifications: the playbook's top-level `notify:` list.
 *
 *   notify:
 *     - url: "https://hooks.example/${{ params.team }}"
 *       on: [approval_needed, halted, failed, succeeded]
 *       headers: {Authorization: "Bearer ${{ params.hook_token }}"}
 *       insecure: false
 *
 * Each entry gets a JSON POST {event, run_id, playbook, env, state,
 * outcome, message, resume_command, dry_run} when one of its events happens:
 *
 *   started          the run (not a resume) started
 *   approval_needed  the run halted waiting for an approval
 *   halted           the run halted for any other reason (a signal, an
 *                    unknown outcome, a journal that cannot be written)
 *   succeeded        the run ended in a success terminal
 *   failed           the run ended in a failure terminal or a runtime error
 *   finished         either of the last two
 *
 * The POST goes through the http.request action itself (the same TLS
 * verification, the same redaction), with a short timeout and three
 * tries.  A notification that cannot be delivered is a warning on stderr:
 * it never fails, halts or holds up the run.  The body is built from the
 * journal's own (redacted) facts and passed through the redactor again, so
 * no secret is ever in it; headers may carry a secret (a token) since they
 * are never shown.  Dry runs and scenario tests send nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "load_int.h"
#include "run_int.h"
#include "secret.h"

#define NOTIFY_TIMEOUT_MS 5000
#define NOTIFY_TRIES 3

static const char *const kinds[] = {"started", "approval_needed", "halted", "succeeded", "failed", "finished", NULL};

static unsigned kind_bit(const char *k)
{
    for (unsigned i = 0; kinds[i]; i++)
        if (strcmp(kinds[i], k) == 0)
            return 1u << i;
    return 0;
}

void ls_load_notify(ls_loader *L, const ls_ynode *n)
{
    static const char *const keys[] = {"url", "on", "headers", "insecure", NULL};
    ls_playbook *pb = L->pb;
    if (n->kind != LS_Y_SEQ) {
        ls_diag_error(L->d, n->loc, "notify must be a list of {url, on, headers}, not a %s", ls_ykind_name(n));
        return;
    }
    pb->notify = calloc(n->n + 1, sizeof *pb->notify);
    if (!pb->notify)
        ls_oom();
    for (size_t i = 0; i < n->n; i++) {
        const ls_ynode *e = n->items[i];
        if (e->kind != LS_Y_MAP) {
            ls_diag_error(L->d, e->loc, "notify: each entry is a mapping {url, on, headers}, not a %s",
                          ls_ykind_name(e));
            continue;
        }
        ls_load_check_keys(L, e, "a notify entry", keys);
        ls_notify_spec *s = &pb->notify[pb->nnotify++];
        s->loc = e->loc;
        const ls_ynode *v = ls_ymap_get(e, "url");
        if (!v)
            ls_diag_error(L->d, e->loc, "notify: an entry needs 'url'");
        else if (ls_load_text(L, v, "notify.url"))
            s->url = ls_load_tmpl(L, v, L->d);
        if ((v = ls_ymap_get(e, "headers"))) {
            if (v->kind != LS_Y_MAP)
                ls_diag_error(L->d, v->loc, "notify.headers must be a mapping of header names to values");
            else
                s->headers = ls_load_tmpl(L, v, L->d);
        }
        if ((v = ls_ymap_get(e, "insecure")))
            s->insecure = ls_load_bool(L, v, "notify.insecure") == 1;
        v = ls_ymap_get(e, "on");
        if (!v) {
            s->on = kind_bit("approval_needed") | kind_bit("halted") | kind_bit("finished");
        } else if (v->kind != LS_Y_SEQ || v->n == 0) {
            ls_diag_error(L->d, v->loc, "notify.on must be a list of events (started, approval_needed, halted, "
                                        "succeeded, failed, finished)");
        } else {
            for (size_t k = 0; k < v->n; k++) {
                const ls_ynode *w = v->items[k];
                unsigned bit = w->kind == LS_Y_SCALAR ? kind_bit(w->str) : 0;
                if (!bit)
                    ls_diag_error(L->d, w->loc, "notify.on: unknown event '%s' (started, approval_needed, halted, "
                                                "succeeded, failed, finished)",
                                  w->kind == LS_Y_SCALAR ? w->str : ls_ykind_name(w));
                s->on |= bit;
            }
        }
    }
}

void ls_notify_specs_free(ls_notify_spec *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ls_tmpl_free(s[i].url);
        ls_tmpl_free(s[i].headers);
    }
    free(s);
}

/* One POST, through the http.request action.  0, or -1 with err. */
static int post(ls_runner *r, ls_value url, ls_value headers, bool insecure, ls_value body, ls_error *err)
{
    const ls_action *a = ls_action_find("http.request");
    ls_action_fn run = a ? ls_action_runner(a, err) : NULL;
    if (run == NULL)
        return -1;
    ls_value in = ls_map_new();
    ls_map_set(&in, "url", ls_value_copy(url));
    ls_map_set(&in, "method", ls_string("POST"));
    ls_map_set(&in, "json", ls_value_copy(body));
    if (headers.kind == LS_MAP)
        ls_map_set(&in, "headers", ls_value_copy(headers));
    ls_map_set(&in, "insecure", ls_bool(insecure));
    ls_action_apply_defaults(a, &in);
    static const volatile sig_atomic_t never = 0;
    ls_call call;
    memset(&call, 0, sizeof call);
    call.state = "notify";
    call.inputs = in;
    call.timeout_ms = NOTIFY_TIMEOUT_MS;
    call.deadline_ms = ls_now_ms() + NOTIFY_TIMEOUT_MS;
    call.cancel = &never; /* a notification is not the action the signal cancels */
    call.runner = r;
    ls_value res = ls_null();
    ls_act_status st = run(&call, &res, err);
    ls_value_free(res);
    ls_value_free(in);
    return st == LS_ACT_OK ? 0 : -1;
}

void ls_notify(ls_runner *r, const char *event, int state, const char *outcome, const char *message)
{
    const ls_playbook *pb = r->pb;
    unsigned bit = kind_bit(event);
    if (pb->nnotify == 0 || r->fake || r->dry_run || bit == 0)
        return;
    if (strcmp(event, "succeeded") == 0 || strcmp(event, "failed") == 0)
        bit |= kind_bit("finished");
    ls_value body = ls_map_new();
    ls_map_set(&body, "event", ls_string(event));
    ls_map_set(&body, "run_id", ls_string(r->run_id));
    ls_map_set(&body, "playbook", ls_string(pb->name));
    ls_map_set(&body, "env", pb->env_name ? ls_string(pb->env_name) : ls_null());
    ls_map_set(&body, "state", state >= 0 ? ls_string(pb->states[state].name) : ls_null());
    ls_map_set(&body, "outcome", outcome ? ls_string(outcome) : ls_null());
    ls_map_set(&body, "message", message ? ls_string(message) : ls_null());
    char resume[512] = "";
    if (strcmp(event, "approval_needed") == 0 && state >= 0)
        snprintf(resume, sizeof resume, "lockstep resume %s --approve %s", r->run_id, pb->states[state].name);
    else if (strcmp(event, "halted") == 0)
        snprintf(resume, sizeof resume, "lockstep resume %s", r->run_id);
    ls_map_set(&body, "resume_command", resume[0] ? ls_string(resume) : ls_null());
    ls_value safe = ls_redact_value(body);
    ls_value_free(body);
    for (size_t i = 0; i < pb->nnotify; i++) {
        const ls_notify_spec *s = &pb->notify[i];
        if (!(s->on & bit))
            continue;
        ls_error err;
        ls_error_clear(&err);
        ls_value url = ls_null(), headers = ls_null();
        int rc = ls_tmpl_render(s->url, &r->ctx, &url, &err);
        if (rc == 0 && s->headers)
            rc = ls_tmpl_render(s->headers, &r->ctx, &headers, &err);
        if (rc == 0 && url.kind != LS_STRING) {
            ls_error_set(&err, s->loc, "notify.url is not a string");
            rc = -1;
        }
        for (int t = 0; rc == 0 && t < NOTIFY_TRIES; t++) {
            if (t > 0) {
                struct timespec ts = {0, 250000000L * t};
                nanosleep(&ts, NULL);
            }
            ls_error_clear(&err);
            if (post(r, url, headers, s->insecure, safe, &err) == 0)
                break;
            if (t + 1 == NOTIFY_TRIES)
                rc = -1;
        }
        if (rc != 0) {
            char msg[1200];
            ls_error_format(&err, msg, sizeof msg);
            char *red = ls_redact(msg, strlen(msg), NULL);
            fprintf(stderr, "lockstep: warning: notification '%s' (notify entry %zu) not delivered: %s\n", event,
                    i + 1, red ? red : "error");
            free(red);
        }
        ls_value_free(url);
        ls_value_free(headers);
    }
    ls_value_free(safe);
}

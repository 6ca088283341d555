/*
 * The run store (issue 17, docs/runs.md): runs, their journals and the
 * per-(playbook, env) lease kept in a MongoDB database (`--store URI`, or
 * $LOCKSTEP_STORE), shared by every machine that names it.
 *
 * THE JOURNAL stays the one format of journal.h: the store holds the same
 * line bytes, one document per line (unique per run and seq), so its hash
 * chain verifies exactly as the local file's does.  The local state
 * directory keeps a copy (the cache): written first, then the store, at
 * every durable point (journal.h's hook), so the engine acts only on what
 * the store acknowledged with write concern majority.
 *
 * THE LEASE replaces nothing: the local flock still keeps two processes of
 * one machine apart; the lease keeps machines apart.  One document per
 * (playbook, env): {holder: {host, pid, run_id}, expires_at, token}.  It
 * is taken with a conditional update (absent, expired or released), the
 * token growing by one on every takeover, and renewed by a thread every
 * third of the lease.  Every batch of journal lines is written only after
 * an update of the lease conditional on the holder's token succeeds, and
 * a seq is written once (the unique index): a holder paused past its lease
 * is refused at its next durable point and halts without acting again.
 *
 * One store per process: ls_store_open makes it the current one, which
 * the runner (run.c) and the commands use.
 */
#ifndef LS_STORE_H
#define LS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "journal.h"
#include "playbook.h"

#define LS_STORE_LEASE_DEFAULT_MS 30000

typedef struct ls_store ls_store;

/* The store's URI: opt (--store), else $LOCKSTEP_STORE, else NULL. */
const char *ls_store_uri(const char *opt);
/* Connects (a ping, bounded: an unreachable store is an error) and makes
 * it the process's store.  NULL with err (the URI's password never shows). */
ls_store *ls_store_open(const char *uri, int64_t lease_ms, ls_error *err);
void ls_store_close(ls_store *s);
/* The process's store, or NULL. */
ls_store *ls_store_current(void);
const char *ls_store_db(const ls_store *s);

/* Refuses (-1 with err, at the state's location) a playbook that names the
 * store's database as a mongo action's target (db, scratch_db, or the
 * database of its uri), when that is known before the run (constants and
 * params). */
int ls_store_check_playbook(const ls_store *s, const ls_playbook *pb, ls_error *err);

/* Takes the lease of (playbook, env) for run_id and starts renewing it.
 * 0 taken; 1 another holds it (holder: "run ID (pid P on HOST)"); -1 err. */
int ls_store_lease_take(ls_store *s, const char *playbook, const char *env, const char *run_id, char *holder,
                        size_t holderlen, ls_error *err);
/* Stops renewing and releases the lease when it is still this process's. */
void ls_store_lease_release(ls_store *s);
/* Whether this process's lease was taken over (fenced): the runner then
 * stops without writing or saying more than why (s may be NULL). */
bool ls_store_fenced(const ls_store *s);
/* Whether run_id holds an unexpired lease on (playbook, env) now. */
bool ls_store_running(ls_store *s, const char *playbook, const char *env, const char *run_id);

/* Records a new run (its playbook's bytes and params.json) and hooks the
 * journal to the store: from now on every durable point writes there.
 * For a resumed run, pb is NULL (recorded already). */
int ls_store_attach(ls_store *s, ls_journal *j, const char *run_id, const ls_playbook *pb, const char *started_at,
                    const char *params_json, size_t params_len, ls_error *err);

/* Brings STATE_DIR/runs/RUN_ID up to the store's copy (journal, tip,
 * blobs, playbook.yaml, params.json).  The journal is left alone while
 * another process of this machine holds the run's local lock (its holder
 * is writing it); `locked`: the caller holds that lock itself.  0; 1 when
 * the store has no such run (err says so); 2 when it has none because the
 * local run is a dry run (never recorded there: read it locally, with no
 * lease); -1 with err (also when the
 * local copy differs from the store's other than by lines at its end:
 * status --verify shows where). */
int ls_store_fetch(ls_store *s, const char *state_dir, const char *run_id, bool locked, ls_error *err);
/* The store's run ids, sorted (free each, then the array). */
int ls_store_list(ls_store *s, char ***ids, size_t *n, ls_error *err);
/* The first and last events of a run in the store (blobs not put back);
 * null when there are none. */
int ls_store_ends(ls_store *s, const char *run_id, ls_value *first, ls_value *last, ls_error *err);
/* status --verify with a store: the store's chain, then the local copy
 * against it.  Prints the findings; returns 0 intact and alike, 1 broken
 * or different, 2 with err when it cannot be read. */
int ls_store_verify(ls_store *s, const char *state_dir, const char *run_id, FILE *out, ls_error *err);

#endif

/*
 * The run journal (SPEC 5): STATE_DIR/runs/RUN_ID/journal.jsonl, one JSON
 * object per line, append-only, each line written whole with one write()
 * and fsync()ed before the engine acts on the event.
 *
 * DURABILITY -- group commit.  Every line is written with one write() as
 * soon as it is appended, except that with `group` set a `transition` or
 * `state_entered` line (a decision, acted on by nothing yet) is held and
 * written with the next line, or at the next sync, in the same write(): a
 * program per state costs one write() of the journal instead of four.  A
 * killed engine (kill -9) loses at most such held decisions, which resume
 * makes again the same way.  With
 * `group` set, fsync() waits until ls_journal_sync(), which the runner
 * calls before it does anything outside itself: before an action starts,
 * before it asks a person, before a retry delay, and when the run ends or
 * halts.  What lies between two syncs was decided by the engine alone
 * (transitions, decision states, state entries) and is decided again the
 * same way on resume, so no effect ever precedes the records it rests on,
 * and a run of decision states costs one fsync instead of two per state.
 * Without `group` (the default) every append is fsynced.  The run
 * directory's own entries (journal.jsonl, playbook.yaml, params.json, and
 * the directory in runs/) are made durable by the first sync, before the
 * engine acts on anything: one fsync of each directory, not one per file.
 *
 * LINE FORMAT -- written once, here:
 *
 *   {"seq":N,"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ","event":"E",<fields>[,"dry_run":true],"hash":"H"}
 *
 *   - `seq` counts lines from 1, with no gaps, across resumes.
 *   - <fields> are the event's fields (EVENTS below), in the order the
 *     engine gives them, every value passed through ls_redact_value; a
 *     string longer than LS_JOURNAL_INLINE_MAX goes to a blob (below), and
 *     then <fields> end with `"blobs":[...]`.
 *   - `dry_run` is present (true) only on the lines of a dry run.
 *   - `hash` is always the last member.  Let BODY be the line's bytes with
 *     the member `,"hash":"H"` removed (so BODY is the compact JSON object
 *     without `hash`, ending in `}`), and PREV the previous line's H (the
 *     empty string for line 1).  Then
 *
 *         H = lower-case hex SHA-256( PREV || BODY )
 *
 *     where || is byte concatenation (64 ASCII hex bytes, then BODY; no
 *     separator, no newline).  Verification works on the raw bytes and
 *     never re-serialises, so any changed byte, a removed, inserted or
 *     reordered line breaks the chain at that line.
 *
 * THE TIP -- RUN_DIR/journal.tip holds two fixed-size slots, each "tip 1
 * SEQ HASH CHECK" (CHECK: FNV-1a of the rest), written in turn right after
 * every fsync of the journal: the slot with the higher SEQ that checks
 * names the last line known durable, so a torn write spoils one slot at
 * most.  A failed tip write cuts the journal back like a failed fsync.  A hash chain alone cannot tell a journal cut at
 * a line boundary (a partial copy, a restored disk) from a whole one; the
 * tip can.  It is written after the journal's fsync, so it never claims
 * more than the disk holds, and fsynced when the run ends or halts.  A
 * torn last line is past the tip (the engine never acted on it) and is
 * dropped on resume; a line at or before the tip that is missing, cut or
 * different makes the journal damaged, and resume refuses it.
 *
 * I/O ERRORS -- a failed write or fsync (ENOSPC, EIO) cuts the journal
 * back to its length at the last successful fsync (a torn line, or lines
 * whose fsync failed, were never acted on) and the journal takes no more
 * lines in this process: the runner halts and the run resumes from what
 * was durable.  After a failed fsync nothing is retried, since Linux
 * reports such an error once and a second fsync would lie.
 *
 * Files are created 0600 with O_EXCL and directories 0700; the run
 * directory is fsynced after its files are created.  The directory also
 * holds `playbook.yaml` (a copy of the playbook's bytes) and `params.json`
 * (`{"params": {...}}`, the resolved params WITHOUT secret params, usable
 * as a values file by resume).
 */
#ifndef LS_JOURNAL_H
#define LS_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lockstep/value.h>
#include "diag.h"

#define LS_JOURNAL_INLINE_MAX 4096u /* longer strings go to blob files */
#define LS_RUN_ID_MAX 64

/*
 * EVENTS -- the one definition of their names and fields.  Every line's
 * `event` is one of these; its fields follow in this order (journal.h is
 * the schema; docs/runs.md shows it to users):
 *
 *   run_started     run_id, playbook, path, sha256, env, params (no secrets:
 *                   ***), dry_run, user, host
 *   state_entered   state, visit
 *   action_started  state, attempt, item, action, inputs (rendered, redacted)
 *   action_finished state, attempt, item, status (ok|failed|timed_out|
 *                   simulated), result, error, duration_ms
 *                   (`item`, only in a for_each state: the element's
 *                   position from 0; attempts count per element)
 *   approval        state, by, via (tty|yes|approve|dry_run)
 *   assumed         state, attempt, outcome (ok|failed|rerun), by: an
 *                   operator's word on an attempt whose outcome was unknown
 *                   (resume --assume STATE=...)
 *   landed          state, attempt, action, landed (true|false|null),
 *                   result, error: the `landed:` probe that resume ran for
 *                   an attempt whose outcome was unknown
 *   transition      from, to, reason (next|branch|failure|timeout|call: into a
 *                   called playbook, playbook.h), error (failure|timeout)
 *   run_resumed     by, host, pid: a resume took the run over
 *   run_halted      state, reason, decisions (dry runs only)
 *   run_finished    outcome (success|failure), state, error (only on a
 *                   runtime error), decisions (dry runs only: each
 *                   decision and the data it rested on, run_out.c)
 *
 * Any string longer than LS_JOURNAL_INLINE_MAX bytes is stored whole in a
 * content-addressed blob file, RUN_DIR/blobs/SHA256 (0600, fsynced before
 * the line that names it), and the line carries `null` in its place plus a
 * last field `"blobs":[{"at":[KEY|INDEX,...],"sha256":H,"bytes":N},...]`
 * naming where each one goes.  The line's hash covers the blob's digest,
 * so the chain covers the blob; ls_journal_read puts every blob back after
 * checking its digest.
 */
typedef enum ls_event {
    LS_EV_RUN_STARTED,
    LS_EV_STATE_ENTERED,
    LS_EV_ACTION_STARTED,
    LS_EV_ACTION_FINISHED,
    LS_EV_APPROVAL,
    LS_EV_ASSUMED,
    LS_EV_LANDED,
    LS_EV_TRANSITION,
    LS_EV_RUN_RESUMED,
    LS_EV_RUN_HALTED,
    LS_EV_RUN_FINISHED,
    LS_EV_UNKNOWN /* a name this version does not know */
} ls_event;

/* The event's name ("run_started", ...). */
const char *ls_event_name(ls_event e);
/* The event of a journal line (a parsed map); LS_EV_UNKNOWN when none. */
ls_event ls_event_of(ls_value line);

typedef struct ls_fold ls_fold; /* below: THE FOLD */

typedef struct ls_journal ls_journal;
/* A second home for the journal's lines: the run store (store.h).  Called
 * at every durable point, after the lines are fsynced and before the tip
 * names them, with the lines written since the last call (their exact
 * bytes, each ending in a newline; first_seq is the first one's seq); with
 * len 0 at a durable point with nothing new, so that the hook can still
 * refuse (a lost lease).  A non-zero return fails the sync as an I/O error
 * does: the journal is cut back to its last durable length and takes no
 * more lines, and the runner halts.  With a hook, an action_started line
 * is always made durable before the action starts (a holder must prove it
 * still holds the lease before it acts). */
typedef int (*ls_journal_hook)(void *ud, ls_journal *j, const char *lines, size_t len, int64_t first_seq,
                               ls_error *err);

struct ls_journal {
    int fd;               /* journal.jsonl, O_APPEND */
    int tip_fd;           /* journal.tip: the last line made durable */
    int tip_slot;         /* the slot written last (0 or 1) */
    char dir[4096];       /* the run directory */
    int64_t seq;          /* last written */
    char hash[65];        /* last written; "" before the first line */
    bool dry_run;
    bool group;           /* group commit: fsync only in ls_journal_sync */
    bool dirty;           /* written since the last fsync */
    bool dirs_dirty;      /* the run directory's entries are not durable yet */
    bool blobs_made;      /* RUN_DIR/blobs exists */
    int64_t len;          /* bytes in journal.jsonl, as written */
    int64_t synced_len;   /* of which fsynced */
    bool failed;          /* an I/O error: cut back to synced_len, takes no more lines */
    char *held;           /* whole lines appended but not written yet (group commit) */
    size_t held_len, held_cap;
    ls_journal_hook hook; /* NULL: none */
    void *hook_ud;
    char *pend;           /* lines not yet handed to the hook */
    size_t pend_len, pend_cap;
    int64_t pend_first;   /* seq of the first of them */
};

/* STATE_DIR from --state-dir, else $LOCKSTEP_STATE_DIR, else ./.lockstep. */
const char *ls_journal_state_dir(const char *opt);
/* A new sortable run id: UTC "YYYYMMDDTHHMMSSmmmZ-xxxxxx" (milliseconds,
 * then 6 random hex). */
void ls_journal_new_id(char out[LS_RUN_ID_MAX]);
/* Current UTC time as ISO-8601 with milliseconds. */
void ls_journal_now_iso(char out[32]);
/* mkdir -p with mode 0700 for each created level. 0 or -1 (errno). */
int ls_journal_mkdirs(const char *path);

/* Creates STATE_DIR/runs/RUN_ID/ and its journal.  0, or -1 with err. */
int ls_journal_create(ls_journal *j, const char *state_dir, const char *run_id, bool dry_run,
                      ls_error *err);
/* Opens an existing run's journal for appending once it is checked whole
 * as ls_journal_verify does (anything else is refused: -1 with err saying
 * what was found and what to do); a torn last line is dropped; seq and
 * hash continue from the last whole line.  *f gets the journal's fold
 * (blobs put back), made in the same pass.  0 or -1. */
int ls_journal_reopen(ls_journal *j, const char *state_dir, const char *run_id, ls_fold *f, ls_error *err);
/* Writes a 0600 file (O_EXCL) into the run directory and fsyncs it. */
int ls_journal_write_file(ls_journal *j, const char *name, const void *data, size_t len, ls_error *err);
/* Appends one event.  `fields` is a map (borrowed) of the event's fields
 * in order.  On success *line_out (when not NULL) gets the written line
 * without its newline (malloc'd), for --output json.  0 or -1 with err. */
int ls_journal_append(ls_journal *j, ls_event event, ls_value fields, char **line_out, ls_error *err);
/* fsyncs what was appended since the last sync (a no-op when nothing
 * was).  0, or -1 with err. */
int ls_journal_sync(ls_journal *j, ls_error *err);
void ls_journal_close(ls_journal *j);

/* Reads only the first event (*first, a map; null when the journal is
 * empty) and the last line's event and state, for listings: the cost does
 * not grow with the journal.  last_event/last_state get "" when unknown. */
int ls_journal_ends(const char *state_dir, const char *run_id, ls_value *first, ls_value *last,
                    ls_error *err);

/* What ls_journal_verify found. */
typedef struct ls_journal_check {
    size_t lines;        /* whole lines */
    int64_t durable;     /* the tip record's seq: lines known made durable */
    bool torn;           /* a torn last line follows them, never made durable */
    size_t bad_line;     /* first bad line (1-based); 0: not at a line */
    char why[512];
} ls_journal_check;

/* Checks a run's journal whole: the hash chain, the tip record (a line
 * that was made durable is still there, unchanged: a cut at a line
 * boundary is caught) and every blob.  Returns 0 when intact (a torn last
 * line past the durable tip is intact: the engine never acted on it); 1
 * when broken (c->why says what, c->bad_line where); -1 when the journal
 * cannot be read (err). */
int ls_journal_verify(const char *state_dir, const char *run_id, ls_journal_check *c, ls_error *err);

/* The local copy of a run kept beside a store (store.h).  The whole
 * journal text (malloc'd; a missing journal is an error naming the run). */
char *ls_journal_text(const char *state_dir, const char *run_id, size_t *len, ls_error *err);
/* Checks the hash chain of a journal's text alone (no tip), and with
 * dir != NULL the blobs its lines name in dir/blobs: 0 intact (c->lines,
 * c->torn), 1 broken (c->why, c->bad_line).  *last_hash gets the last
 * whole line's hash when not NULL. */
int ls_journal_verify_text(const char *dir, const char *text, size_t len, ls_journal_check *c, char last_hash[65]);
/* Writes DIR/NAME whole and durably: a temporary file, fsynced, renamed
 * over it, so a crash leaves the old file or the new one, never a part. */
int ls_journal_replace_file(const char *dir, const char *name, const char *data, size_t len, ls_error *err);
/* Makes `text` (whole lines, an intact chain) the run's local journal,
 * with a tip naming its last line: written beside, fsynced, renamed over
 * journal.jsonl and journal.tip.  The run directory must exist.  0 or -1. */
int ls_journal_adopt(const char *state_dir, const char *run_id, const char *text, size_t len, ls_error *err);


/*
 * THE FOLD -- the one reading of a journal's events into where the run
 * stands, shared by `status`, `resume` and reports (fold.c).
 */
typedef struct ls_fold_state {
    const char *name;       /* borrowed from the events */
    const char *status;     /* NULL (entered: "running"), ok, failed, timed_out, halted, error */
    int64_t attempts, visits;
    ls_value result;        /* borrowed: the last action_finished's result, or null;
                             * for a for_each state {items: [...]}: per element
                             * of the current visit, its last attempt's result */
    ls_value each;          /* for_each: that items list (owned), or null */
    ls_value error;         /* borrowed: the last error (string) or null */
    bool simulated;         /* that result came from dry_run.result */
    bool approved;          /* an approval was given in the current visit */
    const char *approved_by_user, *approved_via; /* borrowed, of that approval */
    const char *first_ts, *last_ts; /* borrowed: first entered, last event */
    int64_t ms;             /* wall time inside the state, all visits */
    int64_t entered_ms;     /* internal: when the current visit began */
    /* References that keep the strings and values above alive once the
     * events are gone (the fold owns them). */
    ls_value ref_name, ref_first_ts, ref_last_ts, ref_by, ref_via;
} ls_fold_state;

struct ls_fold {
    ls_value first;         /* the run_started event */
    ls_fold_state *states;  /* in order of first appearance */
    size_t nstates;
    size_t *path;           /* states[] positions entered, in order */
    size_t npath;
    ls_event end;           /* RUN_FINISHED, RUN_HALTED, or UNKNOWN (running, or killed) */
    ls_value end_event;     /* that event, or null */
    size_t events;
    /* Where a resume continues:
     *  - after a transition (or run_started): `at` is the target, not yet
     *    entered (at = -1: the playbook's start state);
     *  - after state_entered with no attempt: the state runs from its start
     *    (requires, approval) within the same visit (entered);
     *  - after action_started with no action_finished, or an attempt
     *    journaled "cancelled by signal ..." then run_halted: the outcome
     *    is UNKNOWN (unknown);
     *  - after `assumed` rerun or `landed` false: the attempt runs again
     *    (rerun);
     *  - after action_finished: that attempt is judged again (has_outcome). */
    struct {
        long at;                /* states[] position, or -1 */
        bool entered, unknown, rerun, has_outcome, simulated;
        int64_t attempt;        /* last attempt started; 0: none */
        int64_t item;           /* its for_each element; -1: not a for_each state */
        const char *status;     /* of that attempt: ok, failed, timed_out, simulated */
        ls_value result;
        const char *error;      /* "" when none */
        ls_value ref_error;
        int64_t finished_ms;    /* wall clock it finished, 0: unknown */
    } pt;
    ls_value index;         /* name -> states[] position (owned) */
    size_t statecap, pathcap;
};

/* The fold holds its own references: events can be freed as soon as they
 * are added, so a journal is folded in memory that grows with its states,
 * not its events.  ls_fold_add borrows ev; 0, or -1 with msg (an event
 * without the fields its kind needs, or a first event that is not
 * run_started).  ls_fold_end: 0, or -1 with msg when there were no events. */
void ls_fold_init(ls_fold *f);
int ls_fold_add(ls_fold *f, ls_value ev, char *msg, size_t msglen);
int ls_fold_end(ls_fold *f, char *msg, size_t msglen);
/* All of the above over a list of events. */
int ls_journal_fold(ls_value events, ls_fold *f, char *msg, size_t msglen);
void ls_fold_free(ls_fold *f);
/* Reads and folds a run's journal line by line, without checking the
 * chain (status; resume uses ls_journal_reopen).  0 or -1 with err. */
int ls_journal_fold_run(const char *state_dir, const char *run_id, ls_fold *f, ls_error *err);
/* A fold state's position by name, or -1. */
long ls_fold_find(const ls_fold *f, const char *name);
/* Epoch milliseconds of a journal `ts` (0 when unparsable). */
int64_t ls_journal_ms_of(const char *iso);

/* A run id is safe as a path component: [0-9A-Za-z-]+, at most 63 bytes. */
bool ls_journal_id_ok(const char *id);

/* The per-(playbook, env) lock of SPEC 5: STATE_DIR/locks/NAME@ENV.lock,
 * held with flock(LOCK_EX|LOCK_NB) for the life of the process's run.  The
 * holder writes "RUN_ID PID HOST\n" into it.  Returns the fd (>= 0); -1
 * with err on an I/O error; -2 when another process holds it, with
 * holder[] set to "run RUN_ID (pid P on HOST)". */
int ls_lock_take(const char *state_dir, const char *name, const char *env, const char *run_id,
                 char *holder, size_t holderlen, ls_error *err);
void ls_lock_release(int fd);
/* Whether some process holds the lock that names run_id. */
bool ls_lock_held_by(const char *state_dir, const char *name, const char *env, const char *run_id);
/* Whether another process holds the lock now (never creates it); when it
 * does, holder[] = "run RUN_ID (pid P on HOST)", else "".  For dry runs,
 * which take no lock but must say that a real run is under way. */
bool ls_lock_holder(const char *state_dir, const char *name, const char *env, char *holder, size_t holderlen);

#endif

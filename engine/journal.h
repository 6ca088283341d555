/*
 * The run journal (SPEC 5): STATE_DIR/runs/RUN_ID/journal.jsonl, one JSON
 * object per line, append-only, each line written whole with one write()
 * and fsync()ed before the engine acts on the event.
 *
 * DURABILITY -- group commit.  Every line is written with one write() as
 * soon as it is appended, so a killed engine (kill -9) loses nothing.  With
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
 *   - <fields> are the event's fields of the SPEC 5 table, in the order the
 *     engine gives them, every value passed through ls_redact_value and
 *     every string longer than LS_JOURNAL_TEXT_MAX cut with the marker
 *     "…[truncated N bytes]".
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

#define LS_JOURNAL_TEXT_MAX (64u * 1024u) /* longer strings are cut */
#define LS_RUN_ID_MAX 64

typedef struct ls_journal {
    int fd;               /* journal.jsonl, O_APPEND */
    char dir[4096];       /* the run directory */
    int64_t seq;          /* last written */
    char hash[65];        /* last written; "" before the first line */
    bool dry_run;
    bool group;           /* group commit: fsync only in ls_journal_sync */
    bool dirty;           /* written since the last fsync */
    bool dirs_dirty;      /* the run directory's entries are not durable yet */
    int64_t len;          /* bytes in journal.jsonl, as written */
    int64_t synced_len;   /* of which fsynced */
    bool failed;          /* an I/O error: cut back to synced_len, takes no more lines */
} ls_journal;

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
/* Opens an existing run's journal for appending, after checking its chain;
 * seq and hash continue from its last line. */
int ls_journal_reopen(ls_journal *j, const char *state_dir, const char *run_id, ls_error *err);
/* Writes a 0600 file (O_EXCL) into the run directory and fsyncs it. */
int ls_journal_write_file(ls_journal *j, const char *name, const void *data, size_t len, ls_error *err);
/* Appends one event.  `fields` is a map (borrowed) of the event's fields
 * in order.  On success *line_out (when not NULL) gets the written line
 * without its newline (malloc'd), for --output json.  0 or -1 with err. */
int ls_journal_append(ls_journal *j, const char *event, ls_value fields, char **line_out, ls_error *err);
/* fsyncs what was appended since the last sync (a no-op when nothing
 * was).  0, or -1 with err. */
int ls_journal_sync(ls_journal *j, ls_error *err);
void ls_journal_close(ls_journal *j);

/* Reads STATE_DIR/runs/RUN_ID/journal.jsonl into a list of parsed events
 * (maps).  0, or -1 with err (unreadable, a line that is not JSON). */
int ls_journal_read(const char *state_dir, const char *run_id, ls_value *events, ls_error *err);

/* Checks the hash chain.  Returns 0 when intact; 1 when broken, with
 * *bad_line (1-based) and why[] describing the first bad line; -1 when the
 * journal cannot be read (err). */
int ls_journal_verify(const char *state_dir, const char *run_id, size_t *bad_line,
                      char *why, size_t whylen, ls_error *err);

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

#endif

/*
 * Children never outlive the engine unsupervised (issue 13).
 *
 * Three layers, each covering what the one before cannot:
 *
 *   1. proc.c starts every program with PR_SET_PDEATHSIG = SIGKILL (and
 *      checks that its parent is still the engine): the direct child dies
 *      with the engine.
 *   2. While a run is watched (ls_orphans_watch), each running child's
 *      process group is recorded in RUN_DIR/children -- written by the
 *      child itself before it executes the program, cleared by the engine
 *      before it reaps it -- and a small guardian process, forked once per
 *      run, holds a pipe from the engine.  When the engine dies, however
 *      it dies, the pipe closes and the guardian SIGKILLs every group
 *      still recorded: the grandchildren die too.
 *   3. `resume` reads RUN_DIR/children before it decides anything
 *      (ls_orphans_reap): a recorded group that is still alive (say the
 *      guardian was killed as well) is reported, killed, and waited for
 *      until no process of it is left.
 *
 * RUN_DIR/children holds one fixed-width line per live child:
 *   PGID SID START_MS BOOT_ID
 * START_MS is CLOCK_BOOTTIME when the child was started; a group is taken
 * to be ours only on the same boot, in the same session, with every member
 * started after it (and its leader, if alive, started then): a process
 * group id reused by an unrelated program is never killed.  The file is
 * not fsynced: after a machine crash every process is gone anyway.
 */
#ifndef LS_ORPHANS_H
#define LS_ORPHANS_H

#include <stdio.h>
#include <sys/types.h>

#include "diag.h"

#define LS_ORPHAN_LINE 80 /* bytes per record, '\n' included */

/* One child's record, prepared by the engine before the spawn and written
 * by the child.  fd < 0: no run is watched, nothing is recorded. */
typedef struct ls_orphan_note {
    int fd;
    off_t off;
    int slot;
    char line[LS_ORPHAN_LINE]; /* the record, its PGID field blank */
} ls_orphan_note;

/* Engine side, around one spawn: reserve a slot and fill the template
 * (before clone); release it (after the group is killed, before the child
 * is reaped, or when the spawn failed). */
void ls_orphans_prepare(ls_orphan_note *n);
void ls_orphans_release(ls_orphan_note *n);
/* Child side, between clone and execve: system calls only. */
void ls_orphans_child_note(const ls_orphan_note *n, pid_t pid);

/* Starts watching the run in `run_dir`: opens RUN_DIR/children and forks
 * the guardian.  0, or -1 with err.  Calling it again moves the watch. */
int ls_orphans_watch(const char *run_dir, ls_error *err);
/* Stops watching (a normal end: nothing is running); the guardian exits. */
void ls_orphans_unwatch(void);

/* Before a resume decides anything: for each group recorded in
 * STATE_DIR/runs/RUN_ID/children that is still alive, say so on `report`,
 * SIGKILL it and wait (bounded by `wait_ms`) until none of its processes is
 * left; then clear the file.  Returns the number of groups killed, or -1
 * with err when a group could not be killed or would not go away. */
int ls_orphans_reap(const char *state_dir, const char *run_id, FILE *report, long wait_ms, ls_error *err);

#endif

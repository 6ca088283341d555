/*
 * `lockstep plan`: prints what a run would do, rendered, touching nothing
 * (SPEC 4).  plan.c.
 */
#ifndef LS_PLAN_H
#define LS_PLAN_H

#include <stdio.h>
#include "playbook.h"

void ls_plan_print(ls_playbook *pb, FILE *out);
/* The `release:` block in one line for people ("release 2.5.0; upgrades
 * from >=2.4.0 <2.5.0; schema 11 -> 12"), into buf; "" without a block.
 * plan, graph and the run report show it. */
const char *ls_plan_release_text(const ls_playbook *pb, char *buf, size_t len);
/* `plan --env A --compare-env B`: the same playbook loaded twice, side by
 * side, only what differs: params, rendered inputs, confirmations and
 * timeouts; secrets masked (a secret that differs says so, not how).
 * 0, or -1 when writing failed. */
int ls_plan_compare(ls_playbook *a, ls_playbook *b, FILE *out);
/* A condition as shown to people: "guards.X" reads as X, else the source. */
const char *ls_plan_cond_name(const ls_expr *e);

#endif

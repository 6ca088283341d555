/*
 * `lockstep plan`: prints what a run would do, rendered, touching nothing
 * (SPEC 4).  plan.c.
 */
#ifndef LS_PLAN_H
#define LS_PLAN_H

#include <stdio.h>
#include "playbook.h"

void ls_plan_print(ls_playbook *pb, FILE *out);
/* A condition as shown to people: "guards.X" reads as X, else the source. */
const char *ls_plan_cond_name(const ls_expr *e);

#endif

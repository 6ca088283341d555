/*
 * `lockstep graph`: the state machine as Graphviz DOT or Mermaid (SPEC 4).
 */
#ifndef LS_GRAPH_H
#define LS_GRAPH_H

#include <stdio.h>
#include "playbook.h"

typedef enum ls_graph_format { LS_GRAPH_DOT, LS_GRAPH_MERMAID } ls_graph_format;

void ls_graph_write(const ls_playbook *pb, ls_graph_format fmt, FILE *out);

#endif

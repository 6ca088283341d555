/*
 * The playbook JSON Schema, generated from the action table
 * (`lockstep actions --format schema`; cli_schema.c).
 */
#ifndef LS_CLI_SCHEMA_H
#define LS_CLI_SCHEMA_H

#include <stdio.h>

/* Writes schemas/playbook.schema.json's text to `out`; 0, or -1 (printed). */
int ls_schema_write(FILE *out);

#endif

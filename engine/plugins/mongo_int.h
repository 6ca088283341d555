/*
 * Shared by the mongo action family (act_mongo.c: client, probes, table;
 * mongo_dump.c: dump, restore, verify_backup).  Not a public contract.
 */
#ifndef LS_MONGO_INT_H
#define LS_MONGO_INT_H

#include <mongoc/mongoc.h>
#include "registry.h"

/* The cached client for call->inputs.uri (one per URI and timeout per
 * run), or NULL with err set.  *shown_uri gets a malloc'd redacted URI
 * (password as ***) for messages; the caller frees it, also on failure. */
mongoc_client_t *ls_mongo_client(ls_call *call, const char *who, char **shown_uri, ls_error *err);

/* A string input, NULL when absent or null. */
const char *ls_mongo_input_str(ls_call *call, const char *name);

/* Appends maxTimeMS (time left before the deadline) to opts when the call
 * has a deadline. */
void ls_mongo_opts_deadline(ls_call *call, bson_t *opts);

/* The status a failed operation reports: TIMED_OUT when the deadline
 * passed or the server/driver says the time ran out, CANCELLED when the
 * cancel flag is up, else FAILED. */
ls_act_status ls_mongo_fail_status(ls_call *call, const bson_error_t *e);

/* Sets err to "WHO: MESSAGE" with MESSAGE redacted. */
void ls_mongo_error(ls_error *err, const char *who, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

bool ls_mongo_cancelled(ls_call *call);

ls_act_status ls_mongo_dump(ls_call *call, ls_value *result, ls_error *err);
ls_act_status ls_mongo_restore(ls_call *call, ls_value *result, ls_error *err);
ls_act_status ls_mongo_verify_backup(ls_call *call, ls_value *result, ls_error *err);

#endif

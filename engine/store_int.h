/*
 * The run store's MongoDB side (store.h), in lockstep-store.so
 * (engine/plugins/store_mongo.c): the only code of the store that links
 * libmongoc, loaded by store.c when --store is given, so that commands
 * without a store never pay for loading libmongoc (plugin.h says why).
 * Not an API: store.c is its only caller.
 *
 * Every write is made with write concern majority (a bounded wtimeout)
 * and every read with read concern majority.  Collections (docs/runs.md):
 *   runs    {_id: RUN_ID, playbook, env, sha256, started_at, playbook_text: bin, params_json: bin}
 *   events  {run_id, seq, line: bin (the journal line's exact bytes)}, unique (run_id, seq)
 *   blobs   {_id: "RUN_ID:SHA256", run_id, data: bin}
 *   leases  {_id: "PLAYBOOK/ENV", token, holder: {host, pid, run_id}, expires_at (epoch ms), released, last_seq}
 */
#ifndef LS_STORE_INT_H
#define LS_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ls_store_conn ls_store_conn;

typedef struct ls_store_lease {
    int64_t token;
    int64_t expires_at; /* epoch ms */
    bool released;
    bool found;
    char host[256];
    long pid;
    char run_id[64];
} ls_store_lease;

/* One event line, handed out by events_get (borrowed for the call). */
typedef int (*ls_store_line_fn)(void *ud, int64_t seq, const char *line, size_t len);

/* What lockstep-store.so exports, under the name `lockstep_store`.  Every
 * function returns -1 with err on an error the store gave (or none at
 * all: unreachable, timed out). */
typedef struct ls_store_api {
    int abi;             /* LS_PLUGIN_API */
    const char *version; /* LOCKSTEP_VERSION */
    /* Connects and pings (bounded by timeout_ms); makes the indexes. */
    ls_store_conn *(*open)(const char *uri, int64_t timeout_ms, char *err, size_t errlen);
    void (*close)(ls_store_conn *c);
    /* The URI's database (default "lockstep"). */
    const char *(*db_name)(const ls_store_conn *c);
    /* 0 taken (*got: the lease now), 1 held by another (*got: its holder). */
    int (*lease_take)(ls_store_conn *c, const char *key, const char *host, long pid, const char *run_id,
                      int64_t expires_at, int64_t now, ls_store_lease *got, char *err, size_t errlen);
    /* Extends a lease still held under `token`: 0, 1 when the token no
     * longer matches (*now_held: who holds it), -1. */
    int (*lease_renew)(ls_store_conn *c, const char *key, int64_t token, int64_t expires_at, int64_t last_seq,
                       ls_store_lease *now_held, char *err, size_t errlen);
    int (*lease_release)(ls_store_conn *c, const char *key, int64_t token, char *err, size_t errlen);
    /* 0 (got->found false when there is none). */
    int (*lease_get)(ls_store_conn *c, const char *key, ls_store_lease *got, char *err, size_t errlen);
    /* Records a run (kept when it is there already). */
    int (*run_put)(ls_store_conn *c, const char *run_id, const char *playbook, const char *env, const char *sha256,
                   const char *started_at, const char *text, size_t text_len, const char *params, size_t params_len,
                   char *err, size_t errlen);
    /* 0 with malloc'd copies, 1 no such run. */
    int (*run_get)(ls_store_conn *c, const char *run_id, char **text, size_t *text_len, char **params,
                   size_t *params_len, char *err, size_t errlen);
    /* Run ids, sorted (malloc'd array of malloc'd strings). */
    int (*run_list)(ls_store_conn *c, char ***ids, size_t *n, char *err, size_t errlen);
    /* Inserts lines first_seq.. in order: 0, 1 when a seq is taken already
     * (another writer got there first), -1. */
    int (*events_put)(ls_store_conn *c, const char *run_id, int64_t first_seq, const char *const *lines,
                      const size_t *lens, size_t n, char *err, size_t errlen);
    /* Calls fn for each line with seq >= from_seq, in seq order (a non-zero
     * return from fn stops and is returned); `last_only`: only the last. */
    int (*events_get)(ls_store_conn *c, const char *run_id, int64_t from_seq, bool last_only, ls_store_line_fn fn,
                      void *ud, char *err, size_t errlen);
    int (*blob_put)(ls_store_conn *c, const char *run_id, const char *hex, const char *data, size_t len, char *err,
                    size_t errlen);
    /* 0 with a malloc'd copy, 1 missing. */
    int (*blob_get)(ls_store_conn *c, const char *run_id, const char *hex, char **data, size_t *len, char *err,
                    size_t errlen);
} ls_store_api;

#endif

/*
 * Shared by the files of the mongo plugin (mongo.c: client, probes;
 * mongo_backup.c: reading backups; mongo_dump.c: dump; mongo_restore.c:
 * restore, verify_backup).  Not a public contract.
 */
#ifndef LS_MONGO_INT_H
#define LS_MONGO_INT_H

#include <mongoc/mongoc.h>
#include <lockstep/plugin.h>

/* The cached client for the call's `uri` input (one per URI and timeout per
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

/* Did the call's deadline pass or its cancel flag go up?  Sets err ("WHAT:
 * stopped after N documents (cancelled|timed out)") and *st when so. */
bool ls_mongo_should_stop(ls_call *call, const char *who, const char *what, int64_t done, ls_act_status *st,
                          ls_error *err);

/* ---- files (mongo_backup.c) --------------------------------------------------- */

/* "A/B" into out; false when it does not fit. */
bool ls_mongo_join_path(char *out, size_t outlen, const char *a, const char *b);
/* A database or collection name that is safe as one file name. */
bool ls_mongo_name_is_safe(const char *name);
int ls_mongo_fsync_dir(const char *path);
/* mkdir -p (0755 for the parents it makes); 0 or -1 with errno. */
int ls_mongo_mkdir_p(const char *path);

/* ---- the archive format (mongodump --archive) --------------------------------
 *
 *   magic 0x8199e26d (4 bytes, little-endian)
 *   prelude: header {concurrent_collections, version: "0.1", server_version,
 *            tool_version}, then one {db, collection, metadata (the
 *            .metadata.json text), size, type} per collection, then the
 *            terminator 0xFFFFFFFF
 *   then, interleaved in any order:
 *     namespace segment: {db, collection, EOF: false, CRC: 0}, documents,
 *                        terminator
 *     end of collection: {db, collection, EOF: true, CRC: <int64>},
 *                        terminator
 *
 * CRC is CRC-64/ECMA-182 in reflected form (polynomial 0xC96C5795D7870F42),
 * initial value and final xor all ones, over the raw bytes of every
 * document of the collection in archive order.  `gzip` archives are one
 * gzip stream over all of it. */
#define LS_ARCHIVE_MAGIC 0x8199e26du
#define LS_ARCHIVE_TERMINATOR 0xffffffffu
/* The largest document a dump may hold: BSON's 16 MiB plus the server's headroom. */
#define LS_DUMP_MAX_DOC (16 * 1024 * 1024 + 16 * 1024)
/* How deep documents may nest (the server's own limit is 100 levels below the top). */
#define LS_DUMP_MAX_NEST 100

uint64_t ls_crc64_update(uint64_t state, const uint8_t *p, size_t n); /* state starts at ~0 */
#define LS_CRC64_INIT (~(uint64_t)0)
#define LS_CRC64_FINAL(state) ((state) ^ ~(uint64_t)0)

/* ---- reading a backup (mongo_backup.c) -----------------------------------------
 *
 * Four forms, told apart by their content: a directory as mongodump --out
 * writes it (plain or gzip files, each file's compression seen from its
 * bytes), or an archive file (plain or one gzip stream).  Opening reads the
 * directory's metadata files or the archive's prelude; scanning reads the
 * documents. */

typedef enum ls_backup_form { LS_BACKUP_DIRECTORY, LS_BACKUP_ARCHIVE } ls_backup_form;

typedef struct ls_backup_coll {
    char *name;      /* the collection */
    char *data_name; /* the collection its documents go to: name, or system.buckets.NAME (timeseries) */
    char *path;      /* directory form: the .bson[.gz] file, NULL when there is none */
    bson_t *meta;    /* the metadata document ({} when the backup has none) */
    bool timeseries;
    int64_t size_hint; /* directory form: the data file's size */
    int64_t count;   /* documents: known after a scan */
    int64_t bytes;   /* BSON bytes: known after a scan */
    size_t ns;       /* archive form: index in the prelude */
} ls_backup_coll;

typedef struct ls_backup_ns ls_backup_ns;

typedef struct ls_backup {
    ls_backup_form form;
    bool gzip;           /* archive: one gzip stream; directory: any .gz file */
    char *where;         /* the database folder or the archive file, for messages */
    char *db;            /* the source database */
    ls_backup_coll *colls; /* sorted by name */
    size_t ncolls;
    ls_backup_ns *ns;    /* archive: every namespace of the prelude */
    size_t nns;
} ls_backup;

/* Opens FROM (SOURCE_DB: the database to read, default the only one).
 * false with err set; *b is then empty (ls_backup_free is still safe). */
bool ls_backup_open(const char *who, const char *from, const char *source_db, ls_backup *b, ls_error *err);
void ls_backup_free(ls_backup *b);
/* The index of collection `name`, or -1. */
long ls_backup_find(const ls_backup *b, const char *name);

/* Called with each document of a picked collection, in backup order;
 * false stops the scan (the callee has set err). */
typedef bool (*ls_backup_doc_fn)(void *ctx, size_t coll, const bson_t *doc);

/* Reads the documents of the picked collections (pick NULL: all), checks
 * each (length, BSON validity, nesting), and hands it to fn (NULL: check
 * only).  An archive is read and checked whole every time: prelude, every
 * namespace's documents and CRC, terminators, nothing missing, nothing
 * after the end.  Fills count and bytes of what it read.  false with err
 * and *st set (FAILED, or CANCELLED / TIMED_OUT when the call stops). */
bool ls_backup_scan(ls_call *call, const char *who, ls_backup *b, const bool *pick, ls_backup_doc_fn fn, void *ctx,
                    ls_act_status *st, ls_error *err);


#endif

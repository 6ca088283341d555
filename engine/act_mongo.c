/*
 * The mongo action family's rows in the action table (SPEC 6): inputs,
 * results, load-time checks and `mutates`.  The actions themselves are in
 * the mongo plugin (plugins/mongo*.c, built as lockstep-mongo.so with
 * libmongoc; each row is bound to the function the plugin exports as
 * lockstep_action_<name>, <lockstep/plugin.h>), which the engine loads only
 * when a run uses it: libmongoc sets itself up as it is loaded (TLS contexts, SASL
 * plugins, a /dev/shm counter file), and a playbook without mongo actions
 * never pays for that.
 */
#include <string.h>

#include "registry.h"

static bool command_mutates(ls_value inputs)
{
    ls_value m = ls_map_get(inputs, "mutates");
    return m.kind == LS_BOOL ? m.u.b : true;
}

/* A restore that drops each collection first ends in the same database
 * however often it runs (with `exact`, extra collections go too). */
static bool restore_idempotent(ls_value inputs)
{
    ls_value d = ls_map_get(inputs, "drop");
    return d.kind == LS_BOOL ? d.u.b : true;
}

/* ---- load-time checks ----------------------------------------------------
 * Declared types (filter: map, ...) are checked by the loader; these hooks
 * check what a type cannot say. */

static int check_string_list(const ls_tmpl *with, const char *key, ls_loc loc, ls_diags *d, const char *action)
{
    const ls_tmpl *t = ls_tmpl_map_get(with, key);
    if (t == NULL || !ls_tmpl_is_constant(t))
        return 0;
    ls_value v = ls_tmpl_constant(t);
    if (v.kind != LS_LIST)
        return 0; /* the declared type check reports it */
    for (size_t i = 0; i < ls_list_len(v); i++) {
        ls_value s = ls_list_at(v, i);
        if (s.kind != LS_STRING || ls_str_len(s) == 0) {
            ls_loc at = ls_tmpl_loc(t);
            ls_diag_error(d, at.line ? at : loc, "%s: %s[%zu] must be a collection name (a non-empty string)",
                          action, key, i);
            return -1;
        }
    }
    return 0;
}

static int prep_command(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    *prep = NULL;
    const ls_tmpl *t = ls_tmpl_map_get(with, "command");
    if (t != NULL && ls_tmpl_is_constant(t)) {
        ls_value v = ls_tmpl_constant(t);
        if (v.kind == LS_MAP && ls_map_len(v) == 0) {
            ls_loc at = ls_tmpl_loc(t);
            ls_diag_error(d, at.line ? at : loc, "mongo.command: command is empty (e.g. {ping: 1})");
            return -1;
        }
    }
    return 0;
}

static int prep_dump(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    *prep = NULL;
    int rc = check_string_list(with, "collections", loc, d, "mongo.dump");
    const ls_tmpl *t = ls_tmpl_map_get(with, "format");
    if (t != NULL && ls_tmpl_is_constant(t)) {
        ls_value v = ls_tmpl_constant(t);
        if (v.kind == LS_STRING && strcmp(ls_str_ptr(v), "directory") != 0 && strcmp(ls_str_ptr(v), "archive") != 0) {
            ls_loc at = ls_tmpl_loc(t);
            ls_diag_error(d, at.line ? at : loc, "mongo.dump: format must be directory or archive, not '%s'",
                          ls_str_ptr(v));
            rc = -1;
        }
    }
    return rc;
}

static int prep_restore(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    *prep = NULL;
    return check_string_list(with, "collections", loc, d, "mongo.restore");
}

/* ---- the table ------------------------------------------------------------ */

static const ls_input ping_inputs[] = {
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input find_inputs[] = {
    {"collection", "string", true, NULL, "collection to read"},
    {"filter", "map", false, NULL, "query filter, e.g. {_id: schema}; {\"$oid\": HEX} and {\"$date\": ISO} name those types"},
    {"projection", "map", false, NULL, "fields to return, e.g. {schema_version: 1}"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input count_inputs[] = {
    {"collection", "string", true, NULL, "collection to count in"},
    {"filter", "map", false, NULL, "query filter (default: every document)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input command_inputs[] = {
    {"command", "map", true, NULL, "the command document, its name first, e.g. {collMod: users, ...}; run on `db` (default admin)"},
    {"mutates", "bool", false, "true", "whether this command changes the world (dry runs skip mutating commands)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input dump_inputs[] = {
    {"out", "string", true, NULL, "where to write: the directory OUT (writes OUT/DB/COLL.bson[.gz] and COLL.metadata.json[.gz]; OUT/DB must not exist yet), or with format archive the archive file (must not exist yet)"},
    {"format", "string", false, "\"directory\"", "directory (mongodump --out) or archive (mongodump --archive: one file)"},
    {"gzip", "bool", false, "true", "gzip as mongodump --gzip does: directory: every file (COLL.bson.gz, COLL.metadata.json.gz); archive: the whole file, one gzip stream"},
    {"collections", "list", false, NULL, "collections to dump (default: every collection of db except system.*); each must exist"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input restore_inputs[] = {
    {"from", "string", true, NULL, "the backup: a dump directory (mongo.dump's `out`, mongodump --out) or an archive file (mongodump --archive), plain or gzip, told apart by content"},
    {"source_db", "string", false, NULL, "database in the backup to read (default: the only one holding collections other than system.*)"},
    {"drop", "bool", false, "true", "drop each collection before restoring it (then the restore is idempotent: a resumed run whose restore was cut off runs it again)"},
    {"exact", "bool", false, "false", "after the restore, drop the collections of db that the backup does not hold (system.* and views stay), so db equals the backup"},
    {"collections", "list", false, NULL, "collections to restore (default: all in the backup); each must be in the backup"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input verify_inputs[] = {
    {"from", "string", true, NULL, "the backup: a dump directory or an archive file, plain or gzip (as mongo.restore reads it)"},
    {"source_db", "string", false, NULL, "database in the backup to read (default: the only one holding collections other than system.*)"},
    {"collection", "string", false, NULL, "collection to spot-check (default: the largest by BSON bytes)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_field ping_results[] = {
    {"ok", "bool", "true when the server answered ping"},
    {"server_version", "string", "the server's version (buildInfo), or null when it does not say"},
    {NULL, NULL, NULL},
};

static const ls_field find_results[] = {
    {"found", "bool", "whether a document matched"},
    {"doc", "map", "the document (ObjectId as hex, dates as ISO-8601 UTC, Decimal128 as string, binary as base64), or null"},
    {NULL, NULL, NULL},
};

static const ls_field count_results[] = {
    {"count", "int", "number of matching documents"},
    {NULL, NULL, NULL},
};

static const ls_field command_results[] = {
    {"reply", "map", "the server's reply document (also on failure, when there is one)"},
    {NULL, NULL, NULL},
};

static const ls_field dump_results[] = {
    {"dir", "string", "directory format: the database folder written, OUT/DB; archive: null"},
    {"path", "string", "what was written: OUT/DB, or the archive file"},
    {"collections", "list", "[{name, count, bytes}] per collection; bytes counts the BSON (before gzip)"},
    {"docs", "int", "documents dumped in all"},
    {NULL, NULL, NULL},
};

static const ls_field restore_results[] = {
    {"collections", "list", "[{name, count}] per collection restored"},
    {"docs", "int", "documents restored in all"},
    {"dropped", "list", "with exact: the collections dropped because the backup does not hold them"},
    {"format", "string", "the backup's form as read: directory or archive (null when it could not be opened)"},
    {NULL, NULL, NULL},
};

static const ls_field verify_results[] = {
    {"ok", "bool", "restored count equals dump count and the content hashes match"},
    {"collection", "string", "the collection checked"},
    {"dump_count", "int", "documents in the dump's file"},
    {"restored_count", "int", "documents read back from the scratch database"},
    {"live_count", "int", "documents in the live db's collection now (for comparison; not checked)"},
    {"hash_match", "bool", "order-independent SHA-256 sum of the documents matches between dump and restore"},
    {"scratch_db", "string", "the scratch database used (always dropped)"},
    {NULL, NULL, NULL},
};

const ls_action ls_actions_mongo[] = {
    {"mongo.command", "mongo", "run a database command", command_inputs, command_results,
     "the reply is not ok", true, false, command_mutates, prep_command, NULL, NULL, NULL},
    {"mongo.count", "mongo", "count documents matching a filter", count_inputs, count_results,
     "the server errs", false, true, NULL, NULL, NULL, NULL, NULL},
    {"mongo.dump", "mongo", "dump a database as mongodump does, as a directory (--out) or an archive file (--archive), optionally gzip (streamed, written atomically)",
     dump_inputs, dump_results, "anything is not written whole (no complete-looking folder or file is left), or `out` exists", true,
     false, NULL, prep_dump, NULL, NULL, NULL},
    {"mongo.find_one", "mongo", "read one document", find_inputs, find_results,
     "the server errs (not finding is not failing)", false, true, NULL, NULL, NULL, NULL, NULL},
    {"mongo.ping", "mongo", "check that the server answers (the state's timeout bounds server selection); a URI password is always shown as ***", ping_inputs, ping_results,
     "no server answers", false, true, NULL, NULL, NULL, NULL, NULL},
    {"mongo.restore", "mongo", "restore a backup (mongo.dump's or mongodump's: directory or archive, plain or gzip) into db", restore_inputs,
     restore_results, "the backup is damaged anywhere (an archive is checked whole, CRCs included, before anything is dropped or written) or anything is not restored whole",
     true, false, NULL, prep_restore, NULL, NULL, restore_idempotent},
    {"mongo.verify_backup", "mongo",
     "restore one collection of a dump into a scratch database and compare counts and content hashes",
     verify_inputs, verify_results, "the restore fails, or counts or hashes differ", false, true, NULL, NULL,
     NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, false, false, NULL, NULL, NULL, NULL, NULL},
};

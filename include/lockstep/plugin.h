/*
 * The plugin API: all that a plugin (lockstep-NAME.so, an action family
 * whose code links a heavy library) sees of the engine, and what it
 * exports.  A plugin includes this header and <lockstep/value.h>, nothing
 * from engine/.
 *
 * VERSIONED.  LS_PLUGIN_API is bumped whenever anything below changes
 * shape or meaning; the engine refuses a plugin built against another
 * API or another lockstep version (it names the file and says to
 * rebuild).
 *
 * WHAT A PLUGIN EXPORTS
 *
 *   LS_PLUGIN("mongo");                 the descriptor, once per plugin
 *   LS_PLUGIN_ACTION(mongo_find_one)    the code of action mongo.find_one
 *   {
 *       ...
 *   }
 *
 * The action's row in the action table (its inputs, results, checks,
 * `mutates`) is in the engine (engine/act_FAMILY.c), so that validate,
 * plan and `lockstep actions` never load a plugin.  The row's name is the
 * only place the name is written: the engine binds each row of the
 * family to the function exported as lockstep_action_ + the name with '.'
 * as '_', all rows at once when it loads the plugin, and refuses a plugin
 * that lacks any of them.
 *
 * WHAT AN ACTION GETS
 *
 *   ls_act_status fn(ls_call *call, ls_value *result, ls_error *err)
 *
 * `call` and `err` are opaque: read the call with ls_call_*(), report a
 * failure with ls_plugin_error().  *result must be set to a map (possibly
 * empty) that the caller then owns, also on failure.  The ownership rules
 * of values are those of <lockstep/value.h>.  Plugins run on the engine's
 * one thread.
 */
#ifndef LOCKSTEP_PLUGIN_H
#define LOCKSTEP_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lockstep/value.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LS_PLUGIN_API 2

typedef enum ls_act_status {
    LS_ACT_OK = 0,
    LS_ACT_FAILED,
    LS_ACT_TIMED_OUT,
    LS_ACT_CANCELLED, /* SIGINT/SIGTERM: the run halts, resumable */
    LS_ACT_INTERRUPTED /* scenario tests only: the outcome is unknown, as after a crash (never from a plugin) */
} ls_act_status;

typedef struct ls_call ls_call;   /* one attempt of one action */
typedef struct ls_error ls_error; /* where a failure is reported */

typedef ls_act_status (*ls_action_fn)(ls_call *call, ls_value *result, ls_error *err);

/* ---- the call ----------------------------------------------------------- */

/* The rendered input map (family defaults and input defaults applied);
 * borrowed for the call. */
ls_value ls_call_inputs(const ls_call *call);
/* One input, borrowed; null when absent. */
ls_value ls_call_input(const ls_call *call, const char *name);
/* The attempt's timeout (0: none), and the ls_now_ms() value at which it
 * times out (0: none). */
int64_t ls_call_timeout_ms(const ls_call *call);
int64_t ls_call_deadline_ms(const ls_call *call);
/* Milliseconds left before the deadline (INT64_MAX when none; 0 when past). */
int64_t ls_call_remaining_ms(const ls_call *call);
/* SIGINT/SIGTERM arrived: stop now and return LS_ACT_CANCELLED. */
bool ls_call_cancelled(const ls_call *call);
/* Monotonic milliseconds. */
int64_t ls_now_ms(void);

/* A per-run cache (e.g. one client per URI): `destroy` runs when the run
 * ends.  put takes obj (destroying it at once if it cannot keep it). */
void *ls_call_cache_get(ls_call *call, const char *key);
void ls_call_cache_put(ls_call *call, const char *key, void *obj, void (*destroy)(void *));

/* ---- reporting ------------------------------------------------------------ */

/* Sets the failure message (the first one wins), with every secret the run
 * knows and every URI password replaced by ***. */
void ls_plugin_error(ls_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Has a failure been reported? */
bool ls_plugin_has_error(const ls_error *err);
/* A malloc'd copy of s[0..n) redacted as error messages are (for log
 * lines and the like); NULL when out of memory. */
char *ls_plugin_redact(const char *s, size_t n);

/* ---- helpers ---------------------------------------------------------------- */

/* SHA-256 of p[0..n) into out. */
void ls_plugin_sha256(const void *p, size_t n, unsigned char out[32]);

/* ---- the exports ------------------------------------------------------------ */

typedef struct ls_plugin {
    int api;             /* LS_PLUGIN_API */
    const char *version; /* LOCKSTEP_VERSION of the build */
    const char *name;    /* "mongo": the plugin is lockstep-mongo.so */
} ls_plugin;

#define LS_PLUGIN_EXPORT __attribute__((visibility("default")))

#define LS_PLUGIN(name_) \
    LS_PLUGIN_EXPORT const ls_plugin lockstep_plugin = {LS_PLUGIN_API, LOCKSTEP_VERSION, name_}

#define LS_PLUGIN_ACTION(sym)                                                                   \
    LS_PLUGIN_EXPORT ls_act_status lockstep_action_##sym(ls_call *, ls_value *, ls_error *); \
    LS_PLUGIN_EXPORT ls_act_status lockstep_action_##sym(ls_call *call, ls_value *result, ls_error *err)

#ifdef __cplusplus
}
#endif

#endif

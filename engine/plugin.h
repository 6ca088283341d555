/*
 * Plugins: action families whose code links a heavy library live in their
 * own shared object, loaded the first time a run needs them.
 *
 *   mongo  lockstep-mongo.so  (libmongoc, libbson, zlib)
 *   http   lockstep-http.so   (libcurl)
 *
 * lockstep-ed25519.so (libcrypto) signs and checks release bundles; it is
 * not an action plugin and bundle.c loads it itself (bundle_int.h).
 *
 * Their rows in the action table (inputs, results, load-time checks,
 * `mutates`) stay in the engine, so validate, plan, `lockstep actions` and
 * scenario tests never load them.  Loading libmongoc costs a process about
 * 8 ms before main() (its load-time initialisation and relocating the
 * ~40 libraries it brings): every command used to pay it.
 *
 * A plugin is found beside the lockstep executable, or in ../lib/lockstep/
 * relative to it (an installed tree); nothing from the environment picks
 * the place.  It calls back into the engine (values, redaction, the call
 * cache), which the executable exports.  A plugin built for another
 * version of lockstep is refused.  `ls_run` loads every plugin a playbook
 * needs before it starts the run, so a missing one stops it with nothing
 * done.
 */
#ifndef LS_PLUGIN_H
#define LS_PLUGIN_H

#include "registry.h"

/* Bumped whenever ls_call, ls_value or the callbacks change shape. */
#define LS_PLUGIN_ABI 1

typedef struct ls_plugin_action {
    const char *name; /* "mongo.ping"; NULL ends the list */
    ls_action_fn run;
} ls_plugin_action;

/* What a plugin exports, under the name `lockstep_plugin`. */
typedef struct ls_plugin {
    int abi;                         /* LS_PLUGIN_ABI */
    const char *version;             /* LOCKSTEP_VERSION */
    const char *name;                /* "mongo" */
    const ls_plugin_action *actions;
} ls_plugin;

#define LS_PLUGIN_EXPORT __attribute__((visibility("default")))

/* The run function plugin `name` exports for `action`, loading the plugin
 * the first time (once per process); NULL with err set when it cannot be
 * loaded (which files were tried, and why) or lacks the action. */
ls_action_fn ls_plugin_action_fn(const char *name, const char *action, ls_error *err);

/* Test drivers that are not the lockstep executable: look in `dir`
 * first. */
void ls_plugin_set_dir(const char *dir);

#endif

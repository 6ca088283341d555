/*
 * A plugin that says it is the http plugin of this build and exports no
 * code for http.request: the engine binds every row of a family when it
 * loads the plugin, so it must refuse this one (test_plugins.py).  Built
 * against <lockstep/plugin.h> only, as a real plugin is.
 */
#include <lockstep/plugin.h>

LS_PLUGIN("http");

/*
 * The runner's idempotence of mongo.restore (issue 11): with drop (the
 * default) a restore gives the same database however often it runs, so a
 * resumed run whose restore was cut off runs it again; without drop it
 * does not; a state's own `idempotent:` still wins.  Asks the function the
 * runner asks (ls_run_state_idempotent), on the rendered inputs.
 */
#include <stdio.h>
#include <string.h>

#include "run_int.h"

static int failures;

static void expect(bool got, bool want, const char *what)
{
    if (got != want) {
        printf("FAIL %s: expected %s\n", what, want ? "idempotent" : "not idempotent");
        failures++;
    } else {
        printf("ok   %s\n", what);
    }
}

int main(void)
{
    const ls_action *restore = ls_action_find("mongo.restore"), *dump = ls_action_find("mongo.dump");
    if (restore == NULL || dump == NULL) {
        printf("FAIL no mongo.restore / mongo.dump in the action table\n");
        return 1;
    }
    ls_state st;
    memset(&st, 0, sizeof st);
    st.action = restore;
    st.mutates = -1;
    st.idempotent = -1;

    ls_value in = ls_map_new();
    ls_map_set(&in, "from", ls_string("/backups/x.archive.gz"));
    ls_action_apply_defaults(restore, &in); /* drop: true */
    expect(ls_run_state_idempotent(&st, in), true, "restore with the default drop");
    ls_map_set(&in, "exact", ls_bool(true));
    expect(ls_run_state_idempotent(&st, in), true, "restore with drop and exact");
    ls_map_set(&in, "drop", ls_bool(false));
    expect(ls_run_state_idempotent(&st, in), false, "restore without drop (documents would be inserted twice)");
    st.idempotent = 1;
    expect(ls_run_state_idempotent(&st, in), true, "a state's idempotent: true wins");
    st.idempotent = -1;
    ls_map_set(&in, "drop", ls_bool(true));
    st.idempotent = 0;
    expect(ls_run_state_idempotent(&st, in), false, "a state's idempotent: false wins");
    ls_value_free(in);

    st.action = dump;
    st.idempotent = -1;
    ls_value din = ls_map_new();
    ls_map_set(&din, "out", ls_string("/backups/x"));
    ls_action_apply_defaults(dump, &din);
    expect(ls_run_state_idempotent(&st, din), false, "dump (refuses an existing out) is not");
    ls_value_free(din);
    return failures ? 1 : 0;
}

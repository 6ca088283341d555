/*
 * lockstep: the command line.  Dispatches to the commands of cli.h; every
 * command parses its own options and returns its exit code (docs/cli.md).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "load_int.h"
#include "lockstep_commit.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"validate", ls_cmd_validate, "check a playbook and its params; nothing runs"},
    {"plan", ls_cmd_plan, "show what would run, rendered; touches nothing"},
    {"run", ls_cmd_run, "run a playbook (or rehearse it with --dry-run)"},
    {"resume", ls_cmd_resume, "continue a halted or interrupted run from its journal"},
    {"status", ls_cmd_status, "list runs, show one, or verify a journal's hash chain"},
    {"report", ls_cmd_report, "tell a run as HTML, Markdown, JUnit XML or JSON"},
    {"graph", ls_cmd_graph, "write the state machine as Graphviz DOT or Mermaid"},
    {"test", ls_cmd_test, "run scenario tests against a playbook"},
    {"actions", ls_cmd_actions, "describe the built-in actions"},
    {"bundle", ls_cmd_bundle, "pack a playbook, its files, environments and tests into a (signed) release bundle"},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fputs("usage: lockstep COMMAND [ARGS]\n\n"
          "lockstep runs operational procedures written as YAML state machines.\n\n"
          "commands:\n", out);
    for (const command *c = commands; c->name; c++)
        fprintf(out, "  %-9s %s\n", c->name, c->summary);
    fputs("\nlockstep COMMAND --help describes one command; lockstep --version prints the version.\n"
          "exit codes: 0 success, 1 failure, 2 usage or invalid input, 3 halted (resumable), 4 locked\n",
          out);
}

/* "did you mean": the only command the word begins ("val" -> validate),
 * else one within two edits (not for a word of one or two letters, which
 * is within two edits of too much); NULL when there is no good guess. */
static const char *suggest(const char *word)
{
    const char *names[sizeof commands / sizeof commands[0]];
    size_t n = 0;
    for (const command *c = commands; c->name; c++)
        names[n++] = c->name;
    const char *best = NULL;
    size_t len = strlen(word), prefixed = 0;
    for (size_t i = 0; i < n && len > 0; i++)
        if (strncmp(names[i], word, len) == 0) {
            best = names[i];
            prefixed++;
        }
    if (prefixed == 1)
        return best;
    if (prefixed > 1 || len < 3)
        return NULL;
    return ls_load_suggest(word, names, n);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("lockstep %s (commit %s)\n", LOCKSTEP_VERSION, LOCKSTEP_COMMIT);
        return 0;
    }
    for (const command *c = commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0)
            return c->fn(argc - 1, argv + 1);
    const char *hint = suggest(argv[1]);
    if (hint)
        fprintf(stderr, "lockstep: unknown command '%s' (did you mean '%s'? see lockstep --help)\n", argv[1], hint);
    else
        fprintf(stderr, "lockstep: unknown command '%s' (see lockstep --help)\n", argv[1]);
    return 2;
}

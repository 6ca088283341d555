/*
 * The docker actions (SPEC 6): docker.pull, docker.run, docker.compose.
 *
 * argv only (never a shell), the program from the `docker` input, else
 * `docker` on PATH.  docker.run always passes --rm: a one-off container
 * (a migration) must not be left behind.  docker.compose's `env` goes into
 * the child's environment, where compose's `${IMAGE_TAG}` interpolation
 * finds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act_prog.h"
#include "registry.h"

static int docker_start(ls_argv *a, ls_value in, const char *who, ls_error *err)
{
    const char *prog;
    if (ls_input_str(in, "docker", who, &prog, err))
        return -1;
    ls_argv_add(a, prog ? prog : "docker");
    return 0;
}

static int need_str(ls_value in, const char *name, const char *who, const char **out, ls_error *err)
{
    ls_loc none = {0};
    if (ls_input_str(in, name, who, out, err))
        return -1;
    if (*out == NULL) {
        ls_error_set(err, none, "%s: %s is required and must not be empty", who, name);
        return -1;
    }
    return 0;
}

static ls_act_status act_docker_pull(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "docker.pull";
    *result = ls_map_new();
    const char *image;
    ls_argv a;
    ls_argv_init(&a);
    ls_act_status st = LS_ACT_FAILED;
    if (need_str(call->inputs, "image", who, &image, err) == 0 && docker_start(&a, call->inputs, who, err) == 0) {
        ls_argv_add(&a, "pull");
        ls_argv_add(&a, image);
        st = ls_prog_run(who, call, &a, NULL, false, result, err, NULL);
    }
    ls_argv_free(&a);
    return st;
}

/* docker run --rm [--env-file F] [-e K=V]... IMAGE [COMMAND...] */
static ls_act_status act_docker_run(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "docker.run";
    *result = ls_map_new();
    const char *image, *env_file;
    ls_argv a;
    ls_argv_init(&a);
    ls_act_status st = LS_ACT_FAILED;
    char **env = NULL;
    size_t nenv = 0;
    if (need_str(call->inputs, "image", who, &image, err) ||
        ls_input_str(call->inputs, "env_file", who, &env_file, err) ||
        ls_env_entries(ls_map_get(call->inputs, "env"), who, &env, &nenv, err) ||
        docker_start(&a, call->inputs, who, err))
        goto out;
    ls_argv_add(&a, "run");
    ls_argv_add(&a, "--rm");
    if (env_file) {
        ls_argv_add(&a, "--env-file");
        ls_argv_add(&a, env_file);
    }
    for (size_t i = 0; i < nenv; i++) {
        ls_argv_add(&a, "-e");
        ls_argv_add(&a, env[i]);
    }
    ls_argv_add(&a, image);
    ls_value cmd = ls_map_get(call->inputs, "command");
    if (!ls_is_null(cmd) && ls_argv_add_list(&a, cmd, who, "command", err))
        goto out;
    st = ls_prog_run(who, call, &a, NULL, false, result, err, NULL);
out:
    ls_env_entries_free(env, nenv);
    ls_argv_free(&a);
    return st;
}

/* docker compose [-f FILE] [-p PROJECT] ARGS..., env added to the child's. */
static ls_act_status act_docker_compose(ls_call *call, ls_value *result, ls_error *err)
{
    const char *who = "docker.compose";
    *result = ls_map_new();
    const char *file, *project;
    ls_argv a;
    ls_argv_init(&a);
    ls_act_status st = LS_ACT_FAILED;
    char **env = NULL;
    size_t nenv = 0;
    ls_scan *own = NULL;
    ls_scanner *sc = NULL;
    if (ls_input_str(call->inputs, "file", who, &file, err) ||
        ls_input_str(call->inputs, "project", who, &project, err) ||
        ls_env_entries(ls_map_get(call->inputs, "env"), who, &env, &nenv, err) ||
        docker_start(&a, call->inputs, who, err))
        goto out;
    ls_argv_add(&a, "compose");
    if (file) {
        ls_argv_add(&a, "-f");
        ls_argv_add(&a, file);
    }
    if (project) {
        ls_argv_add(&a, "-p");
        ls_argv_add(&a, project);
    }
    if (ls_argv_add_list(&a, ls_map_get(call->inputs, "args"), who, "args", err))
        goto out;
    if (ls_prog_scanner(who, call, &own, &sc, err) != 0)
        goto out;
    st = ls_prog_run_scan(who, call, &a, env, false, sc, result, err, NULL);
out:
    ls_scanner_free(sc);
    ls_scan_free(own);
    ls_env_entries_free(env, nenv);
    ls_argv_free(&a);
    return st;
}

/* Read-only compose subcommands: they run in dry runs too. */
static bool compose_mutates(ls_value inputs)
{
    static const char *const readonly[] = {"ps", "config", "logs", "images", "ls", NULL};
    ls_value first = ls_list_at(ls_map_get(inputs, "args"), 0);
    if (first.kind != LS_STRING)
        return true;
    for (size_t i = 0; readonly[i]; i++)
        if (strcmp(ls_str_ptr(first), readonly[i]) == 0)
            return false;
    return true;
}

static const ls_input pull_inputs[] = {
    {"image", "string", true, NULL, "the image to pull, e.g. registry/core-admin:v2.5.0"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input run_inputs[] = {
    {"image", "string", true, NULL, "the image to run (always with --rm)"},
    {"command", "list", false, NULL, "command and arguments after the image, e.g. [yarn, migrate]"},
    {"env_file", "string", false, NULL, "an env file passed as --env-file"},
    {"env", "map", false, NULL, "variables set in the container (-e K=V)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_input compose_inputs[] = {
    {"args", "list", true, NULL, "the compose subcommand and its arguments, e.g. [up, -d]"},
    {"file", "string", false, NULL, "compose file (-f)"},
    {"project", "string", false, NULL, "project name (-p)"},
    {"env", "map", false, NULL, "variables added to docker's environment for interpolation, e.g. IMAGE_TAG"},
    {"scan", "list", false, NULL,
     "PCRE2 regexes applied to every line of the output as it streams, past the 1 MiB capture too (e.g. with "
     "[logs]; adds matched, count, matches)" LS_SCAN_RULES},
    {"max_matches", "int", false, "100", "with scan: at most this many matching lines are listed (count keeps counting)"},
    {NULL, NULL, false, NULL, NULL},
};

static const ls_field compose_results[] = {
    {"exit_code", "int", "docker's exit code (-1 when killed by a signal)"},
    {"stdout", "string", "standard output, capped at 1 MiB"},
    {"stderr", "string", "standard error, capped at 1 MiB"},
    {"duration_ms", "int", "wall time"},
    {"truncated", "bool", "true when stdout or stderr hit the cap (scan still saw every byte)"},
    {"matched", "bool", "with scan: some line of the output matched"},
    {"count", "int", "with scan: matching lines in the whole output"},
    {"matches", "list", "with scan: [{pattern, line, stream}] for the first max_matches matching lines"},
    {NULL, NULL, NULL},
};

static int prepare_compose(const ls_tmpl *with, ls_loc loc, ls_diags *d, void **prep)
{
    (void)loc;
    return ls_scan_prepare("docker.compose", "scan", with, d, prep);
}

const ls_action ls_actions_docker[] = {
    {"docker.pull", "docker", "pull an image (`docker pull IMAGE`)", pull_inputs, ls_program_results,
     "docker exits non-zero", true, true, NULL, NULL, NULL, act_docker_pull, NULL},
    {"docker.run", "docker", "run a one-off container to completion (`docker run --rm ... IMAGE CMD...`)",
     run_inputs, ls_program_results, "docker exits non-zero (the container's exit code)", true, false, NULL, NULL, NULL,
     act_docker_run, NULL},
    {"docker.compose", "docker", "run `docker compose -f FILE -p PROJECT ARGS...` with env added", compose_inputs,
     compose_results, "docker compose exits non-zero", true, false, compose_mutates, prepare_compose, ls_scan_free,
     act_docker_compose, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, false, false, NULL, NULL, NULL, NULL, NULL},
};

/*
 * The lockstep commands.  main.c dispatches; each command lives with its
 * stage: validate/graph/actions in cli_load.c, plan/run/resume/status in
 * cli_run.c, test in scenario.c.  Each returns the process exit code (SPEC 4).
 */
#ifndef LS_CLI_H
#define LS_CLI_H

int ls_cmd_validate(int argc, char **argv);
int ls_cmd_graph(int argc, char **argv);
int ls_cmd_actions(int argc, char **argv);
int ls_cmd_plan(int argc, char **argv);
int ls_cmd_run(int argc, char **argv);
int ls_cmd_resume(int argc, char **argv);
int ls_cmd_status(int argc, char **argv);
int ls_cmd_report(int argc, char **argv); /* report.c */
int ls_cmd_test(int argc, char **argv);
int ls_cmd_bundle(int argc, char **argv); /* cli_bundle.c */

#endif

# Params: declarations, --set typing, env variables, --env and --values
# files, constraints and secrets, as playbook cases with exact diagnostics.
lockstep_py_test(params_cases ${CMAKE_CURRENT_LIST_DIR}/../load/run_cases.py ${CMAKE_CURRENT_LIST_DIR})

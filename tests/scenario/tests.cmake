# `lockstep test` itself: exact output, exit codes, diagnostics and coverage
# on a small playbook (cases/*.case); and the Message Center playbook's
# environments and scenarios (coverage >= 90%).
lockstep_py_test(scenario_cases ${CMAKE_CURRENT_LIST_DIR}/run_cases.py)
lockstep_py_test(scenario_message_center ${CMAKE_CURRENT_LIST_DIR}/mc_playbook.py)
lockstep_py_test(scenario_examples ${CMAKE_CURRENT_LIST_DIR}/examples.py)

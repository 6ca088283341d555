# The reusable parts in playbooks/lib: each validates on its own, its
# scenarios pass with every transition covered; and each runs for real
# against the simulator (tools/sim), the world checked afterwards.
lockstep_py_test(playbook_lib_scenarios ${CMAKE_CURRENT_LIST_DIR}/scenarios.py)
lockstep_py_test(playbook_lib_sim ${CMAKE_CURRENT_LIST_DIR}/sim_run.py)

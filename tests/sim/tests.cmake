# The simulator's own behaviour (tools/sim), against the MongoDB test server.
lockstep_py_test(sim_behaviour ${CMAKE_CURRENT_LIST_DIR}/sim_test.py)
# `lockstep run` of an upgrade playbook against the simulator.
lockstep_py_test(sim_playbook ${CMAKE_CURRENT_LIST_DIR}/playbook_test.py)
# What a dry run of the shipped upgrade proves (unchanged-data labels, the
# image check in preflight), against the simulator.
lockstep_py_test(sim_rehearsal ${CMAKE_CURRENT_LIST_DIR}/rehearsal_test.py)
# The shipped upgrade refuses a running version outside release.upgrades_from.
lockstep_py_test(sim_release_bound ${CMAKE_CURRENT_LIST_DIR}/release_test.py)

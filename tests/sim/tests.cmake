# The simulator's own behaviour (tools/sim), against the MongoDB test server.
lockstep_py_test(sim_behaviour ${CMAKE_CURRENT_LIST_DIR}/sim_test.py)

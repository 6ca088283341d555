# End to end: the Message Center upgrade run for real against the simulator
# (tools/sim) and the MongoDB test server, then the world checked.
lockstep_py_test(e2e_message_center_upgrade ${CMAKE_CURRENT_LIST_DIR}/e2e_upgrade.py)

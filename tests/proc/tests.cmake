# Programs, secrets, SHA-256 and the core actions (issue 3 items 2 and 11).
lockstep_c_test(proc_run SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_proc.c)

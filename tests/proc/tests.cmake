# Programs, secrets, SHA-256 and the core actions (issue 3 items 2 and 11).
lockstep_c_test(proc_run SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_proc.c)
lockstep_c_test(proc_redact SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_secret.c
  ARGS ${CMAKE_CURRENT_LIST_DIR}/redact.cases)
lockstep_c_test(proc_sha256 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sha256.c)
lockstep_c_test(proc_core SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_core.c
  ARGS ${CMAKE_CURRENT_LIST_DIR}/core.cases)
# Issue 3 item 11 end to end: every byte a run writes is scanned for the secret.
lockstep_py_test(proc_secret_leak ${CMAKE_CURRENT_LIST_DIR}/secret_leak.py)
# Load-time checks of the core actions' inputs: exact diagnostics.
lockstep_py_test(proc_validate ${CMAKE_CURRENT_LIST_DIR}/validate_core.py)
# Streaming scans (issue 14): pieces of any size find what the whole text does.
lockstep_c_test(proc_scan SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_scan.c)

# The run store (issue 17): two state dirs as two machines against
# LOCKSTEP_TEST_MONGODB_URI (run ctest through tools/with-test-servers, as
# tools/test does; without the variable the test fails, it never skips).
lockstep_py_test(store_shared ${CMAKE_CURRENT_LIST_DIR}/test_store.py)

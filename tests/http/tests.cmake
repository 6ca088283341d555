# http.request against a loopback server the test starts itself (issue 4).
# act_driver runs one action outside the runner; the mongo tests use it too.
add_executable(act_driver ${CMAKE_CURRENT_LIST_DIR}/act_driver.c)
lockstep_link_engine(act_driver)
target_compile_definitions(act_driver PRIVATE LOCKSTEP_PLUGIN_DIR="$<TARGET_FILE_DIR:lockstep-mongo>")
lockstep_picky(act_driver)
lockstep_py_test(http_actions ${CMAKE_CURRENT_LIST_DIR}/test_http.py $<TARGET_FILE:act_driver>)

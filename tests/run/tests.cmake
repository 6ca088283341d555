# The runner (SPEC 4, 5): integration tests that drive the lockstep binary
# on small playbooks written into temp dirs.
foreach(t machine dryrun approval lock crash signal secret journal plugins resume report notify progress
          children)
  lockstep_py_test(run_${t} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.py)
endforeach()
# Scenario-test mode of the runner (canned results, no journal), in C.
lockstep_c_test(run_fake SOURCES ${CMAKE_CURRENT_LIST_DIR}/fake_test.c)

# The runner (SPEC 4, 5): integration tests that drive the lockstep binary
# on small playbooks written into temp dirs.
foreach(t machine dryrun approval lock crash signal secret journal plugins resume report notify progress
          children subplaybook for_each)
  lockstep_py_test(run_${t} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.py)
endforeach()
# A plugin lacking the code of a row of its family (test_plugins.py).
add_library(plugin_incomplete MODULE ${CMAKE_CURRENT_LIST_DIR}/plugin_incomplete.c)
set_target_properties(plugin_incomplete PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden)
target_include_directories(plugin_incomplete PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_compile_definitions(plugin_incomplete PRIVATE LOCKSTEP_VERSION="${PROJECT_VERSION}")
lockstep_picky(plugin_incomplete)
add_dependencies(lockstep plugin_incomplete)
set_property(TEST run_plugins APPEND PROPERTY ENVIRONMENT "LOCKSTEP_TEST_INCOMPLETE_PLUGIN=$<TARGET_FILE:plugin_incomplete>")
# Scenario-test mode of the runner (canned results, no journal), in C.
lockstep_c_test(run_fake SOURCES ${CMAKE_CURRENT_LIST_DIR}/fake_test.c)

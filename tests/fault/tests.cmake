# Error paths that run (issue 13): the engine linked with a failing
# allocator and a failing disk (fault_hooks.h), looped over a whole
# validate and a small run.  The strides keep the ctest runs to a few
# minutes under ASan; LOCKSTEP_FAULT_STRIDE=1 fails every allocation
# (docs/runs.md, "Testing the error paths").
add_executable(fault_test ${CMAKE_CURRENT_LIST_DIR}/fault_test.c ${CMAKE_CURRENT_LIST_DIR}/fault_hooks.c)
target_include_directories(fault_test PRIVATE ${PROJECT_SOURCE_DIR}/engine)
lockstep_link_engine(fault_test)
lockstep_picky(fault_test)
set(LOCKSTEP_FAULT_WRAP malloc calloc realloc strdup strndup realpath write pwrite fsync fdatasync)
list(TRANSFORM LOCKSTEP_FAULT_WRAP PREPEND "-Wl,--wrap=")
target_link_options(fault_test PRIVATE ${LOCKSTEP_FAULT_WRAP})

set(LOCKSTEP_FAULT_PB ${PROJECT_SOURCE_DIR}/playbooks/message-center/upgrade.yaml)
function(lockstep_fault_test name)
  add_test(NAME ${name} COMMAND fault_test ${ARGN})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "LOCKSTEP_SRC=${PROJECT_SOURCE_DIR};${LOCKSTEP_TEST_ENV}"
    TIMEOUT 900)
endfunction()
lockstep_fault_test(fault_alloc_validate alloc --stride 17 -- validate ${LOCKSTEP_FAULT_PB} --env staging
  --set new_tag=v2.4.0 --set expected_schema=42 --set mongodb_uri=mongodb://app:pw-fault-1@db/mc)
# an invalid one (no values): an error lost to a failed allocation shows
lockstep_fault_test(fault_alloc_validate_invalid alloc --stride 23 -- validate ${LOCKSTEP_FAULT_PB})
lockstep_fault_test(fault_alloc_run alloc-run --stride 19 ${CMAKE_CURRENT_LIST_DIR}/fault_small.yaml)
lockstep_fault_test(fault_io io ${CMAKE_CURRENT_LIST_DIR}/fault_small.yaml)
# the scenario runner over the shipped playbook: a path or a canned
# result lost to a failed allocation would change a verdict silently
lockstep_fault_test(fault_alloc_scenario alloc --stride 41 -- test
  ${PROJECT_SOURCE_DIR}/playbooks/message-center/tests/happy_kubernetes.yaml)

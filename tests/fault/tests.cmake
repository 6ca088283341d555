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
lockstep_fault_test(fault_alloc_validate alloc --stride 1 -- validate ${LOCKSTEP_FAULT_PB} --env staging)
lockstep_fault_test(fault_alloc_run alloc-run --stride 1 ${CMAKE_CURRENT_LIST_DIR}/fault_small.yaml)
lockstep_fault_test(fault_io io ${CMAKE_CURRENT_LIST_DIR}/fault_small.yaml)

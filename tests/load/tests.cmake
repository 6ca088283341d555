# The loader and validator: playbook cases as data (tests/load/*/ and
# tests/params/), each file carrying its exact expected diagnostics.
lockstep_py_test(load_valid ${CMAKE_CURRENT_LIST_DIR}/run_cases.py ${CMAKE_CURRENT_LIST_DIR}/valid)
lockstep_py_test(load_invalid ${CMAKE_CURRENT_LIST_DIR}/run_cases.py ${CMAKE_CURRENT_LIST_DIR}/invalid)
lockstep_py_test(load_bad_input ${CMAKE_CURRENT_LIST_DIR}/bad_input.py)
lockstep_c_test(load_fuzz_smoke SOURCES ${CMAKE_CURRENT_LIST_DIR}/load_fuzz.c)
lockstep_c_test(load_registry SOURCES ${CMAKE_CURRENT_LIST_DIR}/registry_test.c)
lockstep_c_test(load_yaml_scalars SOURCES ${CMAKE_CURRENT_LIST_DIR}/yaml_test.c)
lockstep_py_test(load_input_kinds ${CMAKE_CURRENT_LIST_DIR}/input_kinds.py)
# Linear work, counted not timed: the driver carries its own copies of the
# files it checks, built with the work counter (engine/work.h); the linker
# takes them before the engine library's.
lockstep_c_test(load_linear SOURCES ${CMAKE_CURRENT_LIST_DIR}/linear_test.c
  ${PROJECT_SOURCE_DIR}/engine/yaml.c ${PROJECT_SOURCE_DIR}/engine/template.c ${PROJECT_SOURCE_DIR}/engine/diag.c
  ${PROJECT_SOURCE_DIR}/engine/secret.c)
target_compile_definitions(load_linear PRIVATE LS_WORK_COUNT)

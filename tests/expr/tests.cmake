# Expression language, templates and durations: cases as data, plus a
# deterministic fuzz-style smoke test of the parsers.
lockstep_c_test(expr_cases SOURCES ${CMAKE_CURRENT_LIST_DIR}/expr_test.c)
lockstep_c_test(expr_fuzz_smoke SOURCES ${CMAKE_CURRENT_LIST_DIR}/expr_fuzz.c
                ${CMAKE_CURRENT_LIST_DIR}/fuzz_one.c)

# libFuzzer target: cmake -DCMAKE_C_COMPILER=clang -DLOCKSTEP_FUZZ=ON, then
#   build/expr_fuzzer tests/expr/corpus-dir -max_total_time=60
# The expression sources are compiled into it with coverage instrumentation.
option(LOCKSTEP_FUZZ "Build the libFuzzer target expr_fuzzer (needs clang)" OFF)
if(LOCKSTEP_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "LOCKSTEP_FUZZ needs clang (cmake -DCMAKE_C_COMPILER=clang)")
  endif()
  set(_ls_fuzz_engine value json buf diag expr eval funcs template duration secret)
  list(TRANSFORM _ls_fuzz_engine PREPEND ${PROJECT_SOURCE_DIR}/engine/)
  list(TRANSFORM _ls_fuzz_engine APPEND .c)
  add_executable(expr_fuzzer ${CMAKE_CURRENT_LIST_DIR}/fuzz_libfuzzer.c
                 ${CMAKE_CURRENT_LIST_DIR}/fuzz_one.c ${_ls_fuzz_engine})
  target_include_directories(expr_fuzzer PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/engine)
  target_compile_definitions(expr_fuzzer PRIVATE _GNU_SOURCE)
  target_compile_options(expr_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined -g)
  target_link_options(expr_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(expr_fuzzer PRIVATE PkgConfig::PCRE2 m)
  add_test(NAME expr_fuzzer_short COMMAND expr_fuzzer -runs=20000 -seed=1)
endif()
lockstep_c_test(expr_values SOURCES ${CMAKE_CURRENT_LIST_DIR}/value_test.c)
lockstep_c_test(expr_arena SOURCES ${CMAKE_CURRENT_LIST_DIR}/arena_test.c)

# Benchmarks (issue 7).  The floor programs and the guard driver are built
# with the project; ctest runs the harness once at tiny sizes so it cannot
# rot, asserting nothing about time.  The real run:
#   tests/bench/bench.py --build-dir build
foreach(floor floor_spawn floor_fsync)
  add_executable(${floor} ${CMAKE_CURRENT_LIST_DIR}/${floor}.c)
endforeach()
add_executable(floor_yaml ${CMAKE_CURRENT_LIST_DIR}/floor_yaml.c)
target_link_libraries(floor_yaml PRIVATE PkgConfig::YAML)
add_executable(bench_guard ${CMAKE_CURRENT_LIST_DIR}/bench_guard.c)
target_link_libraries(bench_guard PRIVATE lockstep_engine)
lockstep_picky(bench_guard)
lockstep_py_test(bench_smoke ${CMAKE_CURRENT_LIST_DIR}/bench.py --tiny
  --lockstep $<TARGET_FILE:lockstep> --floor-dir $<TARGET_FILE_DIR:bench_guard>)

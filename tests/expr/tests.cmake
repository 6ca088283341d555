# Expression language, templates and durations: cases as data, plus a
# deterministic fuzz-style smoke test of the parsers.
lockstep_c_test(expr_cases SOURCES ${CMAKE_CURRENT_LIST_DIR}/expr_test.c)

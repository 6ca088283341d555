# Packaging: the .deb that `cpack -G DEB` makes, installed into a scratch
# root and run from there; the bash completion driven as bash drives it.
lockstep_py_test(pkg_deb ${CMAKE_CURRENT_LIST_DIR}/deb_check.py ${PROJECT_BINARY_DIR})
set_tests_properties(pkg_deb PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1200)
lockstep_py_test(pkg_completion ${CMAKE_CURRENT_LIST_DIR}/completion_check.py)

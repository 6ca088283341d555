# Release bundles: the archive reader against hostile and mutated input,
# and `lockstep bundle` / a bundle in place of a playbook, end to end.
lockstep_c_test(bundle_tar SOURCES ${CMAKE_CURRENT_LIST_DIR}/tar_test.c)
target_link_libraries(bundle_tar PRIVATE PkgConfig::ZLIB)
lockstep_py_test(bundle_end_to_end ${CMAKE_CURRENT_LIST_DIR}/bundle_test.py)

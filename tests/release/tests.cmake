# Release-bound playbooks: plan --compare-env on the shipped upgrade.
lockstep_py_test(release_compare_env ${CMAKE_CURRENT_LIST_DIR}/compare_env_test.py)
lockstep_py_test(release_block_shown ${CMAKE_CURRENT_LIST_DIR}/release_block_test.py)

# The validate/graph/actions commands, the generated action docs and the
# JSON Schema, checked against the registry they describe.
lockstep_py_test(cli_commands ${CMAKE_CURRENT_LIST_DIR}/cli_check.py)
lockstep_py_test(cli_docs_actions ${CMAKE_CURRENT_LIST_DIR}/docs_check.py)
lockstep_py_test(cli_schema ${CMAKE_CURRENT_LIST_DIR}/schema_check.py)
set_tests_properties(cli_schema PROPERTIES SKIP_RETURN_CODE 77)
lockstep_py_test(cli_validate_json ${CMAKE_CURRENT_LIST_DIR}/validate_json_check.py)
lockstep_py_test(cli_validate_structure ${CMAKE_CURRENT_LIST_DIR}/validate_structure_check.py)
lockstep_py_test(cli_polish ${CMAKE_CURRENT_LIST_DIR}/polish_check.py)
lockstep_py_test(cli_docs_links ${CMAKE_CURRENT_LIST_DIR}/docs_links_check.py)
lockstep_py_test(cli_ci_doc ${CMAKE_CURRENT_LIST_DIR}/ci_doc_check.py)
# The schema as an editor uses it: yaml-language-server driven over LSP.
lockstep_py_test(cli_editor ${CMAKE_CURRENT_LIST_DIR}/editor_check.py)
set_tests_properties(cli_editor PROPERTIES SKIP_RETURN_CODE 77)

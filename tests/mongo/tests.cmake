# The mongo action family against LOCKSTEP_TEST_MONGODB_URI (issue 4): run
# ctest through tools/with-test-servers (tools/test); without the variable
# these tests fail, they never skip.
lockstep_py_test(mongo_actions ${CMAKE_CURRENT_LIST_DIR}/test_mongo.py $<TARGET_FILE:act_driver>)
# `lockstep run` of playbooks/servers.yaml and playbooks/failures.yaml against
# an HTTP server the test starts and the MongoDB test server.
lockstep_py_test(mongo_playbook ${CMAKE_CURRENT_LIST_DIR}/test_playbook.py)
# Load-time checks of constant inputs, exact output.
lockstep_py_test(mongo_validate ${CMAKE_CURRENT_LIST_DIR}/test_validate.py)
# tools/mongo-test-server on its own (it starts its own instance).
lockstep_py_test(mongo_test_server ${CMAKE_CURRENT_LIST_DIR}/test_server.py)
# The BSON <-> value mapping, as data.
# bson_conv.c belongs to the mongo plugin; the test compiles it in.
lockstep_c_test(mongo_bson_conv SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bson_conv.c
  ${PROJECT_SOURCE_DIR}/engine/plugins/bson_conv.c ARGS ${CMAKE_CURRENT_LIST_DIR}/bson.cases)
target_include_directories(mongo_bson_conv PRIVATE ${PROJECT_SOURCE_DIR}/engine/plugins)
target_link_libraries(mongo_bson_conv PRIVATE PkgConfig::BSON)
# mongodump's four backup forms (issue 11): lockstep's archives checked by an
# independent reader, round trips, exact, damaged and hostile backups, and
# the mongo-tools test data (written by the real mongodump), read where it
# lives: beside the checkout in CI, else the shared copy on a work machine.
set(LOCKSTEP_MONGO_FIXTURES "${CMAKE_SOURCE_DIR}/../shared/fixtures/mongo-tools" CACHE PATH
  "mongo-tools test data (mongodump/bsondump output)")
if(NOT EXISTS "${LOCKSTEP_MONGO_FIXTURES}" AND EXISTS "/work/shared/fixtures/mongo-tools")
  set(LOCKSTEP_MONGO_FIXTURES "/work/shared/fixtures/mongo-tools")
endif()
lockstep_py_test(mongo_backup_formats ${CMAKE_CURRENT_LIST_DIR}/test_backup_formats.py
  $<TARGET_FILE:act_driver> ${LOCKSTEP_MONGO_FIXTURES})
# mongo.restore with drop is idempotent for the runner (idempotent_fn).
lockstep_c_test(mongo_restore_idempotent SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_restore_idempotent.c)

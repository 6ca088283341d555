# kubectl, docker and text actions against a recording stand-in (cases.json).
lockstep_c_test(kube_actions SOURCES ${CMAKE_CURRENT_LIST_DIR}/kube_test.c
  ARGS ${CMAKE_CURRENT_LIST_DIR}/cases.json ${CMAKE_CURRENT_LIST_DIR}/recorder)

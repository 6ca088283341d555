# kubectl, docker and text actions against a recording stand-in (cases.json).
lockstep_c_test(kube_actions SOURCES ${CMAKE_CURRENT_LIST_DIR}/kube_test.c
  ARGS ${CMAKE_CURRENT_LIST_DIR}/cases.json ${CMAKE_CURRENT_LIST_DIR}/recorder)
# Issue 14 end to end: the shipped upgrade catches an error line 40 MB into
# the simulator's logs (the log size knob), past the 1 MiB capture.
lockstep_py_test(kube_logs_40mb ${CMAKE_CURRENT_LIST_DIR}/logs_40mb.py)

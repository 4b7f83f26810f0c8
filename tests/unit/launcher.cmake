# Launcher unit tests (no processes): the pure functions the parrun executable is built from —
# command-line parsing and program lookup, line cutting for output forwarding, each rank's
# environment, the open-file limit and socket directory a job needs, and the wording of reports
# and exit codes.
add_executable(test_launcher_unit
  ${CMAKE_CURRENT_LIST_DIR}/test_options.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_stdio.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_spawn_env.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_job_resources.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_report.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_hosts.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_plan.cpp)
target_link_libraries(test_launcher_unit PRIVATE parrun_launcher_core GTest::gtest_main parrun_warnings)
gtest_discover_tests(test_launcher_unit TEST_PREFIX unit.launcher. PROPERTIES LABELS unit TIMEOUT 60)

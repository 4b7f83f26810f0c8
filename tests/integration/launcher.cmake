# Launcher integration tests: test_launcher runs the real parrun as a child process (its own
# helper enforces a time limit and kills the whole process group) with the ranks in
# jobs/launcher_job.cpp, and checks exit codes, report lines, forwarded output and that no
# process outlives its job. Each GoogleTest case is one CTest entry.
add_executable(launcher_job ${CMAKE_CURRENT_LIST_DIR}/jobs/launcher_job.cpp)
target_link_libraries(launcher_job PRIVATE parrun::parrun parrun_warnings)

add_executable(test_launcher ${CMAKE_CURRENT_LIST_DIR}/test_launcher.cpp)
target_link_libraries(test_launcher PRIVATE GTest::gtest_main parrun_warnings)
target_compile_definitions(test_launcher PRIVATE
  PARRUN_EXE="$<TARGET_FILE:parrun_launcher>"
  LAUNCHER_JOB_EXE="$<TARGET_FILE:launcher_job>"
  PARRUN_PROJECT_VERSION="${PROJECT_VERSION}")
add_dependencies(test_launcher parrun_launcher launcher_job)
gtest_discover_tests(test_launcher TEST_PREFIX launcher. NO_PRETTY_VALUES
  PROPERTIES LABELS integration TIMEOUT 60)

# The install: `cmake --install` into a temporary prefix, then a tiny project that finds the
# package with find_package(parrun CONFIG REQUIRED), builds against it and runs under the
# installed bin/parrun -n 2 (tests/install/run_install_test.cmake).
add_test(NAME launcher.install
  COMMAND ${CMAKE_COMMAND}
    -DPARRUN_BUILD_DIR=${PROJECT_BINARY_DIR}
    -DPROJECT_SOURCE=${CMAKE_CURRENT_LIST_DIR}/../install
    -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/install-test
    -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
    -DBUILD_TYPE=${CMAKE_BUILD_TYPE}
    "-DCXX_FLAGS=${CMAKE_CXX_FLAGS}"
    "-DEXE_LINKER_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
    "-DGENERATOR=${CMAKE_GENERATOR}"
    -P ${CMAKE_CURRENT_LIST_DIR}/../install/run_install_test.cmake)
set_tests_properties(launcher.install PROPERTIES LABELS "integration;install" TIMEOUT 300)

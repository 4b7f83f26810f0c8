# The numeric-code API (buffers, buffer and non-blocking collectives, requests, cartesian
# topologies) against sequential references, p = 1..8.
add_executable(test_buffers test_buffers.cpp)
target_link_libraries(test_buffers PRIVATE parrun_rank_gtest_main parrun_warnings)
target_include_directories(test_buffers PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
parrun_add_test(NAME buffers COMMAND $<TARGET_FILE:test_buffers> NP 1 2 3 4 5 6 7 8 TIMEOUT 180)

# Channels, select and the rank pool.
add_executable(test_channels test_channels.cpp)
target_link_libraries(test_channels PRIVATE parrun_rank_gtest_main parrun_warnings)
parrun_add_test(NAME channels COMMAND $<TARGET_FILE:test_channels> NP 1 2 3 4 8 TIMEOUT 240)

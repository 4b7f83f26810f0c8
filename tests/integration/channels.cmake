# Channels, select and the rank pool.
add_executable(test_channels test_channels.cpp)
target_link_libraries(test_channels PRIVATE parrun_rank_gtest_main parrun_warnings)
parrun_add_test(NAME channels COMMAND $<TARGET_FILE:test_channels> NP 1 2 3 4 5 6 7 8 TIMEOUT 240)

# A rank that dies closes its channels with peer_lost and fails the pool, never a hang.
add_executable(chan_peer_death chan_jobs/peer_death.cpp)
target_link_libraries(chan_peer_death PRIVATE parrun::parrun parrun_warnings)
parrun_expect_output(NAME channels.peer_death.channel NP 2 LAUNCHER_ARGS --continue-on-failure
  COMMAND $<TARGET_FILE:chan_peer_death> channel
  EXPECT "rank 0 caught peer_lost after 3 values: recv.peer=1, id=1. on rank 0: rank 1 is gone: was killed by signal 9")
parrun_expect_output(NAME channels.peer_death.fanin NP 4 LAUNCHER_ARGS --continue-on-failure
  COMMAND $<TARGET_FILE:chan_peer_death> fanin
  EXPECT "rank 0's fan-in channel ended after 6 values")
parrun_expect_output(NAME channels.peer_death.pool NP 3 LAUNCHER_ARGS --continue-on-failure
  COMMAND $<TARGET_FILE:chan_peer_death> pool
  EXPECT "rank 0 caught peer_lost: pool: a worker is gone: .*rank [12] is gone: was killed by signal 9")

# Go's semantics in the corners (stale grants, two selecting ends, self channels, a four-channel
# select stress) and request copies.
add_executable(test_channel_semantics test_channel_semantics.cpp)
target_link_libraries(test_channel_semantics PRIVATE parrun_rank_gtest_main parrun_warnings)
parrun_add_test(NAME channels.semantics COMMAND $<TARGET_FILE:test_channel_semantics> NP 1 2 TIMEOUT 180)

add_executable(chan_misuse_job chan_jobs/misuse_job.cpp)
target_link_libraries(chan_misuse_job PRIVATE parrun::parrun parrun_warnings)
parrun_expect_output(NAME channels.lost_value_names_the_channel NP 2
  COMMAND $<TARGET_FILE:chan_misuse_job> lost-channel-value
  EXPECT "rank 1: warning: 1 message.s. arrived but were never received; the first came from rank 0 on channel id 3, a value of type int")
parrun_expect_output(NAME channels.two_threads_at_once_is_a_usage_error NP 2
  COMMAND $<TARGET_FILE:chan_misuse_job> two-threads
  EXPECT "caught usage_error: send on rank 0: another thread of this rank is inside a parrun call right now")

# select() with no case does not compile (it used to spin forever at 96% CPU).
add_test(NAME channels.select_without_cases_does_not_compile
         COMMAND ${CMAKE_CXX_COMPILER} -std=c++20 -fsyntax-only -I${PROJECT_SOURCE_DIR}/include
                 ${CMAKE_CURRENT_LIST_DIR}/chan_jobs/select_without_cases.cpp)
set_tests_properties(channels.select_without_cases_does_not_compile PROPERTIES TIMEOUT 120 LABELS unit
  PASS_REGULAR_EXPRESSION "parrun::select needs at least one case")

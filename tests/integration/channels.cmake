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

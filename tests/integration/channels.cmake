# Channels, select and the rank pool.
add_executable(test_channels test_channels.cpp)
target_link_libraries(test_channels PRIVATE parrun_rank_gtest_main parrun_warnings)
parrun_add_test(NAME channels COMMAND $<TARGET_FILE:test_channels> NP 1 2 3 4 8 TIMEOUT 240)

# A rank that dies closes its channels with peer_lost and fails the pool, never a hang.
add_executable(chan_peer_death chan_jobs/peer_death.cpp)
target_link_libraries(chan_peer_death PRIVATE parrun::parrun parrun_warnings)
foreach(case
    "channel|2|rank 0 caught peer_lost after 3 values: recv.peer=1, id=1. on rank 0: rank 1 is gone: was killed by signal 9"
    "fanin|4|rank 0's fan-in channel ended after 6 values"
    "pool|3|rank 0 caught peer_lost: pool: a worker is gone: .*rank [12] is gone: was killed by signal 9")
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 mode)
  list(GET parts 1 np)
  list(GET parts 2 expected)
  add_test(NAME channels.peer_death.${mode}
           COMMAND $<TARGET_FILE:parrun_launcher> -n ${np} --continue-on-failure --timeout 30 $<TARGET_FILE:chan_peer_death> ${mode})
  set_tests_properties(channels.peer_death.${mode} PROPERTIES TIMEOUT 50 LABELS integration
                       PASS_REGULAR_EXPRESSION "${expected}")
endforeach()

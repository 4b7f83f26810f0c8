# Collectives against sequential references, p = 1..8.
add_executable(test_collectives test_collectives.cpp)
target_link_libraries(test_collectives PRIVATE parrun_rank_gtest_main parrun_warnings)
parrun_add_test(NAME collectives COMMAND $<TARGET_FILE:test_collectives> NP 1 2 3 4 5 6 7 8 TIMEOUT 180)

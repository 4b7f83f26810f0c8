# Collectives against sequential references, p = 1..8.
add_executable(test_collectives test_collectives.cpp)
target_link_libraries(test_collectives PRIVATE parrun_rank_gtest_main parrun_warnings)
parrun_add_test(NAME collectives COMMAND $<TARGET_FILE:test_collectives> NP 1 2 3 4 5 6 7 8 TIMEOUT 180)

# Misuse ends the job with an error that names the mistake (not a hang: parrun's --timeout
# would report one, and the expected text would be missing).
add_executable(coll_misuse coll_jobs/coll_misuse.cpp)
target_link_libraries(coll_misuse PRIVATE parrun::parrun parrun_warnings)
parrun_expect_output(NAME collectives.misuse.lengths NP 4 COMMAND $<TARGET_FILE:coll_misuse> lengths
  EXPECT "usage_error: allreduce.* element-wise reduction of different lengths")
parrun_expect_output(NAME collectives.misuse.parts NP 3 COMMAND $<TARGET_FILE:coll_misuse> parts
  EXPECT "usage_error: scatter on rank 0: parts has 5 elements, but the communicator has 3 ranks")
parrun_expect_output(NAME collectives.misuse.mismatch NP 2 COMMAND $<TARGET_FILE:coll_misuse> mismatch
  EXPECT "usage_error: allreduce.* rank 0 is in broadcast instead: the ranks called different collectives")
parrun_expect_output(NAME collectives.misuse.types NP 2 COMMAND $<TARGET_FILE:coll_misuse> types
  EXPECT "type_mismatch: broadcast.* rank 0 passed a value of type int, but this rank one of type double")

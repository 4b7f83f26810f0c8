# The numeric-code API (buffers and strided layouts in point-to-point, buffer and v-collectives,
# non-blocking collectives, requests, cartesian topologies, versions) against sequential
# references computed on every rank, p = 1..8.
add_executable(test_numeric test_numeric.cpp)
target_link_libraries(test_numeric PRIVATE parrun_rank_gtest_main parrun_warnings)
target_include_directories(test_numeric PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
parrun_add_test(NAME numeric COMMAND $<TARGET_FILE:test_numeric> NP 1 2 3 4 5 6 7 8 TIMEOUT 180)

# Misuse ends the job with an error that names the mistake and the sizes (parrun's --timeout
# turns a hang into a failure: the expected text would be missing).
add_executable(numeric_misuse numeric_jobs/numeric_misuse.cpp)
target_link_libraries(numeric_misuse PRIVATE parrun::parrun parrun_warnings)
parrun_expect_output(NAME numeric.misuse.alltoallv_counts NP 3 COMMAND $<TARGET_FILE:numeric_misuse> alltoallv_counts
  EXPECT "usage_error: alltoallv on rank [0-2]: counts has 4 entries, but the communicator has 3 ranks")
parrun_expect_output(NAME numeric.misuse.gatherv_displs NP 4 COMMAND $<TARGET_FILE:numeric_misuse> gatherv_displs
  EXPECT "usage_error: gatherv on rank 0: rank 1's block \\(2 elements at 9\\) does not fit in the receive buffer of 10 elements")
parrun_expect_output(NAME numeric.misuse.allreduce_sizes NP 2 COMMAND $<TARGET_FILE:numeric_misuse> allreduce_sizes
  EXPECT "usage_error: allreduce on rank [01]: the input has 4 elements, the output 3")
parrun_expect_output(NAME numeric.misuse.cartesian_places NP 4 COMMAND $<TARGET_FILE:numeric_misuse> cartesian_places
  EXPECT "usage_error: cartesian\\(\\{4, 2\\}\\) on rank [0-3]: the grid has more places than the communicator's 4 ranks")

# Point-to-point messaging under the real launcher (tests/integration/test_p2p.cpp and friends).
add_executable(test_p2p ${CMAKE_CURRENT_LIST_DIR}/test_p2p.cpp)
target_link_libraries(test_p2p PRIVATE parrun_rank_gtest_main parrun_warnings)
parrun_add_test(NAME p2p COMMAND $<TARGET_FILE:test_p2p> NP 1 2 4 8 TIMEOUT 120)

# Flood: thousands of checksummed messages of random sizes between every pair of ranks.
add_executable(test_flood ${CMAKE_CURRENT_LIST_DIR}/test_flood.cpp)
target_link_libraries(test_flood PRIVATE parrun_rank_gtest_main parrun_warnings)
parrun_add_test(NAME p2p.flood COMMAND $<TARGET_FILE:test_flood> NP 2 4 8 TIMEOUT 120)

# A blocked rank sleeps: under 5% of a core while blocked for seconds, also with 8 ranks on 2 cores.
add_executable(test_blocking_cpu ${CMAKE_CURRENT_LIST_DIR}/test_blocking_cpu.cpp)
target_link_libraries(test_blocking_cpu PRIVATE parrun_rank_gtest_main parrun_warnings)
# About 12 s per entry, in the default suite: the issue asks for the measurement in a test.
parrun_add_test(NAME p2p.blocking_cpu COMMAND $<TARGET_FILE:test_blocking_cpu> NP 2 8 TIMEOUT 90)

# Singleton: a program started without parrun is rank 0 of 1; with PARRUN_RENDEZVOUS set and no
# launcher answering it fails loudly. The failing cases run p2p_jobs/singleton_job as a child.
add_executable(p2p_singleton_job ${CMAKE_CURRENT_LIST_DIR}/p2p_jobs/singleton_job.cpp)
target_link_libraries(p2p_singleton_job PRIVATE parrun::parrun parrun_warnings)
add_executable(test_singleton ${CMAKE_CURRENT_LIST_DIR}/test_singleton.cpp)
target_link_libraries(test_singleton PRIVATE parrun::parrun GTest::gtest_main parrun_warnings)
target_compile_definitions(test_singleton PRIVATE SINGLETON_JOB="$<TARGET_FILE:p2p_singleton_job>")
add_dependencies(test_singleton p2p_singleton_job)
gtest_discover_tests(test_singleton TEST_PREFIX p2p. PROPERTIES LABELS integration TIMEOUT 60)

# Security: an intruder (plain libzmq, no secret) against a rank's data socket and the launcher,
# as another user and as the same user; nothing it sends is delivered or ends the job.
add_executable(security_intruder ${CMAKE_CURRENT_LIST_DIR}/security_jobs/intruder.cpp)
target_link_libraries(security_intruder PRIVATE cppzmq parrun_warnings)
# It knows the shared-memory lane's handshake and ring format (not its secrets).
target_include_directories(security_intruder PRIVATE ${PROJECT_SOURCE_DIR}/runtime ${PROJECT_SOURCE_DIR}/tests/support)
add_executable(test_security ${CMAKE_CURRENT_LIST_DIR}/test_security.cpp)
target_link_libraries(test_security PRIVATE parrun_rank_gtest_main parrun_warnings)
target_compile_definitions(test_security PRIVATE INTRUDER="$<TARGET_FILE:security_intruder>")
add_dependencies(test_security security_intruder)
parrun_add_test(NAME p2p.security COMMAND $<TARGET_FILE:test_security> NP 2 TIMEOUT 90)
# The same under a descriptor limit of 1024 (soft and hard), where 1,100 connections by anyone
# used to abort the rank inside libzmq.
add_test(NAME p2p.security.low_fd_limit
         COMMAND sh -c "ulimit -n 1024 && exec \"$0\" -n 2 --timeout 80 \"$1\" --gtest_filter=*garbage*"
                 $<TARGET_FILE:parrun_launcher> $<TARGET_FILE:test_security>)
set_tests_properties(p2p.security.low_fd_limit PROPERTIES TIMEOUT 90 LABELS integration)

# Payloads larger than the wire's part size travel in several parts and are put back together:
# the flood again with 4 KiB parts (every message above 4 KiB is split).
parrun_add_test(NAME p2p.flood.small_parts COMMAND $<TARGET_FILE:test_flood> NP 2 4 TIMEOUT 120
                LAUNCHER_ARGS -x PARRUN_PART_BYTES=4096)

# The numbered examples are smoke tests: each runs under parrun and must print its answer.
parrun_add_test(NAME example.00_hello COMMAND $<TARGET_FILE:00_hello> NP 1 4 8 TIMEOUT 60)
set_tests_properties(example.00_hello.4ranks PROPERTIES
  PASS_REGULAR_EXPRESSION "hello from rank 3 of 4")
parrun_add_test(NAME example.01_ping_pong COMMAND $<TARGET_FILE:01_ping_pong> NP 2 3 TIMEOUT 60)
set_tests_properties(example.01_ping_pong.2ranks PROPERTIES
  PASS_REGULAR_EXPRESSION "got the ball back 10 times; final score from rank 0: 10")
parrun_add_test(NAME example.02_pi COMMAND $<TARGET_FILE:02_pi> 20000000 NP 1 2 8 TIMEOUT 60)
foreach(np 1 2 8)
  set_tests_properties(example.02_pi.${np}ranks PROPERTIES PASS_REGULAR_EXPRESSION "pi = 3.14159265358")
endforeach()
parrun_add_test(NAME example.03_collectives COMMAND $<TARGET_FILE:03_collectives> NP 1 3 4 TIMEOUT 60)
set_tests_properties(example.03_collectives.4ranks PROPERTIES PASS_REGULAR_EXPRESSION
  "results: 26.0 28.5 31.0 33.5\ntotal 119.0, even/odd ranks 2/2, lowest item 10, word \"abcd\"")
# The heat solver prints the same answer for every number of ranks and every grid of them (the
# checksum is the one the row-split version printed before it moved to a cartesian grid).
parrun_add_test(NAME example.06_heat_equation COMMAND $<TARGET_FILE:06_heat_equation> 40 1e-2 NP 1 2 3 4 6 8 TIMEOUT 60)
foreach(np 1 2 3 4 6 8)
  set_tests_properties(example.06_heat_equation.${np}ranks PROPERTIES PASS_REGULAR_EXPRESSION
    "heat 40x40: 860 iterations, last change 9.545390e-03, center 20.757720, checksum 37798.456202")
endforeach()
# Its loop allocates nothing once warm on the shared-memory lane (libzmq allocates per message on
# its own: the ZeroMQ lane is not claimed), counted by tools/bench's malloc_census (an LD_PRELOAD
# malloc counter, which sanitizer builds cannot take: they replace malloc themselves). On a quiet
# machine the count is 0; on a loaded one a rank that was descheduled while its neighbours ran
# ahead may find more messages waiting than ever before, and each new high-water mark takes one
# more pooled buffer. So the test allows under one allocation per 100 iterations and rank (the
# loop made 4.3 per iteration and rank before the buffer pools).
if(NOT CMAKE_CXX_FLAGS MATCHES "sanitize")
  foreach(np 2 4)
    add_test(NAME example.06_heat_equation.no_allocations.${np}ranks
             COMMAND ${CMAKE_COMMAND} -E env LD_PRELOAD=$<TARGET_FILE:malloc_census> PARRUN_TRANSPORT=shm
                     $<TARGET_FILE:parrun::launcher> -n ${np} --timeout 50 $<TARGET_FILE:06_heat_equation> 100 0 4000)
    set_tests_properties(example.06_heat_equation.no_allocations.${np}ranks PROPERTIES TIMEOUT 60
      LABELS integration PASS_REGULAR_EXPRESSION "heap allocations in iterations 1001..4000, all ranks: [0-9]+ \\(0\\.00[0-9] per rank")
  endforeach()
endif()
parrun_add_test(NAME example.07_sample_sort COMMAND $<TARGET_FILE:07_sample_sort> 1000000 NP 1 3 4 TIMEOUT 120)
foreach(np 1 3 4)
  set_tests_properties(example.07_sample_sort.${np}ranks PROPERTIES PASS_REGULAR_EXPRESSION "matches std::sort")
endforeach()
parrun_add_test(NAME example.04_channels_pipeline COMMAND $<TARGET_FILE:04_channels_pipeline> 20000 NP 3 4 8 TIMEOUT 60)
foreach(np 3 4 8)
  set_tests_properties(example.04_channels_pipeline.${np}ranks PROPERTIES PASS_REGULAR_EXPRESSION
    "collected 20000 results from [0-9]+ workers: the longest Collatz sequence below 20001 starts at 17647 \\(278 steps\\)")
endforeach()
parrun_add_test(NAME example.05_pool_primes COMMAND $<TARGET_FILE:05_pool_primes> 200000 300 NP 1 2 4 TIMEOUT 60)
foreach(np 1 2 4)
  set_tests_properties(example.05_pool_primes.${np}ranks PROPERTIES PASS_REGULAR_EXPRESSION
    "primes below N \\(blocks of 1000\\): same as sequential, result 17984.*\nresize 10,000 images: same as sequential")
endforeach()

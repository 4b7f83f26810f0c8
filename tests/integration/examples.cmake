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

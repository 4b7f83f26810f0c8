# Runtime unit tests (no processes): the codec, the matcher, the channel queue, readable type
# names, the wire checks and the shared-memory lane. They may include runtime internals
# (runtime/matching/matcher.hpp, runtime/transport/...).
foreach(name IN ITEMS test_codec test_matcher test_fifo test_type_names test_wire_checks test_shm_lane test_engine_inprocess)
  add_executable(${name} ${CMAKE_CURRENT_LIST_DIR}/${name}.cpp)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/runtime ${PROJECT_SOURCE_DIR}/tests/support)
  target_link_libraries(${name} PRIVATE parrun::parrun GTest::gtest_main parrun_warnings)
  gtest_discover_tests(${name} TEST_PREFIX unit. PROPERTIES LABELS unit TIMEOUT 60)
endforeach()
target_link_libraries(test_wire_checks PRIVATE cppzmq)  # it includes the ZAP handler's header
target_link_libraries(test_shm_lane PRIVATE cppzmq)    # the lane interface names zmq::pollitem_t
target_link_libraries(test_engine_inprocess PRIVATE cppzmq)

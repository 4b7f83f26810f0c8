# parrun_add_test(NAME name COMMAND exe [args...] NP n1 [n2 ...] [TIMEOUT s] [LABELS l...])
# Registers one CTest entry per rank count, `name.<n>ranks`, each run under `parrun -n <n>`
# and each with a timeout, so that no multi-process test can hang a CI run.
function(parrun_add_test)
  cmake_parse_arguments(PT "" "NAME;TIMEOUT;LAUNCHER" "COMMAND;NP;LABELS;LAUNCHER_ARGS" ${ARGN})
  if(NOT PT_TIMEOUT)
    set(PT_TIMEOUT 60)
  endif()
  if(NOT PT_LAUNCHER)
    set(PT_LAUNCHER $<TARGET_FILE:parrun::launcher>)
  endif()
  foreach(np IN LISTS PT_NP)
    # parrun's own --timeout fires first and reports where each rank is blocked;
    # CTest's TIMEOUT is the backstop.
    math(EXPR inner "${PT_TIMEOUT} - 5")
    add_test(NAME ${PT_NAME}.${np}ranks
             COMMAND ${PT_LAUNCHER} -n ${np} --timeout ${inner} ${PT_LAUNCHER_ARGS} ${PT_COMMAND})
    set_tests_properties(${PT_NAME}.${np}ranks PROPERTIES TIMEOUT ${PT_TIMEOUT}
                         LABELS "integration;${PT_LABELS}")
  endforeach()
endfunction()

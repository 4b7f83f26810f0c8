# The install test (registered by tests/integration/launcher.cmake):
#   1. cmake --install PARRUN_BUILD_DIR --prefix WORK_DIR/prefix
#   2. configure and build tests/install (find_package(parrun CONFIG REQUIRED)) against it
#   3. run WORK_DIR/prefix/bin/parrun -n 2 app and check its output and exit code
# Compiler, flags and build type follow the main build, so sanitizer builds link alike.
foreach(var PARRUN_BUILD_DIR PROJECT_SOURCE WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_install_test.cmake needs -D${var}=...")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
set(app_build ${WORK_DIR}/app-build)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install test: ${what} failed (${rc})\n--- stdout ---\n${out}\n--- stderr ---\n${err}")
  endif()
  message(STATUS "install test: ${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
  set(step_error "${err}" PARENT_SCOPE)
endfunction()

run_step("cmake --install" ${CMAKE_COMMAND} --install ${PARRUN_BUILD_DIR} --prefix ${prefix})
foreach(installed bin/parrun include/parrun/parrun.hpp include/parrun/wire.hpp)
  if(NOT EXISTS ${prefix}/${installed})
    message(FATAL_ERROR "install test: ${installed} is missing from the install")
  endif()
endforeach()
file(GLOB_RECURSE config_files ${prefix}/*/parrunConfig.cmake)
if(NOT config_files)
  message(FATAL_ERROR "install test: no parrunConfig.cmake under ${prefix}")
endif()

set(configure ${CMAKE_COMMAND} -S ${PROJECT_SOURCE} -B ${app_build} -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(GENERATOR)
  list(APPEND configure -G ${GENERATOR})
endif()
if(CXX_COMPILER)
  list(APPEND configure -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
if(BUILD_TYPE)
  list(APPEND configure -DCMAKE_BUILD_TYPE=${BUILD_TYPE})
endif()
list(APPEND configure "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}")
run_step("configure against the install" ${configure})
# It must have found the installed package, not the build tree.
file(STRINGS ${app_build}/CMakeCache.txt parrun_dir REGEX "^parrun_DIR:")
string(FIND "${parrun_dir}" "${prefix}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "install test: find_package found ${parrun_dir}, not the install in ${prefix}")
endif()
run_step("build" ${CMAKE_COMMAND} --build ${app_build})

run_step("parrun -n 2 app" ${CMAKE_COMMAND} -E env --unset=PARRUN_RENDEZVOUS
         ${prefix}/bin/parrun -n 2 --timeout 60 ${app_build}/app)
set(expected "installed app: rank 0 of 2 got 3 ints and 'from the installed parrun'")
string(FIND "${step_output}" "${expected}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "install test: expected '${expected}' in\n${step_output}\n${step_error}")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
message(STATUS "install test passed: ${step_output}")

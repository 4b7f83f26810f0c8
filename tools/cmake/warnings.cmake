# Warnings for our own targets only (dependencies' headers come in as SYSTEM includes).
add_library(parrun_warnings INTERFACE)
target_compile_options(parrun_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor -Wpedantic
  # GCC 12 reports a false -Wrestrict inside std::string for "literal" + string at -O2/-O3
  # (https://gcc.gnu.org/bugzilla/show_bug.cgi?id=105651).
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>)

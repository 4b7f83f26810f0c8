// Must not compile: channels.select_without_cases_does_not_compile checks the compiler's message.
#include <parrun/parrun.hpp>

int main() { return static_cast<int>(parrun::select()); }

// parrun: starts N ranked copies of a program and watches over them (see job.hpp).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "descriptors.hpp"
#include "job.hpp"
#include "options.hpp"
#include "report.hpp"

int main(int argc, char** argv) {
  using namespace parrun::launcher;
  // First of all, before ZeroMQ or any pipe: a large job needs more than the usual 1024.
  const descriptor_limits limits = raise_descriptor_limit();
  try {
    launch_options options = parse_options(argc, argv, [](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
    });
    if (options.what == action::help) {
      std::cout << help_text();
      return 0;
    }
    if (options.what == action::version) {
      std::cout << "parrun " << PARRUN_VERSION_STRING << "\n";
      return 0;
    }
    const char* path = std::getenv("PATH");
    std::string program = resolve_program(options.program, path != nullptr ? path : "/usr/bin:/bin");
    if (auto shortage = descriptor_shortage(options.np, limits.raised))
      throw start_failure(*shortage, exit_cannot_start);
    job j(std::move(options), std::move(program), limits.original);
    return j.run();
  } catch (const usage_failure& e) {
    std::fprintf(stderr, "parrun: error: %s\nTry 'parrun --help' for more information.\n", e.what());
    return exit_cannot_start;
  } catch (const start_failure& e) {
    std::fprintf(stderr, "parrun: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parrun: error: %s\n", e.what());
    return exit_cannot_start;
  }
}

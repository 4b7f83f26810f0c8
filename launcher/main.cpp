// parrun: starts N ranked copies of a program and watches over them (see job.hpp).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include <unistd.h>

#include <string>

#include "agent.hpp"
#include "descriptors.hpp"
#include "job.hpp"
#include "options.hpp"
#include "plan.hpp"
#include "report.hpp"

namespace {

// This binary, which the agents on the other hosts run too (at the same path).
std::string own_path() {
  char buf[4096] = {};
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("parrun");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace parrun::launcher;
  // First of all, before ZeroMQ or any pipe: a large job needs more than the usual 1024.
  const descriptor_limits limits = raise_descriptor_limit();
  // A host's agent (agent.hpp), started by a launcher on another host, never by a user.
  if (argc >= 2 && std::string(argv[1]) == "--agent")
    return run_agent(limits.original, argc >= 4 && std::string(argv[2]) == "--check" ? argv[3] : "");
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
    const auto getenv = [](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      return v != nullptr ? std::optional<std::string>(v) : std::nullopt;
    };
    job_plan plan = make_plan(options, getenv, this_host_name());
    options.np = plan.np;
    const char* path = std::getenv("PATH");
    std::string program = resolve_program(options.program, path != nullptr ? path : "/usr/bin:/bin");
    if (auto shortage = descriptor_shortage(options.np, limits.raised))
      throw start_failure(*shortage, exit_cannot_start);
    job j(std::move(options), std::move(plan), std::move(program), own_path(), limits.original);
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

#include "options.hpp"

#include <parrun/detail/net.hpp>
#include <parrun/wire.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <boost/program_options.hpp>

#include "report.hpp"

namespace po = boost::program_options;

namespace parrun::launcher {
namespace {

po::options_description describe_options() {
  po::options_description d("Options");
  d.add_options()
    ("np,n", po::value<std::string>()->value_name("N"), "number of ranks to start (required on one host; with hosts, every slot by default)")
    ("tag-output", po::bool_switch(), "prefix every output line with [rank]")
    ("timeout", po::value<std::string>()->value_name("SECONDS"),
     "end the job after SECONDS, reporting where each rank is blocked (exit code 124)")
    ("env,x", po::value<std::vector<std::string>>()->composing()->value_name("NAME[=VALUE]"),
     "set NAME for every rank (the whole environment is forwarded already; NAME alone "
     "copies parrun's value, e.g. to remote hosts)")
    ("transport", po::value<std::string>()->value_name("LANE"),
     "how ranks on one host exchange data: auto (shared memory; ZeroMQ to other hosts), shm "
     "(shared memory only), zmq (ZeroMQ for every peer); sets PARRUN_TRANSPORT")
    ("host,H", po::value<std::string>()->value_name("HOST[:N],..."),
     "run on these hosts, N slots each (default 1); this host by name or localhost runs its "
     "ranks itself, others through an agent started over ssh (PARRUN_SSH), --launch-agent or srun")
    ("hostfile", po::value<std::string>()->value_name("FILE"),
     "hosts from FILE: lines `host`, `host slots=N` or `host:N`, # comments")
    ("map-by", po::value<std::string>()->value_name("slot|node"),
     "slot (default): fill each host's slots in turn; node: one rank per host in turn")
    ("oversubscribe", po::bool_switch(), "allow more ranks than slots")
    ("launch-agent", po::value<std::string>()->value_name("CMD"),
     "start each remote host's agent with CMD HOST parrun --agent (instead of ssh)")
    ("iface", po::value<std::string>()->value_name("NAME|CIDR"),
     "across hosts, listen and connect on this interface (default: the one that reaches the peer)")
    ("ports", po::value<std::string>()->value_name("A-B"),
     "take every listening TCP port of the job (control and data) from this range")
    ("check-hosts", po::bool_switch(),
     "start nothing: check that each host is reachable, has the program and parrun, and can "
     "reach this launcher; one line per host")
    ("continue-on-failure", po::bool_switch(),
     "a rank that fails does not end the job: the others are told (their operations with it "
     "throw parrun::peer_lost) and the exit code still reports the failure")
    ("version", "print parrun's version and exit")
    ("help,h", "print this help and exit");
  return d;
}

// Stops option parsing at the first word that is not an option (or after "--"): that word is the
// program and the rest are its arguments, even when they look like parrun options.
std::vector<po::option> take_program(std::vector<std::string>& args) {
  std::vector<po::option> out;
  if (args.empty()) return out;
  std::size_t from = 0;
  if (args[0] == "--") from = 1;
  else if (args[0].empty() || args[0][0] == '-') return out;  // "" may be an option's value
  if (from == args.size()) {  // "--" and nothing after it: no program
    args.clear();
    return out;
  }
  po::option command;
  command.string_key = "command";
  command.value.assign(args.begin() + static_cast<std::ptrdiff_t>(from), args.end());
  command.original_tokens = args;
  out.push_back(command);
  args.clear();
  return out;
}

int parse_np(const std::string& text) {
  // Digits only (an optional minus, to say why a negative count is wrong): no spaces, no '+'.
  const std::size_t digits_from = !text.empty() && text[0] == '-' ? 1 : 0;
  if (text.size() == digits_from || text.size() > 12 ||
      text.find_first_not_of("0123456789", digits_from) != std::string::npos)
    throw usage_failure("-n/--np: '" + text + "' is not a number of ranks");
  const long n = std::stol(text);
  if (n < 1) throw usage_failure("-n/--np: " + text + " ranks; give at least 1");
  if (n > 65536) throw usage_failure("-n/--np: " + text + " ranks is more than parrun supports (65536)");
  return static_cast<int>(n);
}

double parse_timeout(const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  const double s = std::strtod(begin, &end);  // out of range: ±HUGE_VAL or about 0, judged below
  if (text.empty() || end != begin + text.size() || std::isnan(s))
    throw usage_failure("--timeout: '" + text + "' is not a number of seconds");
  if (s <= 0) throw usage_failure("--timeout: '" + text + "' is not a positive number of seconds");
  // The deadline lives in the steady clock's int64 nanoseconds (about 292 years): far beyond
  // that it would overflow and fire at once. Infinity is refused here too.
  if (s > max_timeout_seconds)
    throw usage_failure("--timeout: '" + text + "' is more than the largest accepted value, " +
                        std::to_string(static_cast<long long>(max_timeout_seconds)) +
                        " s (about 31 years)");
  return s;
}

bool valid_env_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

std::pair<std::string, std::string> parse_env(const std::string& spec, const env_lookup& getenv) {
  auto eq = spec.find('=');
  std::string name = spec.substr(0, eq);
  if (!valid_env_name(name))
    throw usage_failure("-x " + spec + ": '" + name + "' is not a valid environment variable name");
  if (eq != std::string::npos) return {name, spec.substr(eq + 1)};
  std::optional<std::string> value = getenv(name);
  if (!value)
    throw usage_failure("-x " + name + ": " + name +
                        " is not set in parrun's environment; give a value with -x " + name + "=VALUE");
  return {name, *value};
}

}  // namespace

launch_options parse_options(int argc, const char* const argv[], const env_lookup& getenv) {
  po::options_description visible = describe_options();
  po::options_description all;
  all.add(visible).add_options()("command", po::value<std::vector<std::string>>());
  // take_program leaves an empty word alone (it may be an option's value, `-n ''`); as the
  // program it still lands in "command" and is reported as an empty program name.
  po::positional_options_description positional;
  positional.add("command", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv)
                  .options(all)
                  .positional(positional)
                  .extra_style_parser(take_program)
                  .style(po::command_line_style::default_style &
                         ~po::command_line_style::allow_guessing)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    // Boost 1.74 builds what() by replacing %placeholders% in its template with the words the
    // user typed, and loops forever when a word is itself a placeholder (found by fuzzing):
    // name such a word ourselves.
    for (int i = 1; i < argc; ++i)
      if (argv[i][0] == '-' && std::strchr(argv[i], '%') != nullptr)
        throw usage_failure(std::string("'") + argv[i] + "' is not an option parrun knows (or is malformed)");
    throw usage_failure(e.what());
  }

  launch_options o;
  if (vm.count("help")) {
    o.what = action::help;
    return o;
  }
  if (vm.count("version")) {
    o.what = action::version;
    return o;
  }
  auto text = [&](const char* name) { return vm.count(name) ? vm[name].as<std::string>() : std::string(); };
  o.host_list = text("host");
  o.hostfile = text("hostfile");
  if (!o.host_list.empty() && !o.hostfile.empty()) throw usage_failure("give --host or --hostfile, not both");
  if (vm.count("host") && o.host_list.empty()) throw usage_failure("--host: the host list is empty");
  if (vm.count("hostfile") && o.hostfile.empty()) throw usage_failure("--hostfile: the file name is empty");
  if (vm.count("map-by")) {
    o.map_by = vm["map-by"].as<std::string>();
    if (o.map_by != "slot" && o.map_by != "node") throw usage_failure("--map-by: '" + o.map_by + "' is not slot or node");
  }
  o.oversubscribe = vm["oversubscribe"].as<bool>();
  o.check_hosts = vm["check-hosts"].as<bool>();
  o.launch_agent = text("launch-agent");
  if (vm.count("launch-agent") && o.launch_agent.find_first_not_of(" \t") == std::string::npos)
    throw usage_failure("--launch-agent: the command is empty");
  o.iface = text("iface");
  if (vm.count("iface") && o.iface.empty()) throw usage_failure("--iface: give an interface name or a CIDR block");
  o.ports = text("ports");
  if (vm.count("ports")) try {
      (void)detail::net::parse_port_range(o.ports);
    } catch (const std::invalid_argument& e) {
      throw usage_failure(std::string("--ports: ") + e.what());
    }
  // Where the hosts come from decides the rank count when -n is not given (every slot).
  const bool hosts_known = !o.host_list.empty() || !o.hostfile.empty() ||
                           getenv("SLURM_JOB_ID").has_value() || o.check_hosts;
  if (vm.count("np")) {
    o.np = parse_np(vm["np"].as<std::string>());
    o.np_given = true;
  } else if (!hosts_known) {
    throw usage_failure("-n/--np is required: how many ranks to start?");
  }
  o.tag_output = vm["tag-output"].as<bool>();
  o.continue_on_failure = vm["continue-on-failure"].as<bool>();
  if (vm.count("timeout")) o.timeout_seconds = parse_timeout(vm["timeout"].as<std::string>());
  if (vm.count("env"))
    for (const std::string& spec : vm["env"].as<std::vector<std::string>>())
      o.env.push_back(parse_env(spec, getenv));
  auto known_lane = [](const std::string& lane) { return lane == "auto" || lane == "shm" || lane == "zmq"; };
  if (vm.count("transport")) {
    const std::string lane = vm["transport"].as<std::string>();
    if (!known_lane(lane)) throw usage_failure("--transport: '" + lane + "' is not one of auto, shm, zmq");
    o.env.emplace_back(wire::env_transport, lane);
  } else if (const auto inherited = getenv(wire::env_transport); inherited && !inherited->empty() && !known_lane(*inherited)) {
    // Every rank would stop on it: say so once, before starting any.
    throw usage_failure(std::string(wire::env_transport) + "='" + *inherited +
                        "' (from the environment) is not one of auto, shm, zmq");
  }
  if (!vm.count("command") || vm["command"].as<std::vector<std::string>>().empty())
    throw usage_failure("no program given: parrun [options] program [args...]");
  auto command = vm["command"].as<std::vector<std::string>>();
  o.program = command.front();
  o.args.assign(command.begin() + 1, command.end());
  return o;
}

std::string resolve_program(const std::string& program, const std::string& path) {
  auto check = [](const std::string& candidate) -> std::optional<std::string> {
    struct stat st {};
    if (stat(candidate.c_str(), &st) != 0) return std::nullopt;
    if (S_ISDIR(st.st_mode))
      throw start_failure("program '" + candidate + "' is a directory", exit_cannot_invoke);
    if (access(candidate.c_str(), X_OK) != 0)
      throw start_failure(
          "program '" + candidate + "' is not executable (" + std::strerror(errno) + ")",
          exit_cannot_invoke);
    return candidate;
  };
  if (program.empty()) throw start_failure("the program name is empty", exit_not_found);
  if (program.find('/') != std::string::npos) {
    if (auto found = check(program)) return *found;
    throw start_failure("program '" + program + "' not found", exit_not_found);
  }
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + program;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && !S_ISDIR(st.st_mode) && access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  throw start_failure("program '" + program + "' not found in PATH (use ./" + program +
                          " for a program in the current directory)",
                      exit_not_found);
}

std::string help_text() {
  std::ostringstream out;
  out << "Usage: parrun [options] program [args...]\n"
         "Starts N ranked copies of program that exchange typed messages (see parrun.hpp).\n\n"
      << describe_options()
      << "\nExit status: 0 when every rank exits 0; else the first failing rank's status\n"
         "(128+N when it was killed by signal N); 124 on --timeout; 128+N when parrun itself\n"
         "got signal N; 125 for a usage error or a job parrun could not start; 126 when the\n"
         "program cannot be executed; 127 when it is not found; 255 when a host was lost.\n";
  return out.str();
}

}  // namespace parrun::launcher

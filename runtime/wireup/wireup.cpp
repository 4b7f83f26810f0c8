#include "wireup/wireup.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <zmq.hpp>

#include <parrun/errors.hpp>
#include <parrun/wire.hpp>

#include "transport/zap_handler.hpp"
#include "transport/zmq_transport.hpp"

namespace parrun::detail {
namespace {

// The transport of a program started without parrun: nobody else to talk to.
class solo_transport final : public transport {
 public:
  std::uint64_t post(int, const envelope&, owned_bytes&&) override {
    throw usage_error("rank 0 of 1 has no peer to send to");
  }
  bool taken(int, std::uint64_t) const override { return true; }
  std::size_t progress(std::chrono::milliseconds timeout, frame_sink&) override {
    if (timeout.count() < 0)
      throw usage_error(
          "this program runs alone (rank 0 of 1, not started by parrun) and waits for a message "
          "nobody can send; start it with `parrun -n N` or give the wait a timeout");
    std::this_thread::sleep_for(timeout);
    return 0;
  }
  void send_control(const std::string&) override {}
  void close() noexcept override {}
};

std::string required(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0')
    throw usage_error(std::string("the parrun environment is incomplete: ") + name +
                      " is not set although " + wire::env_rendezvous +
                      " is; start the program with parrun");
  return v;
}

int required_int(const char* name, int lo, int hi) {
  std::string v = required(name);
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    throw usage_error(std::string("the parrun environment is malformed: ") + name + "='" + v +
                      "' is not a number in " + std::to_string(lo) + ".." + std::to_string(hi));
  return static_cast<int>(x);
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

// An optional tunable: `fallback` when unset, else a whole number in lo..hi.
int optional_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    throw usage_error(std::string("environment variable ") + name + "='" + v + "' is not a number in " +
                      std::to_string(lo) + ".." + std::to_string(hi));
  return static_cast<int>(x);
}

double connect_timeout_seconds() {
  const char* v = std::getenv(wire::env_connect_timeout);
  if (v == nullptr || *v == '\0') return 10.0;
  char* end = nullptr;
  double s = std::strtod(v, &end);
  if (*end != '\0' || !(s > 0))
    throw usage_error(std::string(wire::env_connect_timeout) + "='" + v +
                      "' is not a positive number of seconds");
  return s;
}

// Waits for the next control message; empty when `timeout` passed first.
std::optional<std::string> next_control(zmq::socket_t& control, std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{control.handle(), 0, ZMQ_POLLIN, 0};
  for (;;) {
    try {
      if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
      break;
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
  }
  zmq::message_t msg;
  (void)control.recv(msg, zmq::recv_flags::none);
  return msg.to_string();
}

// Where this rank receives data: a unix socket inside the job's directory. The directory must be
// this user's and closed to everyone else (mode 0700), so that no other user can even connect;
// there is no fallback to the abstract namespace, where any local user could.
std::string data_endpoint(const job_info& info, const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0)
    throw usage_error(std::string("the parrun environment is malformed: ") + wire::env_socket_dir + "='" + dir +
                      "': " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0)
    throw usage_error(std::string("the parrun environment is malformed: ") + wire::env_socket_dir + "='" + dir +
                      "' is not a directory of this user closed to everyone else (mode 0700); only "
                      "the job's own ranks may talk to a rank");
  return "ipc://" + dir + "/" + std::to_string(info.rank);
}

// A rank holds a descriptor per peer connection: use all the descriptors the hard limit allows.
void raise_descriptor_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

joined_job join_job() {
  joined_job job;
  job.info.host = host_name();
  job.info.hwm = optional_int("PARRUN_HWM", 1000, 0, 1'000'000);
  job.info.spin_us = optional_int("PARRUN_SPIN_US", -1, 0, 1'000'000);
  job.info.max_part = static_cast<std::size_t>(
      optional_int("PARRUN_PART_BYTES", static_cast<int>(job.info.max_part), 4096, 1 << 30));
  const char* rendezvous = std::getenv(wire::env_rendezvous);
  if (rendezvous == nullptr || *rendezvous == '\0') {
    job.link = std::make_unique<solo_transport>();
    job.info.hosts = {job.info.host};
    return job;
  }

  job_info& info = job.info;
  info.launched = true;
  info.size = required_int(wire::env_size, 1, 1 << 24);
  info.rank = required_int(wire::env_rank, 0, info.size - 1);
  info.local_size = required_int(wire::env_local_size, 1, info.size);
  info.local_rank = required_int(wire::env_local_rank, 0, info.local_size - 1);
  info.job_id = required(wire::env_job_id);
  const std::string secret = required(wire::env_secret);
  const std::string endpoint = data_endpoint(info, required(wire::env_socket_dir));
  const double patience = connect_timeout_seconds();
  const std::string me = "rank " + std::to_string(info.rank);

  raise_descriptor_limit();
  zmq::context_t context(1);
  // One socket per peer it sends to, plus its own: ZeroMQ's default cap (1023) is too few for
  // big jobs.
  context.set(zmq::ctxopt::max_sockets, info.size + 16);
  // Only the job's own ranks may deliver frames (zap_handler.hpp); the handler is in place
  // before the data socket exists.
  auto zap = std::make_unique<zap_handler>(context, secret, info.rank);
  zmq::socket_t data_in(context, zmq::socket_type::pull);
  configure_socket(data_in, 0);
  configure_data_server(data_in, info.max_part);
  data_in.set(zmq::sockopt::rcvhwm, info.hwm);
  try {
    data_in.bind(endpoint);
  } catch (const zmq::error_t& e) {
    throw transport_error(me + " could not bind its data endpoint " + endpoint + ": " + e.what());
  }

  zmq::socket_t control(context, zmq::socket_type::dealer);
  configure_socket(control, 1000);
  try {
    control.connect(rendezvous);
  } catch (const zmq::error_t& e) {
    throw transport_error(me + " could not connect to the launcher at " + std::string(rendezvous) +
                          ": " + e.what());
  }
  wire::hello hello{wire::protocol_version, secret, info.rank, static_cast<std::int64_t>(getpid()),
                    info.host, endpoint};
  control.send(zmq::buffer(wire::encode(wire::kind::hello, hello)), zmq::send_flags::none);

  const auto started = std::chrono::steady_clock::now();
  auto first = next_control(control, std::chrono::milliseconds(static_cast<long>(patience * 1000)));
  if (!first)
    throw transport_error(me + " could not reach the launcher at " + std::string(rendezvous) +
                          ": no answer in " + std::to_string(patience).substr(0, 4) +
                          " s. Is parrun still running? (" + wire::env_rendezvous +
                          " is set in the environment, so this program expects to be part of a "
                          "parrun job)");
  wire::table table;
  for (std::optional<std::string> msg = std::move(first);; msg = next_control(control, std::chrono::milliseconds(-1))) {
    switch (wire::kind_of(*msg)) {
      case wire::kind::welcome:
        continue;
      case wire::kind::refused:
        throw transport_error(me + ": the launcher refused to let it join: " +
                              wire::decode<wire::refused>(*msg).why);
      case wire::kind::query: {
        std::chrono::duration<double> waited = std::chrono::steady_clock::now() - started;
        wire::state st{"joining the job (waiting for the other ranks to start)", waited.count()};
        control.send(zmq::buffer(wire::encode(wire::kind::state, st)), zmq::send_flags::none);
        continue;
      }
      case wire::kind::table:
        table = wire::decode<wire::table>(*msg);
        break;
      default:
        continue;  // nothing else is meaningful before the table
    }
    break;
  }
  if (table.endpoints.size() != static_cast<std::size_t>(info.size))
    throw transport_error(me + ": the launcher sent a table of " +
                          std::to_string(table.endpoints.size()) + " endpoints for " +
                          std::to_string(info.size) + " ranks");
  info.hosts = table.hosts;
  job.link = std::make_unique<zmq_transport>(std::move(context), std::move(zap), std::move(data_in),
                                             std::move(control), std::move(table.endpoints),
                                             info.rank, info.hwm, secret, info.max_part);
  return job;
}

}  // namespace parrun::detail

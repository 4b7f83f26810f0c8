#include "wireup/wireup.hpp"

#include <malloc.h>
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
#include <parrun/detail/net.hpp>
#include <parrun/wire.hpp>

#include <fstream>

#include "transport/control.hpp"
#include "transport/router.hpp"
#include "transport/shm/shm_lane.hpp"
#include "transport/zmq/zap_handler.hpp"
#include "transport/zmq/zmq_context.hpp"
#include "transport/zmq/zmq_lane.hpp"

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
  void close() noexcept override {}
};

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

// A rank's sockets on this host live in the job's directory, which must be this user's and
// closed to everyone else (mode 0700), so that no other user can even connect; there is no
// fallback to the abstract namespace, where any local user could.
void check_socket_dir(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0)
    throw usage_error(std::string("the parrun environment is malformed: ") + wire::env_socket_dir + "='" + dir +
                      "': " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0)
    throw usage_error(std::string("the parrun environment is malformed: ") + wire::env_socket_dir + "='" + dir +
                      "' is not a directory of this user closed to everyone else (mode 0700); only "
                      "the job's own ranks may talk to a rank");
}

// Where this rank receives ZeroMQ data on one host: a unix socket inside that directory.
std::string data_endpoint(const job_info& info, const std::string& dir) {
  return "ipc://" + wire::zmq_socket_path(dir, info.rank);
}

// Large messages are encoded into, and received into, fresh buffers. glibc serves big ones with
// mmap and gives freed memory back at once, so every such message paid a page fault per 4 KiB
// on both sides: measured at -n 2, 16 MiB messages took 433,000 faults on the receiver and moved
// 1.2 GB/s; with the thresholds below, 38,000 faults and 2.3 GB/s. The cost: up to 128 MiB of
// freed memory stays with the process for reuse (MPI libraries keep theirs too).
// PARRUN_MALLOC_TUNING=0 leaves malloc as it was.
void tune_malloc_for_large_messages() {
  const char* v = std::getenv("PARRUN_MALLOC_TUNING");
  if (v != nullptr && std::string(v) == "0") return;
  (void)mallopt(M_MMAP_THRESHOLD, 64 << 20);
  (void)mallopt(M_TRIM_THRESHOLD, 128 << 20);
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

std::string this_host_id() {
  std::string boot;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot;
  char ns[64] = {};
  const ssize_t n = readlink("/proc/self/ns/net", ns, sizeof ns - 1);
  return host_name() + "/" + boot + "/" + (n > 0 ? std::string(ns, static_cast<std::size_t>(n)) : "");
}

std::string choose_lane(const std::string& forced, const std::string& my_host_id, int peer,
                        const std::string& peer_host, const std::string& peer_host_id, bool peer_has_shm,
                        bool peer_has_zmq) {
  const bool same_host = peer_host_id == my_host_id;
  if (forced == "zmq" || !same_host || !peer_has_shm) {
    if (forced == "shm")
      throw usage_error(std::string(wire::env_transport) + "=shm, but rank " + std::to_string(peer) + " runs on " +
                        (same_host ? "this host without a shared-memory endpoint" : "another host (" + peer_host + ")") +
                        ": shared memory only reaches ranks on one host; use auto or zmq");
    if (!peer_has_zmq)
      throw transport_error("rank " + std::to_string(peer) + " on " + peer_host +
                            " offers no ZeroMQ endpoint, and shared memory cannot reach it");
    return "zmq";
  }
  return "shm";
}

namespace {

std::string transport_choice() {
  const char* v = std::getenv(wire::env_transport);
  const std::string t = v == nullptr || *v == '\0' ? "auto" : v;
  if (t != "auto" && t != "shm" && t != "zmq")
    throw usage_error(std::string(wire::env_transport) + "='" + t + "' is not one of auto, shm, zmq");
  return t;
}

std::uint64_t ring_bytes_setting() {
  const int v = optional_int("PARRUN_SHM_RING_BYTES", static_cast<int>(job_info{}.ring_bytes), 4096, 1 << 30);
  if ((v & (v - 1)) != 0)
    throw usage_error("environment variable PARRUN_SHM_RING_BYTES='" + std::to_string(v) + "' is not a power of two");
  return static_cast<std::uint64_t>(v);
}

const wire::endpoint* find_endpoint(const wire::member& m, const char* lane) {
  for (const wire::endpoint& e : m.endpoints)
    if (e.lane == lane) return &e;
  return nullptr;
}

// Binds this rank's ZeroMQ data socket; its ZAP handler is in place first (zap_handler.hpp).
// On one host it is a unix socket in the job's directory; across hosts TCP with CURVE, on the
// address --iface names or else the one that reaches the launcher (parrun/detail/net.hpp).
// Returns the socket and the endpoint peers connect to.
std::pair<zmq::socket_t, std::string> bind_zmq_data(zmq_context& zmq, const job_info& info,
                                                    const data_credentials& credentials,
                                                    const wire::contract& contract) {
  zmq.zap = std::make_unique<zap_handler>(zmq.context, credentials, info.rank);
  zmq::socket_t data_in(zmq.context, zmq::socket_type::pull);
  configure_socket(data_in, 0);
  configure_data_server(data_in, info.max_part, credentials);
  data_in.set(zmq::sockopt::rcvhwm, info.hwm);
  std::string endpoint = credentials.curve() ? "tcp" : data_endpoint(info, contract.socket_dir);
  try {
    if (!credentials.curve()) {
      data_in.bind(endpoint);
    } else {
      const std::string address = net::listen_address(contract.iface, net::endpoint_host(contract.rendezvous));
      endpoint = net::bind_tcp(address, contract.ports,
                               [&](const std::string& e) { return bind_unless_taken(data_in, e); });
    }
  } catch (const std::exception& e) {
    throw transport_error("rank " + std::to_string(info.rank) + " could not bind its data endpoint (" + endpoint +
                          "): " + e.what());
  }
  return {std::move(data_in), endpoint};
}

// Says hello and waits for the table, answering the launcher's queries meanwhile.
wire::table wait_for_table(zmq::socket_t& control, const job_info& info, const wire::hello& hello,
                           const char* rendezvous, double patience) {
  const std::string me = "rank " + std::to_string(info.rank);
  control.send(zmq::buffer(wire::encode(wire::kind::hello, hello)), zmq::send_flags::none);
  const auto started = std::chrono::steady_clock::now();
  auto first = next_control(control, std::chrono::milliseconds(static_cast<long>(patience * 1000)));
  if (!first)
    throw transport_error(me + " could not reach the launcher at " + std::string(rendezvous) +
                          ": no answer in " + std::to_string(patience).substr(0, 4) +
                          " s. Is parrun still running? (" + wire::env_rendezvous +
                          " is set in the environment, so this program expects to be part of a "
                          "parrun job)");
  for (std::optional<std::string> msg = std::move(first);; msg = next_control(control, std::chrono::milliseconds(-1))) {
    switch (wire::kind_of(*msg)) {
      case wire::kind::refused:
        throw transport_error(me + ": the launcher refused to let it join: " + wire::decode<wire::refused>(*msg).why);
      case wire::kind::query: {
        std::chrono::duration<double> waited = std::chrono::steady_clock::now() - started;
        wire::state st{"joining the job (waiting for the other ranks to start)", waited.count()};
        control.send(zmq::buffer(wire::encode(wire::kind::state, st)), zmq::send_flags::none);
        continue;
      }
      case wire::kind::table: {
        wire::table table = wire::decode<wire::table>(*msg);
        if (table.ranks.size() != static_cast<std::size_t>(info.size))
          throw transport_error(me + ": the launcher sent a table of " + std::to_string(table.ranks.size()) +
                                " ranks for a job of " + std::to_string(info.size));
        return table;
      }
      default:
        continue;  // welcome, and nothing else is meaningful before the table
    }
  }
}

}  // namespace

namespace {

// Tunables every rank reads, launched or not (README, "The environment contract").
job_info read_settings() {
  job_info info;
  info.host = host_name();
  info.hwm = optional_int("PARRUN_HWM", 1000, 0, 1'000'000);
  info.spin_us = optional_int("PARRUN_SPIN_US", -1, 0, 1'000'000);
  info.max_part = static_cast<std::size_t>(
      optional_int("PARRUN_PART_BYTES", static_cast<int>(info.max_part), 4096, 1 << 30));
  info.transport = transport_choice();
  info.ring_bytes = ring_bytes_setting();
  info.direct_bytes = static_cast<std::size_t>(optional_int("PARRUN_SHM_DIRECT_BYTES", static_cast<int>(job_info{}.direct_bytes), 0, 1 << 30));
  info.allow_direct = optional_int("PARRUN_SHM_DIRECT", 1, 0, 1) == 1;
  return info;
}

// The launcher's way of learning the table: say hello on the control socket, wait for it.
membership_exchange launcher_exchange(const wire::contract& contract, double patience) {
  return [contract, patience](job_info& info, const wire::hello& hello, std::shared_ptr<zmq_context> zmq) {
    zmq::socket_t control(zmq->context, zmq::socket_type::dealer);
    configure_socket(control, 1000);
    if (!contract.curve_public.empty()) configure_curve_client(control, contract.curve_public, contract.curve_secret);
    try {
      control.connect(contract.rendezvous);
    } catch (const zmq::error_t& e) {
      throw transport_error("rank " + std::to_string(info.rank) + " could not connect to the launcher at " +
                            contract.rendezvous + ": " + e.what());
    }
    wire::table table = wait_for_table(control, info, hello, contract.rendezvous.c_str(), patience);
    return exchanged{std::move(table), std::make_unique<zmq_control>(std::move(zmq), std::move(control))};
  };
}

}  // namespace

joined_job join_members(job_info info, const wire::contract& contract, bool may_span_hosts,
                        const membership_exchange& exchange) {
  joined_job job;
  const std::string& secret = contract.secret;
  const std::string& dir = contract.socket_dir;
  const data_credentials credentials{secret, contract.curve_public, contract.curve_secret};
  check_socket_dir(dir);
  raise_descriptor_limit();

  // Every rank on this host: ZeroMQ carries no data unless it is forced.
  const bool want_zmq = info.transport == "zmq" || (info.transport == "auto" && may_span_hosts);
  const bool want_shm = info.transport != "zmq";
  // One socket per peer it sends to, plus its own: ZeroMQ's default cap (1023) is too few for
  // big jobs.
  auto zmq = std::make_shared<zmq_context>(want_zmq ? info.size + 16 : 16);
  std::optional<zmq::socket_t> data_in;
  std::string zmq_endpoint;
  if (want_zmq) {
    auto [socket, endpoint] = bind_zmq_data(*zmq, info, credentials, contract);
    data_in.emplace(std::move(socket));
    zmq_endpoint = std::move(endpoint);
  }
  std::unique_ptr<shm_lane> shm;
  if (want_shm) shm = std::make_unique<shm_lane>(dir, info.rank);

  wire::hello hello;
  hello.secret = secret;
  hello.rank = info.rank;
  hello.self.host = info.host;
  hello.self.host_id = this_host_id();
  hello.self.pid = static_cast<std::int64_t>(getpid());
  if (want_zmq) hello.self.endpoints.push_back({"zmq", zmq_endpoint});
  if (want_shm) hello.self.endpoints.push_back({"shm", wire::shm_socket_path(dir, info.rank)});
  exchanged ex = exchange(info, hello, zmq);
  wire::table& table = ex.table;
  // Exactly one lane per peer, for the whole job. The lanes sit in this order: shm, then zmq.
  const int shm_index = want_shm ? 0 : -1;
  const int zmq_index = want_zmq ? (want_shm ? 1 : 0) : -1;
  std::vector<int> lane_of(static_cast<std::size_t>(info.size), -1);
  std::vector<std::string> zmq_endpoints(static_cast<std::size_t>(info.size));
  shm_options so;
  so.dir = dir;
  so.secret = secret;
  so.my_rank = info.rank;
  so.ring_bytes = info.ring_bytes;
  so.direct_bytes = info.direct_bytes;
  so.allow_direct = info.allow_direct;
  so.peers.assign(static_cast<std::size_t>(info.size), false);
  so.paths.assign(static_cast<std::size_t>(info.size), std::string());
  for (int r = 0; r < info.size; ++r) {
    const wire::member& m = table.ranks[static_cast<std::size_t>(r)];
    info.hosts.push_back(m.host);
    so.pids.push_back(m.pid);
    if (r == info.rank) continue;
    const wire::endpoint* z = find_endpoint(m, "zmq");
    const std::string lane = choose_lane(info.transport, hello.self.host_id, r, m.host, m.host_id,
                                         find_endpoint(m, "shm") != nullptr && want_shm, z != nullptr && want_zmq);
    const bool on_shm = lane == "shm";
    lane_of[static_cast<std::size_t>(r)] = on_shm ? shm_index : zmq_index;
    if (on_shm) {
      so.peers[static_cast<std::size_t>(r)] = true;
      so.paths[static_cast<std::size_t>(r)] = find_endpoint(m, "shm")->address;
    }
    else zmq_endpoints[static_cast<std::size_t>(r)] = z->address;
  }
  std::vector<std::unique_ptr<lane>> lanes;
  if (shm) {
    shm->start(std::move(so));  // even with no peer on it: it refuses strangers who knock
    lanes.push_back(std::move(shm));
  }
  if (data_in) {
    lanes.push_back(std::make_unique<zmq_lane>(zmq, std::move(*data_in), std::move(zmq_endpoints), info.rank,
                                               info.hwm, credentials, info.max_part));
  }
  zmq.reset();
  job.link = std::make_unique<router>(std::move(lanes), std::move(lane_of), ex.control.get());
  job.control = std::move(ex.control);
  job.info = std::move(info);
  return job;
}


joined_job join_job() {
  job_info info = read_settings();
  const char* rendezvous = std::getenv(wire::env_rendezvous);
  if (rendezvous == nullptr || *rendezvous == '\0') {
    if (started_by_pmix()) return join_through_pmix(std::move(info));
    joined_job job;
    job.link = std::make_unique<solo_transport>();
    info.hosts = {info.host};
    job.info = std::move(info);
    return job;
  }
  info.launched = true;
  tune_malloc_for_large_messages();
  wire::contract contract;
  try {
    contract = wire::read_contract([](const char* name) { return std::getenv(name); });
  } catch (const wire::contract_error& e) {
    throw usage_error(e.what());
  }
  info.size = contract.size;
  info.rank = contract.rank;
  info.local_size = contract.local_size;
  info.local_rank = contract.local_rank;
  info.job_id = contract.job_id;
  const bool spans = info.local_size < info.size;
  return join_members(std::move(info), contract, spans, launcher_exchange(contract, connect_timeout_seconds()));
}

}  // namespace parrun::detail

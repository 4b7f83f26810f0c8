#pragma once
// The wire contract: the one piece the launcher and the runtime share.
//
// The launcher starts every rank with the environment variables below, and runs a control
// service (a ZeroMQ ROUTER on PARRUN_RENDEZVOUS: a unix socket in the job's directory on one
// host, TCP with CURVE across hosts) that each rank joins with one DEALER socket.
// Control messages are a kind byte followed by a Cereal binary body. Rank-to-rank data never
// passes through the launcher: it only exchanges the table of data endpoints, runs the
// finalize barrier, collects failure reasons and answers `--timeout` questions.
//
//   rank                         launcher
//   hello{secret,rank,pid,host,host_id,endpoints}  ->
//                                <- welcome{}            (the launcher is reachable)
//                                <- table{ranks}         (once every rank said hello)
//   failing{kind,code,reason}    ->                      (abort() or an uncaught exception)
//                                <- ack{}                (the reason is recorded; now die)
//                                <- query{}              (on --timeout)
//   state{operation,seconds}     ->
//                                <- peer_lost{rank,why}  (a rank ended badly)
//   leaving{waiting_for}         ->                      (flushing its data to those peers)
//   finalize{sent,arrived}       ->                      (after flushing its data to its peers)
//                                <- finalized{}          (recorded: this rank may exit)
//                                <- peers_finished{[rank,sent_to_you,arrived_from_you]...}
//
// The counts (data frames, by world rank) let a rank tell exactly when everything a finished
// peer sent it has arrived, so a receive that can no longer be satisfied fails instead of
// hanging, and messages sent to a rank after it finished are reported, not silently lost.
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <cereal/archives/binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <parrun/detail/bounded_archive.hpp>

namespace parrun::wire {

/// Environment variables the launcher sets for every rank (documented in the README).
inline constexpr const char* env_rank = "PARRUN_RANK";              ///< this rank, 0..size-1
inline constexpr const char* env_size = "PARRUN_SIZE";              ///< number of ranks
inline constexpr const char* env_local_rank = "PARRUN_LOCAL_RANK";  ///< rank among this host's
inline constexpr const char* env_local_size = "PARRUN_LOCAL_SIZE";  ///< ranks on this host
inline constexpr const char* env_rendezvous = "PARRUN_RENDEZVOUS";  ///< control endpoint
inline constexpr const char* env_secret = "PARRUN_SECRET";          ///< per-job secret
inline constexpr const char* env_job_id = "PARRUN_JOB_ID";          ///< unique job id
/// A directory only the job's user can enter (mode 0700, made and removed by the launcher):
/// ranks bind their data sockets inside it, so no other user can even connect to them.
inline constexpr const char* env_socket_dir = "PARRUN_SOCKET_DIR";
/// Set when the job spans hosts: the job's CurveZMQ key pair (Z85, 40 characters each). Every
/// TCP socket of the job (the launcher's control service, each rank's data socket) is a CURVE
/// server with this key and accepts only clients that hold it too; it travels only in the
/// environment (readable by the job's user alone), never on a command line or in a file.
inline constexpr const char* env_curve_public = "PARRUN_CURVE_PUBLIC";
inline constexpr const char* env_curve_secret = "PARRUN_CURVE_SECRET";
/// Optional (--iface): the interface, by name or CIDR, whose address TCP sockets bind to.
/// Unset: the address this host uses to reach the launcher.
inline constexpr const char* env_iface = "PARRUN_IFACE";
/// Optional (--ports A-B): every TCP listening port of the job is taken from this range.
inline constexpr const char* env_ports = "PARRUN_PORTS";
/// Optional: seconds a rank waits for the launcher to answer its hello (default 10).
inline constexpr const char* env_connect_timeout = "PARRUN_CONNECT_TIMEOUT";
/// Optional: which lane carries data between ranks on one host: `auto` (default: shared
/// memory), `shm` (shared memory, and every rank must be on this host), `zmq` (ZeroMQ for all).
inline constexpr const char* env_transport = "PARRUN_TRANSPORT";

/// What the launcher (or a host's agent) gives every rank, as the variables above: the one
/// definition of the environment contract, written by the launcher and read by the runtime.
struct contract {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::string rendezvous;
  std::string secret;
  std::string job_id;
  std::string socket_dir;    ///< the job's private directory on this host for the ranks' sockets
  std::string curve_public;  ///< empty when the job runs on one host
  std::string curve_secret;
  std::string iface;  ///< empty: the interface that reaches the launcher
  std::string ports;  ///< empty: any port

  /// NAME, VALUE for every variable this contract sets (the optional ones only when given).
  std::vector<std::pair<std::string, std::string>> variables() const {
    std::vector<std::pair<std::string, std::string>> v{
        {env_rank, std::to_string(rank)},       {env_size, std::to_string(size)},
        {env_local_rank, std::to_string(local_rank)}, {env_local_size, std::to_string(local_size)},
        {env_rendezvous, rendezvous},           {env_secret, secret},
        {env_job_id, job_id},                   {env_socket_dir, socket_dir}};
    for (const auto& [name, value] : {std::pair{env_curve_public, curve_public}, std::pair{env_curve_secret, curve_secret},
                                      std::pair{env_iface, iface}, std::pair{env_ports, ports}})
      if (!value.empty()) v.emplace_back(name, value);
    return v;
  }
};

/// A contract that is incomplete or malformed; the message names the variable.
class contract_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads the contract through `lookup` (a variable's value, or null when unset), once
/// PARRUN_RENDEZVOUS is known to be set. Throws contract_error naming what is missing or wrong.
template <class Lookup>
contract read_contract(Lookup lookup) {
  auto required = [&](const char* name) {
    const char* v = lookup(name);
    if (v == nullptr || *v == '\0')
      throw contract_error(std::string("the parrun environment is incomplete: ") + name + " is not set although " +
                           env_rendezvous + " is; start the program with parrun");
    return std::string(v);
  };
  auto optional = [&](const char* name) {
    const char* v = lookup(name);
    return v == nullptr ? std::string() : std::string(v);
  };
  auto number = [&](const char* name, long lo, long hi) {
    const std::string v = required(name);
    long x = 0;
    std::size_t used = 0;
    try {
      x = std::stol(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != v.size() || x < lo || x > hi)
      throw contract_error(std::string("the parrun environment is malformed: ") + name + "='" + v +
                           "' is not a number in " + std::to_string(lo) + ".." + std::to_string(hi));
    return static_cast<int>(x);
  };
  contract c;
  c.size = number(env_size, 1, 1 << 24);
  c.rank = number(env_rank, 0, c.size - 1);
  c.local_size = number(env_local_size, 1, c.size);
  c.local_rank = number(env_local_rank, 0, c.local_size - 1);
  c.rendezvous = required(env_rendezvous);
  c.job_id = required(env_job_id);
  c.secret = required(env_secret);
  c.socket_dir = required(env_socket_dir);
  c.curve_public = optional(env_curve_public);
  c.curve_secret = optional(env_curve_secret);
  if (c.curve_public.empty() != c.curve_secret.empty() || (!c.curve_public.empty() && (c.curve_public.size() != 40 || c.curve_secret.size() != 40)))
    throw contract_error(std::string("the parrun environment is malformed: ") + env_curve_public + " and " +
                         env_curve_secret + " must both be 40-character Z85 keys");
  c.iface = optional(env_iface);
  c.ports = optional(env_ports);
  return c;
}

/// The files rank `rank` may create in PARRUN_SOCKET_DIR (the launcher removes them however the
/// job ends): its ZeroMQ data socket and its shared-memory listener.
inline std::string zmq_socket_path(const std::string& dir, int rank) { return dir + "/" + std::to_string(rank); }
inline std::string shm_socket_path(const std::string& dir, int rank) { return dir + "/" + std::to_string(rank) + ".shm"; }
/// Where the launcher's control service listens when the whole job is on one host.
inline std::string launcher_socket_path(const std::string& dir) { return dir + "/ctl"; }

/// Version of the control protocol; a rank and a launcher of different versions refuse to talk.
inline constexpr std::uint32_t protocol_version = 3;

/// The largest control message a rank may send to a launcher of a job of `np` ranks (the
/// finalize counts grow with np; everything else is small). The launcher's socket refuses
/// longer ones before reading them, so nobody can make it allocate more.
constexpr std::int64_t max_control_bytes(int np) { return 64 * 1024 + 32 * static_cast<std::int64_t>(np); }

enum class kind : std::uint8_t {
  hello = 1,
  welcome,
  table,
  failing,
  ack,
  query,
  state,
  peer_lost,
  finalize,
  finalized,
  peers_finished,
  refused,
  leaving,
};

/// One way to reach a rank: a lane ("zmq", "shm") and its address on that lane.
struct endpoint {
  std::string lane;
  std::string address;
  template <class A> void serialize(A& a) { a(lane, address); }
};

/// What the table says about one rank.
struct member {
  std::string host;     ///< its host name, for people
  std::string host_id;  ///< which machine (and network namespace) it runs on: equal ids share memory
  std::int64_t pid = 0;
  std::vector<endpoint> endpoints;
  template <class A> void serialize(A& a) { a(host, host_id, pid, endpoints); }
};

struct hello {
  std::uint32_t version = protocol_version;
  std::string secret;
  std::int32_t rank = -1;
  member self;
  template <class A> void serialize(A& a) { a(version, secret, rank, self); }
};

struct table {
  std::vector<member> ranks;  ///< indexed by rank
  template <class A> void serialize(A& a) { a(ranks); }
};

enum class failure_kind : std::uint8_t { aborted = 1, uncaught_exception = 2 };

struct failing {
  failure_kind what = failure_kind::aborted;
  std::int32_t code = 1;
  std::string reason;
  template <class A> void serialize(A& a) { a(what, code, reason); }
};

struct state {
  std::string operation;  ///< e.g. "recv(source=0, tag=7)"; empty when not inside a parrun call
  double seconds = 0;     ///< how long it has been in that operation
  template <class A> void serialize(A& a) { a(operation, seconds); }
};

struct peer_lost {
  std::int32_t rank = -1;
  std::string why;
  template <class A> void serialize(A& a) { a(rank, why); }
};

/// A rank starts leaving and waits for these peers to confirm they have what it sent them
/// (FIN_ACK); a peer that finished first cannot: the launcher sends its news at once.
struct leaving {
  std::vector<std::int32_t> waiting_for;
  template <class A> void serialize(A& a) { a(waiting_for); }
};

struct finalize {
  std::vector<std::uint64_t> sent;            ///< data frames this rank sent, by destination rank
  std::vector<std::uint64_t> arrived;         ///< data frames that arrived here, by source rank
  std::vector<std::uint64_t> values_arrived;  ///< of those, typed values (not protocol frames)
  template <class A> void serialize(A& a) { a(sent, arrived, values_arrived); }
};

struct peer_finished {
  std::int32_t rank = -1;
  std::uint64_t sent_to_you = 0;              ///< frames it sent to the recipient, all on their way
  std::uint64_t arrived_from_you = 0;         ///< frames from the recipient that reached it
  std::uint64_t values_arrived_from_you = 0;  ///< of those, typed values
  template <class A> void serialize(A& a) { a(rank, sent_to_you, arrived_from_you, values_arrived_from_you); }
};

/// Ranks that finished since the last such message, batched: one message per recipient for
/// however many ranks finished meanwhile keeps leaving the job linear in the rank count.
struct peers_finished {
  std::vector<peer_finished> peers;
  template <class A> void serialize(A& a) { a(peers); }
};

struct refused {
  std::string why;
  template <class A> void serialize(A& a) { a(why); }
};

struct empty {
  template <class A> void serialize(A&) {}
};

/// Encodes one control message: the kind byte, then the body.
template <class Body>
std::string encode(kind k, const Body& body) {
  std::ostringstream out;
  out.put(static_cast<char>(k));
  {
    cereal::BinaryOutputArchive archive(out);
    archive(body);
  }
  return std::move(out).str();
}

/// The kind byte of an encoded control message; throws std::runtime_error when empty.
inline kind kind_of(const std::string& bytes) {
  if (bytes.empty()) throw std::runtime_error("empty control message");
  return static_cast<kind>(bytes[0]);
}

/// Decodes the body of an encoded control message. Throws cereal::Exception when it is
/// malformed (also for a length that the bytes cannot hold: nothing is allocated on trust) or
/// has bytes left over.
template <class Body>
Body decode(const std::string& bytes) {
  if (bytes.empty()) throw cereal::Exception("empty control message");
  Body body;
  detail::bounded_input_archive archive(reinterpret_cast<const std::byte*>(bytes.data()) + 1,
                                        bytes.size() - 1);
  archive(body);
  if (archive.remaining() != 0)
    throw cereal::Exception(std::to_string(archive.remaining()) +
                            " bytes left over after a control message's body");
  return body;
}

}  // namespace parrun::wire

#pragma once
// The wire contract: the one piece the launcher and the runtime share.
//
// The launcher starts every rank with the environment variables below, and runs a control
// service (a ZeroMQ ROUTER on PARRUN_RENDEZVOUS) that each rank joins with one DEALER socket.
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
/// Optional: seconds a rank waits for the launcher to answer its hello (default 10).
inline constexpr const char* env_connect_timeout = "PARRUN_CONNECT_TIMEOUT";
/// Optional: which lane carries data between ranks on one host: `auto` (default: shared
/// memory), `shm` (shared memory, and every rank must be on this host), `zmq` (ZeroMQ for all).
inline constexpr const char* env_transport = "PARRUN_TRANSPORT";

/// The files rank `rank` may create in PARRUN_SOCKET_DIR (the launcher removes them however the
/// job ends): its ZeroMQ data socket and its shared-memory listener.
inline std::string zmq_socket_path(const std::string& dir, int rank) { return dir + "/" + std::to_string(rank); }
inline std::string shm_socket_path(const std::string& dir, int rank) { return dir + "/" + std::to_string(rank) + ".shm"; }

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

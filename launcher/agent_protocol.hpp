#pragma once
// What the launcher and a host's agent (`parrun --agent`, agent.hpp) say to each other. The
// agent is the parrun binary itself, started once per remote host by a launch backend
// (backends.hpp: ssh, srun or any command); it connects back to the launcher's control service
// (the same CURVE-protected TCP socket the ranks join, rendezvous.hpp) with a DEALER socket. So
// this protocol is the launcher's own: the runtime never sees it. Messages are encoded like the
// wire contract's (a kind byte, then a Cereal body, decoded without trusting any length), with
// kind bytes from 100 up so that one socket can carry both.
//
//   agent                                   launcher
//   (bootstrap on stdin, or PARRUN_AGENT_BOOTSTRAP)
//   agent_hello{secret,host_index,host,pid}  ->
//                                           <- agent_start{program,argv,env,ranks,...}
//   agent_events{started|output|exited|...}  ->   (batched: one message per wake-up)
//                                           <- agent_signal{signo} (terminate, kill, ...)
//                                           <- agent_stdin{bytes,eof} (for rank 0)
//   heartbeat{}                             <-> heartbeat{}   (every heartbeat_ms, both ways)
//
// Either side that hears nothing for lost_after_ms takes the other for gone: the launcher
// reports the host lost and ends the job; the agent kills its ranks and exits. So a host that
// dies or a link that is cut ends the job in bounded time, and leaves no rank behind.
#include <cstdint>
#include <string>
#include <vector>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <parrun/wire.hpp>

namespace parrun::launcher::agent_wire {

inline constexpr std::uint32_t version = 1;
/// The variable that carries the bootstrap when stdin cannot (srun starts every agent with the
/// same environment, which only the job's user can read).
inline constexpr const char* env_bootstrap = "PARRUN_AGENT_BOOTSTRAP";

enum class kind : std::uint8_t {
  agent_hello = 100,
  agent_start,
  agent_events,
  agent_signal,
  agent_stdin,
  heartbeat,
};

inline bool is_agent_kind(std::uint8_t k) { return k >= static_cast<std::uint8_t>(kind::agent_hello); }

/// What an agent needs before it can reach the launcher. Never on a command line.
struct bootstrap {
  std::uint32_t version = agent_wire::version;
  std::string rendezvous;  ///< tcp://ADDRESS:PORT of the launcher's control service
  std::string secret;
  std::string curve_public;
  std::string curve_secret;
  std::int32_t host_index = -1;  ///< -1: this host's SLURM_NODEID (one srun step for all hosts)
  std::uint32_t heartbeat_ms = 1000;
  std::uint32_t lost_after_ms = 10000;
  template <class A> void serialize(A& a) {
    a(version, rendezvous, secret, curve_public, curve_secret, host_index, heartbeat_ms, lost_after_ms);
  }
};

struct agent_hello {
  std::uint32_t version = agent_wire::version;
  std::string secret;
  std::int32_t host_index = -1;
  std::string host;  ///< its host name
  std::int64_t pid = 0;
  std::string parrun_version;
  template <class A> void serialize(A& a) { a(version, secret, host_index, host, pid, parrun_version); }
};

struct agent_start {
  std::string program;                ///< absolute path, the same on every host
  std::vector<std::string> argv;      ///< argv[0] first
  std::vector<std::string> env;       ///< NAME=VALUE, applied over the agent's environment
  std::vector<std::int32_t> ranks;    ///< the ranks this host runs, in local-rank order
  std::int32_t size = 0;
  std::string job_id;
  std::string iface;
  std::string ports;
  bool rank0_stdin = false;           ///< rank 0 is here and reads the launcher's stdin
  std::int32_t host_index = 0;        ///< which host of the job this is
  std::string cwd;                    ///< the launcher's working directory: the ranks start there too
  template <class A> void serialize(A& a) { a(program, argv, env, ranks, size, job_id, iface, ports, rank0_stdin, host_index, cwd); }
};

enum class event_kind : std::uint8_t {
  started = 1,     ///< rank, pid
  output,          ///< rank, stream (1 stdout, 2 stderr), text: one whole line
  exited,          ///< rank, status (a waitpid status)
  start_failed,    ///< rank, status (parrun's exit code for it), text: why
  note,            ///< text: a line from the agent itself
};

struct event {
  event_kind what = event_kind::note;
  std::int32_t rank = -1;
  std::int64_t pid = 0;
  std::uint8_t stream = 0;
  std::int32_t status = 0;
  std::string text;
  template <class A> void serialize(A& a) { a(what, rank, pid, stream, status, text); }
};

struct agent_events {
  std::vector<event> events;
  template <class A> void serialize(A& a) { a(events); }
};

struct agent_signal {
  std::int32_t signo = 0;
  template <class A> void serialize(A& a) { a(signo); }
};

struct agent_stdin {
  std::string bytes;
  bool eof = false;
  template <class A> void serialize(A& a) { a(bytes, eof); }
};

template <class Body>
std::string encode(kind k, const Body& body) {
  return wire::encode(static_cast<wire::kind>(k), body);
}

/// The bootstrap as one line of hex digits (what the agent reads from stdin or its variable).
std::string bootstrap_line(const bootstrap& b);
/// Parses bootstrap_line's output; throws std::runtime_error when it is malformed.
bootstrap parse_bootstrap_line(const std::string& line);

}  // namespace parrun::launcher::agent_wire

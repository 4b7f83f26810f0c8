// Writes the fuzz targets' seed corpus: real encodings of real values, made with the code that
// makes them in a job (the codec, wire::encode, the collectives' bundle layout), so that the
// fuzzer starts from inputs that get all the way through. `fuzz_make_seeds DIR` writes
// DIR/<target>/<seed>; tests/fuzz/corpus/ is its output, checked in (regenerate it when a
// format changes: tools/fuzz.sh --seeds).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <parrun/detail/codec.hpp>
#include <parrun/status.hpp>
#include <parrun/wire.hpp>

#include "agent_protocol.hpp"
#include "contexts.hpp"
#include "engine_input.hpp"
#include "fuzz_support.hpp"
#include "fuzz_types.hpp"
#include "transport/shm/ring.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
namespace wire = parrun::wire;
using namespace parrun::fuzz;
using parrun::detail::encode;
using parrun::detail::envelope;
using parrun::detail::owned_bytes;

namespace {

fs::path out_dir;

void write_seed(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = out_dir / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string str(const owned_bytes& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

// --- typed decode --------------------------------------------------------------------------

particle make_particle(int id) {
  particle p;
  std::memset(static_cast<void*>(&p), 0, sizeof p);  // padding too: seeds are reproducible
  p.id = id;
  p.x = 1.5 * id;
  p.y = -2;
  p.z = 0.25;
  p.kind = 'e';
  return p;
}

template <class T>
std::size_t index_in_all() {
  for (std::size_t i = 0; i < all_types_count; ++i)
    if (fingerprint_of_type(i) == parrun::detail::type_of<T>().hash) return i;
  std::fprintf(stderr, "make_seeds: a type is in no list\n");
  std::exit(1);
}

template <class T>
void typed_seed(const std::string& target, const std::string& name, const T& value) {
  const std::size_t i = index_in_all<T>();
  const std::size_t selector = i < raw_types::size ? i : i - raw_types::size;
  write_seed(target, name, std::string(1, static_cast<char>(selector)) + str(encode(value)));
}

void raw_seeds() {
  const std::string t = "decode_raw";
  typed_seed(t, "int", 42);
  typed_seed(t, "double", 3.25);
  typed_seed(t, "uint8", std::uint8_t{7});
  typed_seed(t, "int64", std::int64_t{-5});
  typed_seed(t, "bool", true);
  typed_seed(t, "particle", make_particle(1));
  typed_seed(t, "colour", colour::green);
  typed_seed(t, "array-int-3", std::array<int, 3>{1, 2, 3});
  typed_seed(t, "vector-double", std::vector<double>{1.5, 2.5, -1});
  typed_seed(t, "vector-double-empty", std::vector<double>{});
  typed_seed(t, "vector-int", std::vector<int>{1, 2, 3, 4});
  typed_seed(t, "vector-particle", std::vector<particle>{make_particle(1), make_particle(2)});
  typed_seed(t, "string", std::string("hello, rank 1"));
  typed_seed(t, "u32string", std::u32string(U"h\u00e9llo"));
  typed_seed(t, "vector-array-u16", std::vector<std::array<std::uint16_t, 3>>{{1, 2, 3}, {4, 5, 6}});
}

record make_record() {
  record r;
  r.name = "run 7";
  r.values = {3, 1, 4, 1, 5};
  r.weight = 0.5;
  r.groups = {{"even", {2, 4}}, {"odd", {1, 3, 5}}, {"", {}}};
  return r;
}

void archive_seeds() {
  const std::string t = "decode_cereal";
  typed_seed(t, "vector-string", std::vector<std::string>{"alpha", "", "gamma"});
  typed_seed(t, "map-string-vector-int", std::map<std::string, std::vector<int>>{{"a", {1, 2, 3}}, {"", {}}, {"b", {7}}});
  typed_seed(t, "tuple", std::tuple<int, std::string, double>{3, "three", 3.0});
  typed_seed(t, "optional-string", std::optional<std::string>("here"));
  typed_seed(t, "optional-empty", std::optional<std::string>());
  typed_seed(t, "variant-string", std::variant<int, std::string, std::vector<double>>(std::string("v")));
  typed_seed(t, "variant-vector", std::variant<int, std::string, std::vector<double>>(std::vector<double>{1, 2}));
  typed_seed(t, "record", make_record());
  typed_seed(t, "interval", interval{-1, 1, "unit"});
  typed_seed(t, "set-string", std::set<std::string>{"x", "y", "zz"});
  typed_seed(t, "unordered-map", std::unordered_map<std::string, int>{{"one", 1}});
  typed_seed(t, "list-deque", std::list<std::deque<int>>{{1, 2}, {}, {3}});
  typed_seed(t, "vector-bool", std::vector<bool>{true, false, true});
  typed_seed(t, "pair", std::pair<int, std::string>{5, "five"});
  typed_seed(t, "vector-empty-thing", std::vector<empty_thing>(3));
  typed_seed(t, "unique-ptr", std::make_unique<std::string>("owned"));
  typed_seed(t, "shared-ptr", std::make_shared<std::vector<int>>(std::vector<int>{9, 8}));
  typed_seed(t, "vector-vector-string", std::vector<std::vector<std::string>>{{"a", "b"}, {}, {"c"}});
  typed_seed(t, "map-int-vector-array", std::map<int, std::vector<std::array<double, 8>>>{{1, {{1, 2, 3, 4, 5, 6, 7, 8}}}});
  typed_seed(t, "vector-optional-array", std::vector<std::optional<std::array<double, 64>>>{std::nullopt, std::array<double, 64>{}});
  typed_seed(t, "unordered-set", std::unordered_set<int>{4});
  typed_seed(t, "tuple-optional-variant-enum",
             std::tuple<std::optional<int>, std::variant<std::monostate, std::string>, colour>{5, std::string("s"), colour::blue});
  typed_seed(t, "array-string-3", std::array<std::string, 3>{"p", "q", "r"});
  typed_seed(t, "deque-record", std::deque<record>{make_record(), record{}});
  typed_seed(t, "vector-big-elements",
             std::vector<std::pair<std::string, std::array<double, 512>>>{{"first", {}}, {"", {1, 2}}});
}

// --- control messages ----------------------------------------------------------------------

void control_seeds() {
  const std::string t = "control";
  wire::hello h;
  h.secret = "3f2a9c0d5e6b7a81";
  h.rank = 3;
  h.self = {"node1", "node1/5c1e/4026531992", 4711,
            {{"zmq", "ipc:///tmp/parrun-4711/3"}, {"shm", "/tmp/parrun-4711/3.shm"}}};
  write_seed(t, "hello", wire::encode(wire::kind::hello, h));
  write_seed(t, "welcome", wire::encode(wire::kind::welcome, wire::empty{}));
  write_seed(t, "table", wire::encode(wire::kind::table, wire::table{{{"node1", "a", 10, {{"zmq", "ipc:///tmp/p/0"}, {"shm", "/tmp/p/0.shm"}}},
                                                                             {"node1", "a", 11, {{"zmq", "ipc:///tmp/p/1"}}},
                                                                             {"node2", "b", 12, {{"zmq", "tcp://10.0.0.2:5555"}}}}}));
  write_seed(t, "failing", wire::encode(wire::kind::failing, wire::failing{wire::failure_kind::uncaught_exception, 1, "std::runtime_error: no input"}));
  write_seed(t, "ack", wire::encode(wire::kind::ack, wire::empty{}));
  write_seed(t, "query", wire::encode(wire::kind::query, wire::empty{}));
  write_seed(t, "state", wire::encode(wire::kind::state, wire::state{"recv(source=0, tag=7)", 30.5}));
  write_seed(t, "peer-lost", wire::encode(wire::kind::peer_lost, wire::peer_lost{2, "was killed by signal 9 (Killed)"}));
  write_seed(t, "finalize", wire::encode(wire::kind::finalize, wire::finalize{{0, 3, 1}, {2, 0, 5}, {1, 0, 5}}));
  write_seed(t, "finalized", wire::encode(wire::kind::finalized, wire::empty{}));
  write_seed(t, "peers-finished", wire::encode(wire::kind::peers_finished, wire::peers_finished{{{1, 3, 2, 1}, {2, 0, 0, 0}}}));
  write_seed(t, "refused", wire::encode(wire::kind::refused, wire::refused{"wrong job secret"}));
}

// --- the launcher <-> agent protocol ------------------------------------------------------------

void agent_seeds() {
  namespace aw = parrun::launcher::agent_wire;
  const std::string t = "agent";
  write_seed(t, "hello", aw::encode(aw::kind::agent_hello, aw::agent_hello{aw::version, "3f2a9c0d5e6b7a81", 2, "h2", 811, "0.1.0"}));
  aw::agent_start start;
  start.program = "/opt/app/prog";
  start.argv = {"prog", "--size", "10"};
  start.env = {"PARRUN_TRANSPORT=auto", "OMP_NUM_THREADS=1"};
  start.ranks = {4, 5};
  start.size = 6;
  start.job_id = "0b1d5e6f";
  start.ports = "40000-40100";
  start.host_index = 2;
  start.cwd = "/home/me/run";
  write_seed(t, "start", aw::encode(aw::kind::agent_start, start));
  aw::agent_events events;
  events.events = {{aw::event_kind::started, 4, 900, 0, 0, ""}, {aw::event_kind::output, 4, 0, 1, 0, "hello from rank 4"},
                   {aw::event_kind::exited, 4, 900, 0, 768, ""}, {aw::event_kind::note, -1, 0, 0, 0, "ok"}};
  write_seed(t, "events", aw::encode(aw::kind::agent_events, events));
  write_seed(t, "signal", aw::encode(aw::kind::agent_signal, aw::agent_signal{15}));
  write_seed(t, "stdin", aw::encode(aw::kind::agent_stdin, aw::agent_stdin{"line one\n", true}));
  aw::bootstrap b;
  b.rendezvous = "tcp://10.77.0.1:47100";
  b.secret = "3f2a9c0d5e6b7a81";
  b.curve_public = std::string(40, 'a');
  b.curve_secret = std::string(40, 'b');
  b.host_index = 1;
  write_seed(t, "bootstrap", aw::bootstrap_line(b));
}

// --- envelopes -----------------------------------------------------------------------------

void envelope_seeds() {
  using parrun::detail::engine_context;
  using parrun::detail::fin_tag;
  const std::string t = "envelope";
  auto seed = [&](const std::string& name, const envelope& env, std::uint16_t world, std::uint16_t me,
                  const std::vector<std::uint16_t>& members) {
    writer w;
    w.put(env);
    w.put(static_cast<std::uint16_t>(world - 1));
    w.put(me);
    w.byte(static_cast<std::uint8_t>(members.size()));
    for (std::uint16_t m : members) w.put(m);
    write_seed(t, name, w.out);
  };
  const std::uint64_t int_type = parrun::detail::type_of<int>().hash;
  seed("user", envelope{0, int_type, 7, 0, 0, 0}, 4, 1, {0, 1, 2, 3});
  seed("collective", envelope{1, int_type, 1, 2, 2, 2}, 4, 1, {0, 1, 2, 3});
  seed("channel", envelope{64 + 2, int_type, 3, 1, 1, 2}, 4, 0, {3, 2, 1});
  seed("engine-fin", envelope{engine_context, 0, fin_tag, 0, 0, 3}, 4, 1, {});
}

// --- the engine ----------------------------------------------------------------------------

namespace in = engine_input;

struct engine_seed {
  writer w;
  engine_seed(int p, int me, std::uint8_t plan, std::uint8_t channel, std::uint8_t type, int root) {
    w.byte(static_cast<std::uint8_t>(p - 2));
    w.byte(static_cast<std::uint8_t>(me));
    w.byte(plan);
    w.byte(channel);
    w.byte(type);
    w.byte(static_cast<std::uint8_t>(root));
  }
  void shaped(in::context_choice ctx, int tag, int source, std::uint16_t flags, std::uint8_t type,
              const std::string& body) {
    w.byte(static_cast<std::uint8_t>(in::record::shaped_frame));
    w.byte(static_cast<std::uint8_t>(ctx));
    w.byte(static_cast<std::uint8_t>(tag + 2));
    w.byte(static_cast<std::uint8_t>(source));
    w.put(flags);
    w.byte(type);
    w.put(static_cast<std::uint16_t>(body.size()));
    w.bytes(body.data(), body.size());
  }
  void raw(const envelope& env, const std::string& body) {
    w.byte(static_cast<std::uint8_t>(in::record::raw_frame));
    w.put(env);
    w.put(static_cast<std::uint16_t>(body.size()));
    w.bytes(body.data(), body.size());
  }
  void control(const std::string& message) {
    w.byte(static_cast<std::uint8_t>(in::record::control));
    w.put(static_cast<std::uint16_t>(message.size()));
    w.bytes(message.data(), message.size());
  }
  void poll() { w.byte(static_cast<std::uint8_t>(in::record::poll)); }
};

template <class T>
std::uint8_t type_byte() {
  return static_cast<std::uint8_t>(index_in_all<T>() + 1);
}

// The collective value types of fuzz_engine, by header byte [4] % collective_types.
constexpr std::uint8_t coll_int = 0;

std::uint8_t plan_of(in::collective_op op, std::uint8_t bits = 0) {
  return static_cast<std::uint8_t>(static_cast<unsigned>(op) << 4 | bits);
}

// A collective frame of the first collective call (tag 1), of `op` and `variant`.
std::uint16_t coll_flags(in::collective_op op, unsigned variant = 0) {
  return static_cast<std::uint16_t>(static_cast<unsigned>(op) | variant << 8);
}

std::string bundle(const std::vector<std::string>& records) {
  std::string out;
  for (const std::string& r : records) {
    const std::uint64_t n = r.size();
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    out += r;
  }
  return out;
}

void engine_seeds() {
  const std::string t = "engine";
  const auto C = in::context_choice::world_collective;
  const std::string seven = str(encode(7)), five = str(encode(5));
  {
    engine_seed s(2, 1, 0, 0, 0, 0);
    s.shaped(in::context_choice::world_user, 7, 0, 0, type_byte<int>(), seven);
    s.shaped(in::context_choice::world_user, 8, 0, 0, type_byte<std::vector<double>>(), str(encode(std::vector<double>{1, 2})));
    s.shaped(in::context_choice::world_user, 9, 0, 0, type_byte<std::map<std::string, std::vector<int>>>(),
             str(encode(std::map<std::string, std::vector<int>>{{"a", {1}}})));
    s.control(wire::encode(wire::kind::peers_finished, wire::peers_finished{{{0, 3, 0, 0}}}));
    write_seed(t, "user-messages", s.w.out);
  }
  {
    engine_seed s(3, 2, 1 | 2, 0, 0, 0);  // the second communicator before and after
    s.shaped(in::context_choice::second_user, 1, 1, 0, type_byte<std::string>(), str(encode(std::string("hi"))));
    s.raw(envelope{in::second_base, parrun::detail::type_of<int>().hash, 2, 5, 0, 1}, seven);  // no such rank
    s.shaped(in::context_choice::engine, -1, 0, 0, 0, "");  // FIN
    s.control(wire::encode(wire::kind::peer_lost, wire::peer_lost{1, "killed"}));
    s.control(wire::encode(wire::kind::query, wire::empty{}));
    write_seed(t, "second-communicator", s.w.out);
  }
  {
    engine_seed s(4, 1, plan_of(in::collective_op::broadcast), 0, coll_int, 0);
    s.shaped(C, 1, 0, coll_flags(in::collective_op::broadcast), type_byte<int>(), seven);
    write_seed(t, "broadcast", s.w.out);
  }
  {
    engine_seed s(3, 1, plan_of(in::collective_op::broadcast), 0, 1, 0);  // the large-message algorithm
    const std::uint64_t n = 24;
    s.shaped(C, 1, 0, coll_flags(in::collective_op::broadcast, 1), type_byte<std::vector<double>>(),
             std::string(reinterpret_cast<const char*>(&n), sizeof n));
    s.shaped(C, 1, 0, coll_flags(in::collective_op::broadcast, 1), type_byte<std::vector<double>>(),
             str(encode(std::vector<double>{1})));
    write_seed(t, "broadcast-large", s.w.out);
  }
  {
    engine_seed s(4, 0, plan_of(in::collective_op::gather), 0, coll_int, 0);
    s.shaped(C, 1, 1, coll_flags(in::collective_op::gather), type_byte<int>(), bundle({seven}));
    s.shaped(C, 1, 2, coll_flags(in::collective_op::gather), type_byte<int>(), bundle({seven, five}));
    write_seed(t, "gather", s.w.out);
  }
  {
    engine_seed s(2, 0, plan_of(in::collective_op::allgather), 0, coll_int, 0);
    s.shaped(C, 1, 1, coll_flags(in::collective_op::allgather), type_byte<int>(), bundle({five}));
    write_seed(t, "allgather", s.w.out);
  }
  {
    engine_seed s(2, 1, plan_of(in::collective_op::scatter), 0, coll_int, 0);
    s.shaped(C, 1, 0, coll_flags(in::collective_op::scatter), type_byte<int>(), bundle({seven}));
    write_seed(t, "scatter", s.w.out);
  }
  {
    engine_seed s(3, 0, plan_of(in::collective_op::alltoall), 0, 2, 0);
    const std::string abc = str(encode(std::string("abc")));
    s.shaped(C, 1, 2, coll_flags(in::collective_op::alltoall), type_byte<std::string>(), abc);
    s.shaped(C, 1, 1, coll_flags(in::collective_op::alltoall), type_byte<std::string>(), abc);
    write_seed(t, "alltoall", s.w.out);
  }
  {
    engine_seed s(2, 0, plan_of(in::collective_op::reduce), 0, 1, 0);
    s.shaped(C, 1, 1, coll_flags(in::collective_op::reduce), type_byte<std::vector<double>>(),
             str(encode(std::vector<double>{1, 2, 3})));
    write_seed(t, "reduce", s.w.out);
  }
  {
    engine_seed s(2, 1, plan_of(in::collective_op::allreduce), 0, 3, 0);
    s.shaped(C, 1, 0, coll_flags(in::collective_op::allreduce), type_byte<std::map<std::string, std::vector<int>>>(),
             str(encode(std::map<std::string, std::vector<int>>{{"z", {1}}})));
    write_seed(t, "allreduce", s.w.out);
  }
  {
    engine_seed s(2, 1, plan_of(in::collective_op::scan), 0, 2, 0);
    s.shaped(C, 1, 0, coll_flags(in::collective_op::scan), type_byte<std::string>(), str(encode(std::string("x"))));
    write_seed(t, "scan", s.w.out);
  }
  {
    engine_seed s(2, 0, plan_of(in::collective_op::barrier), 0, 0, 0);
    s.shaped(C, 1, 1, coll_flags(in::collective_op::barrier), 0, "");
    write_seed(t, "barrier", s.w.out);
  }
  {
    // A channel from rank 0, id 1, capacity 1, of std::vector<double> (type byte 8 in fuzz_types).
    const std::uint8_t vec = static_cast<std::uint8_t>(index_in_all<std::vector<double>>());
    engine_seed s(2, 1, 0, static_cast<std::uint8_t>(0x80 | 1 << 5 | 0 << 2 | 1), vec, 0);
    const auto W = in::context_choice::world_channel;
    s.shaped(W, 1, 0, 1 /* data */, type_byte<std::vector<double>>(), str(encode(std::vector<double>{4, 2})));
    s.shaped(W, 1, 0, 2 /* ack */, 0, "");
    s.shaped(W, 1, 0, 4 /* close */, 0, "");
    write_seed(t, "channel", s.w.out);
  }
}

// --- the command line ----------------------------------------------------------------------

void option_seeds() {
  const std::string t = "options";
  auto seed = [&](const std::string& name, const std::vector<std::string>& words) {
    std::string out;
    for (std::size_t i = 0; i < words.size(); ++i) out += (i == 0 ? "" : std::string(1, '\0')) + words[i];
    write_seed(t, name, out);
  };
  seed("np-program", {"-n", "4", "./prog", "a", "b"});
  seed("all-options", {"--np=8", "--tag-output", "--timeout", "2.5", "-x", "OMP_NUM_THREADS", "-x", "A=1",
                       "--continue-on-failure", "--", "prog", "-n", "3"});
  seed("short-forms", {"-n7", "-xHOME", "prog"});
  seed("help", {"--help"});
  seed("version", {"--version"});
  seed("bad-np", {"-n", "0x10", "prog"});
  seed("timeout-inf", {"-n", "2", "--timeout", "inf", "prog"});
  seed("empty-program", {"-n", "1", ""});
}

// --- shared-memory rings: u32 head, then the ring's data area as the lane's writer fills it -----

void shm_ring_seeds() {
  using namespace parrun::detail;
  const std::string t = "shm_ring";
  auto ring_seed = [&](const std::string& name, auto fill) {
    std::vector<std::byte> seg(shm::header_bytes + 64 * 1024);
    shm::ring_writer w(seg.data(), 64 * 1024);
    fill(w);
    const auto head = static_cast<std::uint32_t>(w.header()->head.load());
    std::string bytes(reinterpret_cast<const char*>(&head), 4);
    bytes.append(reinterpret_cast<const char*>(seg.data()) + shm::header_bytes, head);
    write_seed(t, name, bytes);
  };
  auto frame = [](shm::ring_writer& w, std::uint64_t total, std::size_t first, std::int32_t tag) {
    envelope env{0, 0x1234, tag, 0, 0, 0};
    std::byte* at = w.reserve(sizeof env + 8 + first);
    std::memcpy(at, &env, sizeof env);
    std::memcpy(at + sizeof env, &total, 8);
    std::memset(at + sizeof env + 8, 'x', first);
    w.commit(sizeof env + 8 + first, shm::record_kind::frame);
  };
  auto chunk = [](shm::ring_writer& w, std::size_t n) {
    std::memset(w.reserve(n), 'y', n);
    w.commit(n, shm::record_kind::chunk);
  };
  ring_seed("one-small-frame", [&](shm::ring_writer& w) { frame(w, 16, 16, 7); });
  ring_seed("frames-then-empty", [&](shm::ring_writer& w) {
    for (int i = 0; i < 5; ++i) frame(w, static_cast<std::uint64_t>(i) * 10, static_cast<std::size_t>(i) * 10, i);
    frame(w, 0, 0, 9);
  });
  ring_seed("pipelined", [&](shm::ring_writer& w) {
    frame(w, 3000, 1000, 1);
    chunk(w, 1000);
    chunk(w, 1000);
  });
  ring_seed("direct-to-nowhere", [&](shm::ring_writer& w) {
    envelope env{0, 0x1234, 3, 0, 0, 0};
    const std::uint64_t total = 1 << 20;
    const std::uint64_t address = 0x1000;
    std::byte* at = w.reserve(sizeof env + 16);
    std::memcpy(at, &env, sizeof env);
    std::memcpy(at + sizeof env, &total, 8);
    std::memcpy(at + sizeof env + 8, &address, 8);
    w.commit(sizeof env + 16, shm::record_kind::direct);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR (writes DIR/<target>/<seed>)\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  raw_seeds();
  archive_seeds();
  control_seeds();
  agent_seeds();
  envelope_seeds();
  engine_seeds();
  option_seeds();
  shm_ring_seeds();
  return 0;
}

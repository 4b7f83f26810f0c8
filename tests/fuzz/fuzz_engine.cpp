// The engine as a peer sees it: frames (envelope + payload) and launcher control messages from
// the fuzz input go through a fake transport into a real parrun::detail::engine with real
// communicators (as in tests/unit/test_wire_checks.cpp), then everything that reached the
// matcher is received the way the program would: typed point-to-point receives, a channel's
// receiving end, and one collective call, whose results are decoded typed. Input layout:
// engine_input.hpp.
//
// Debugging: PARRUN_FUZZ_VERBOSE=1 says how far each step got; PARRUN_FUZZ_ENGINE_SKIP=gather,...
// leaves collectives out (to look past an unfixed finding).
//
// Before the receives, every peer is reported lost, so that a receive nothing can satisfy
// fails with peer_lost instead of waiting forever. parrun's errors (parrun::error and its
// kinds) are the answers to bad frames; a crash, a sanitizer report, another exception, an
// allocation beyond -malloc_limit_mb or a hang is a bug.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <typeinfo>
#include <variant>
#include <vector>

#include <parrun/detail/codec.hpp>
#include <parrun/detail/collectives.hpp>
#include <parrun/detail/reducer.hpp>
#include <parrun/errors.hpp>
#include <parrun/status.hpp>
#include <parrun/wire.hpp>

#include "channels/channel_impl.hpp"
#include "comm_impl.hpp"
#include "contexts.hpp"
#include "engine.hpp"
#include "engine_input.hpp"
#include "fuzz_support.hpp"
#include "fuzz_types.hpp"
#include "request_state.hpp"

namespace {

using namespace parrun::detail;
namespace input = parrun::fuzz::engine_input;
using parrun::fuzz::bug;

constexpr const char* target = "engine";

// Delivers what the input queued, in order, on each progress().
class fake_transport final : public transport {
 public:
  std::deque<std::variant<frame, std::string>> incoming;
  std::uint64_t posted = 0;

  std::uint64_t post(int, const envelope&, owned_bytes&&) override { return ++posted; }
  bool taken(int, std::uint64_t) const override { return true; }
  std::size_t progress(std::chrono::milliseconds, frame_sink& sink) override {
    std::size_t n = 0;
    for (; !incoming.empty(); ++n) {
      auto next = std::move(incoming.front());
      incoming.pop_front();
      if (auto* f = std::get_if<frame>(&next)) sink.on_frame(std::move(*f));
      else sink.on_control(std::move(std::get<std::string>(next)));
    }
    return n;
  }
  void close() noexcept override {}
};

// A payload in a buffer of exactly its size (as a ZeroMQ message is), so that reading past
// its end is caught; an empty one is a real (zero-byte) allocation too.
payload payload_of(std::span<const std::byte> bytes) {
  auto* data = static_cast<std::byte*>(std::malloc(bytes.size()));
  if (data == nullptr) throw std::bad_alloc();
  if (!bytes.empty()) std::memcpy(data, bytes.data(), bytes.size());
  return payload::adopt(owned_bytes(data, bytes.size(), &owned_bytes::free_malloced, nullptr));
}

// The type_id of the index-th fuzzed type (fuzz_types.hpp), for detail::accept.
template <class... T>
const type_id* type_id_in(parrun::fuzz::type_list<T...>, std::size_t index) {
  const type_id* id = nullptr;
  std::size_t i = 0;
  ((i++ == index ? (id = &type_of<T>(), 0) : 0), ...);
  return id;
}

const type_id* type_of_index(std::size_t index) {
  using namespace parrun::fuzz;
  return index < raw_types::size ? type_id_in(raw_types{}, index)
                                 : type_id_in(archive_types{}, index - raw_types::size);
}

// --- receiving what arrived ----------------------------------------------------------------

// Takes every frame of `context` from the matcher as recv would: with the type its fingerprint
// names (through detail::accept, recv's own check), or, for a fingerprint of no known type, as
// a type chosen by it (the program may well expect one).
void receive_all(comm_impl& c, std::uint64_t context) {
  matcher& m = c.eng().matching();
  while (std::optional<frame> f = m.take({context, parrun::any_source, parrun::any_tag})) {
    const std::size_t index = parrun::fuzz::type_index_of(f->env.type);
    if (index < parrun::fuzz::all_types_count) {
      const int source = f->env.source, tag = f->env.tag;
      received r = accept(c, std::move(*f), *type_of_index(index), "recv", source, tag);
      parrun::fuzz::check_decode_type(index, target, r.body.data(), r.body.size());
    } else {
      parrun::fuzz::check_decode_type(f->env.type % parrun::fuzz::all_types_count, target,
                                      f->body.data(), f->body.size());
    }
  }
}

// --- the collective ------------------------------------------------------------------------

template <class T>
T sample() {
  if constexpr (std::is_same_v<T, int>) return 7;
  else if constexpr (std::is_same_v<T, std::vector<double>>) return {1.5, -2, 3};
  else if constexpr (std::is_same_v<T, std::string>) return "abc";
  else return {{"k", {1, 2}}, {"", {}}};
}

struct map_merge {
  std::map<std::string, std::vector<int>> operator()(std::map<std::string, std::vector<int>> a,
                                                     const std::map<std::string, std::vector<int>>& b) const {
    a.insert(b.begin(), b.end());
    return a;
  }
};

template <class T>
auto reducer_for() {
  if constexpr (std::is_same_v<T, std::map<std::string, std::vector<int>>>) return typed_reducer<T, map_merge>(map_merge{});
  else return typed_reducer<T, std::plus<>>(std::plus<>{});
}

template <class T>
void decode_result(const std::byte* data, std::size_t size) {
  parrun::fuzz::check_decode<T>(target, data, size);
}

template <class T>
void run_collective(comm_impl& c, input::collective_op op, int root) {
  const type_id& type = type_of<T>();
  const int p = c.size();
  auto parts = [&] {
    std::vector<owned_bytes> out;
    for (int q = 0; q < p; ++q) out.push_back(encode(sample<T>()));
    return out;
  };
  const auto r = reducer_for<T>();
  switch (op) {
    case input::collective_op::none:
      return;
    case input::collective_op::barrier:
      coll::barrier(c);
      return;
    case input::collective_op::broadcast: {
      const payload got = coll::broadcast(c, root, c.rank() == root ? encode(sample<T>()) : owned_bytes{}, type);
      decode_result<T>(got.data(), got.size());
      return;
    }
    case input::collective_op::gather:
      for (const payload& got : coll::gather(c, root, encode(sample<T>()), type)) decode_result<T>(got.data(), got.size());
      return;
    case input::collective_op::allgather:
      for (const payload& got : coll::allgather(c, encode(sample<T>()), type)) decode_result<T>(got.data(), got.size());
      return;
    case input::collective_op::scatter: {
      const payload got = coll::scatter(c, root, c.rank() == root ? parts() : std::vector<owned_bytes>{}, type);
      decode_result<T>(got.data(), got.size());
      return;
    }
    case input::collective_op::alltoall:
      for (const payload& got : coll::alltoall(c, parts(), type)) decode_result<T>(got.data(), got.size());
      return;
    case input::collective_op::reduce: {
      const owned_bytes got = coll::reduce(c, root, encode(sample<T>()), r, type);
      if (c.rank() == root) decode_result<T>(got.data(), got.size());
      return;
    }
    case input::collective_op::allreduce: {
      const owned_bytes got = coll::allreduce(c, encode(sample<T>()), r, type);
      decode_result<T>(got.data(), got.size());
      return;
    }
    case input::collective_op::scan:
    case input::collective_op::exscan: {
      bool has_value = false;
      const owned_bytes got = coll::scan(c, encode(sample<T>()), r, type, op == input::collective_op::exscan, has_value);
      if (has_value) decode_result<T>(got.data(), got.size());
      return;
    }
  }
}

const char* const collective_names[] = {"none", "barrier", "broadcast", "gather", "allgather", "scatter",
                                         "alltoall", "reduce", "allreduce", "scan", "exscan"};

// PARRUN_FUZZ_ENGINE_SKIP=broadcast,gather: collectives not to run, so that the fuzzer can look
// past a finding that is not fixed yet.
bool skipped(input::collective_op op) {
  static const std::string skip = [] {
    const char* s = std::getenv("PARRUN_FUZZ_ENGINE_SKIP");
    return "," + std::string(s != nullptr ? s : "") + ",";
  }();
  return skip.find("," + std::string(collective_names[static_cast<int>(op)]) + ",") != std::string::npos;
}

void run_collective(comm_impl& c, input::collective_op op, int root, std::uint8_t type) {
  if (skipped(op)) return;
  switch (type % input::collective_types) {
    case 0: return run_collective<int>(c, op, root);
    case 1: return run_collective<std::vector<double>>(c, op, root);
    case 2: return run_collective<std::string>(c, op, root);
    default: return run_collective<std::map<std::string, std::vector<int>>>(c, op, root);
  }
}

// Runs `step`; parrun's errors are expected answers, everything else is a bug. With
// PARRUN_FUZZ_VERBOSE set, says which error each step ended with (to see how far a seed gets).
template <class F>
void expecting_parrun_errors(const char* what, F&& step) {
  static const bool verbose = std::getenv("PARRUN_FUZZ_VERBOSE") != nullptr;
  try {
    step();
    if (verbose) std::fprintf(stderr, "fuzz engine: %s: done\n", what);
  } catch (const parrun::error& e) {
    if (verbose) std::fprintf(stderr, "fuzz engine: %s: %s\n", what, e.what());
  } catch (const std::exception& e) {
    bug(target, std::string(what) + " threw " + typeid(e).name() + ": " + e.what());
  } catch (...) {
    bug(target, std::string(what) + " threw something that is not a std::exception");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  parrun::fuzz::reader in(data, size);
  const int p = 2 + in.byte() % 4;
  const int me = in.byte() % p;
  const std::uint8_t plan = in.byte();
  const std::uint8_t channel_plan = in.byte();
  const std::uint8_t value_type = in.byte();
  const int root = in.byte() % p;

  job_info info;
  info.size = p;
  info.rank = me;
  info.spin_us = 0;
  for (int r = 0; r < p; ++r) info.hosts.push_back("host" + std::to_string(r));
  auto owned_link = std::make_unique<fake_transport>();
  fake_transport& link = *owned_link;
  auto eng = std::make_shared<engine>(info, std::move(owned_link));

  std::vector<int> world_ranks, reversed;
  for (int r = 0; r < p; ++r) world_ranks.push_back(r);
  reversed.assign(world_ranks.rbegin(), world_ranks.rend());
  auto world = std::make_shared<comm_impl>(eng, 0, me, world_ranks);
  std::unique_ptr<comm_impl> second;
  auto make_second = [&] { second = std::make_unique<comm_impl>(eng, input::second_base, p - 1 - me, reversed); };
  if (plan & 1) make_second();

  expecting_parrun_errors("taking in frames", [&] {
    while (!in.empty()) {
      switch (static_cast<input::record>(in.byte() % 4)) {
        case input::record::raw_frame: {
          const auto env = in.take<envelope>();
          const auto body = in.bytes(in.take<std::uint16_t>());
          link.incoming.emplace_back(frame{env, payload_of(body)});
          break;
        }
        case input::record::shaped_frame: {
          const auto ctx = static_cast<input::context_choice>(in.byte() % 6);
          const std::int32_t tag = static_cast<std::int32_t>(in.byte()) - 2;
          const std::uint8_t source = in.byte();
          const auto flags = in.take<std::uint16_t>();
          const std::uint8_t type = in.byte();
          const auto body = in.bytes(in.take<std::uint16_t>());
          envelope env{};
          const bool in_second = ctx == input::context_choice::second_user ||
                                 ctx == input::context_choice::second_collective;
          const std::vector<int>& members = in_second ? reversed : world_ranks;
          switch (ctx) {
            case input::context_choice::world_user: env.context = 0; break;
            case input::context_choice::world_collective: env.context = 1; break;
            case input::context_choice::world_channel: env.context = 2; break;
            case input::context_choice::second_user: env.context = input::second_base; break;
            case input::context_choice::second_collective: env.context = input::second_base + 1; break;
            default: env.context = engine_context; break;
          }
          env.tag = tag;
          env.source = source & 0x7f;
          env.flags = flags;
          env.type = type == 0 ? 0 : parrun::fuzz::fingerprint_of_type((type - 1u) % parrun::fuzz::all_types_count);
          env.world_source = (source & 0x80) != 0 || (source & 0x7f) >= p
                                 ? static_cast<std::uint32_t>(source % 8)
                                 : static_cast<std::uint32_t>(members[source & 0x7f]);
          link.incoming.emplace_back(frame{env, payload_of(body)});
          break;
        }
        case input::record::control: {
          const auto body = in.bytes(in.take<std::uint16_t>());
          link.incoming.emplace_back(std::string(reinterpret_cast<const char*>(body.data()), body.size()));
          break;
        }
        case input::record::poll:
          eng->poll();
          break;
      }
    }
    eng->poll();
    if ((plan & 2) && !second) make_second();
  });

  // Nothing more will come: every peer is gone.
  for (int r = 0; r < p; ++r)
    if (r != me)
      link.incoming.emplace_back(parrun::wire::encode(parrun::wire::kind::peer_lost,
                                                      parrun::wire::peer_lost{r, "the fuzz input ended"}));
  expecting_parrun_errors("poll", [&] { eng->poll(); });

  expecting_parrun_errors("recv", [&] {
    receive_all(*world, world->context(space::user));
    if (second) receive_all(*second, second->context(space::user));
  });

  if (channel_plan & 0x80) {
    expecting_parrun_errors("channel", [&] {
      const int capacity = channel_plan & 3;
      const int peer = ((channel_plan >> 2) & 7) >= p ? parrun::any_source : (channel_plan >> 2) & 7;
      const int id = (channel_plan >> 5) & 3;
      const std::size_t type = value_type % parrun::fuzz::all_types_count;
      channel_impl ch(world, peer, id, capacity, *type_of_index(type));
      ch.poll();
      for (int i = 0; i < 64 && ch.has_value(); ++i) {
        std::optional<received> r = ch.try_take();
        if (!r) break;
        parrun::fuzz::check_decode_type(type, target, r->body.data(), r->body.size());
      }
      (void)ch.drained_and_closed();
    });
  }

  expecting_parrun_errors("collective", [&] {
    run_collective(*world, static_cast<input::collective_op>((plan >> 4) % 11), root, value_type);
  });
  expecting_parrun_errors("finalize", [&] { eng->finalize(); });
  return 0;
}

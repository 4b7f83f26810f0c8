#pragma once
// The rank pool: Python's Pool.map and as_completed, across ranks. Collective: every rank of
// the communicator calls it; the inputs are significant at the root, which hands out chunks of
// consecutive inputs on demand (one chunk per worker at a time, so a slow input never holds up
// others queued behind it) and, unless told not to, computes too, one input at a time, serving
// the workers between inputs. Results come back to the root in input order (pool_map) or as
// they arrive (pool_for_each_unordered).
//
// Failures never hang: an exception thrown by fn on any rank ends the call on every rank with
// parrun::task_error naming that rank and the input index; a worker that dies ends it with
// parrun::peer_lost (observable when the job runs with --continue-on-failure; otherwise the
// launcher ends the whole job).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <parrun/communicator.hpp>

namespace parrun {

/// Options of pool_map and pool_for_each_unordered.
struct pool_options {
  /// Inputs per chunk; 0 picks ceil(n / (4 * ranks)) as Python's Pool.map does: few messages
  /// for many small inputs, yet four chunks per rank to balance uneven ones. Use 1 when single
  /// inputs are slow and uneven.
  std::size_t chunksize = 0;
  /// The rank that holds the inputs and gets the results.
  int root = 0;
  /// Whether the root computes too (it always does when it is the only rank).
  bool root_works = true;
};

namespace detail {

enum pool_tag : int { pool_task = 1, pool_result = 2, pool_stop = 3 };

/// Why a pool ended, sent to every worker so that all ranks leave the call the same way.
struct pool_stop_message {
  int outcome = 0;  // 0 done, 1 a task failed, 2 a rank was lost
  int rank = -1;
  std::uint64_t index = 0;
  std::string what;
  template <class A>
  void serialize(A& a) {
    a(outcome, rank, index, what);
  }
};

template <class R>
struct pool_result_message {
  std::uint64_t first = 0;
  std::vector<R> values;
  bool failed = false;
  std::uint64_t failed_index = 0;
  std::string what;
  template <class A>
  void serialize(A& a) {
    a(first, values, failed, failed_index, what);
  }
};

inline std::string describe_exception(const std::exception& e) {
  return type_name(type_id{0, typeid(e).name()}) + ": " + e.what();
}

inline std::string task_failure(int rank, std::uint64_t index, const std::string& what) {
  return "pool: the task for input " + std::to_string(index) + " failed on rank " + std::to_string(rank) +
         ": " + what;
}

template <class In, class Fn, class R>
void pool_worker(const communicator& pool, int root, Fn& fn) {
  for (;;) {
    const status st = pool.probe(root, any_tag);
    if (st.tag() == pool_stop) {
      const auto stop = pool.recv<pool_stop_message>(root, pool_stop);
      if (stop.outcome == 1) throw task_error(task_failure(stop.rank, stop.index, stop.what), stop.rank, stop.index);
      if (stop.outcome == 2) throw peer_lost("pool: " + stop.what, stop.rank);
      return;
    }
    auto [first, items] = pool.recv<std::pair<std::uint64_t, std::vector<In>>>(root, pool_task);
    pool_result_message<R> out;
    out.first = first;
    out.values.reserve(items.size());
    try {
      for (const In& item : items) out.values.push_back(fn(item));
    } catch (const std::exception& e) {
      out.failed = true;
      out.failed_index = first + out.values.size();
      out.what = describe_exception(e);
    }
    pool.send(root, pool_result, std::move(out));
  }
}

/// The root's side: hands out chunks, computes, and gives every result to deliver(index, R&&).
template <class In, class Fn, class R, class Deliver>
void pool_root(const communicator& pool, const std::vector<In>& inputs, Fn& fn, const pool_options& opt,
               Deliver&& deliver) {
  const int p = pool.size(), me = pool.rank();
  const std::size_t n = inputs.size();
  const std::size_t chunk = opt.chunksize > 0 ? opt.chunksize : std::max<std::size_t>(1, (n + 4 * static_cast<std::size_t>(p) - 1) / (4 * static_cast<std::size_t>(p)));
  std::size_t next = 0, done = 0, busy = 0;  // next input to hand out; results in; chunks out
  std::vector<char> working(static_cast<std::size_t>(p), 0);  // has a chunk out (one at most)

  auto stop_all = [&](const pool_stop_message& why) {
    for (int r = 0; r < p; ++r)
      if (r != me) pool.send(r, pool_stop, why);
  };
  auto hand_out = [&](int worker) {
    if (next >= n) return false;
    const std::size_t len = std::min(chunk, n - next);
    pool.send(worker, pool_task, std::pair<std::uint64_t, std::vector<In>>(
                                     next, std::vector<In>(inputs.begin() + static_cast<std::ptrdiff_t>(next),
                                                           inputs.begin() + static_cast<std::ptrdiff_t>(next + len))));
    next += len;
    ++busy;
    working[static_cast<std::size_t>(worker)] = 1;
    return true;
  };
  auto fail = [&](int rank, std::uint64_t index, const std::string& what) {
    stop_all({1, rank, index, what});
    // Take the results still on their way, so that nothing is left unreceived.
    for (; busy > 0; --busy) pool.recv<pool_result_message<R>>(any_source, pool_result);
    throw task_error(task_failure(rank, index, what), rank, index);
  };
  auto take_result = [&](int source) {
    auto result = pool.recv<pool_result_message<R>>(source, pool_result);
    --busy;
    working[static_cast<std::size_t>(source)] = 0;
    for (std::size_t i = 0; i < result.values.size(); ++i) deliver(result.first + i, std::move(result.values[i]));
    done += result.values.size();
    if (result.failed) fail(source, result.failed_index, result.what);
    hand_out(source);
  };

  try {
    for (int r = 0; r < p; ++r)
      if (r != me) hand_out(r);
    // The root's own chunk, computed one input at a time, serving the workers in between:
    // at most every 100 us, so that polling costs little next to small inputs while a worker
    // that finished waits for its next chunk no longer than one input.
    std::size_t mine = 0, mine_end = 0;
    const bool root_works = opt.root_works || p == 1;
    auto served = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    while (done < n) {
      if (p > 1 && std::chrono::steady_clock::now() - served > std::chrono::microseconds(100)) {
        while (const auto st = pool.iprobe(any_source, pool_result)) take_result(st->source());
        served = std::chrono::steady_clock::now();
      }
      if (root_works && mine == mine_end && next < n) {
        mine = next;
        mine_end = next = std::min(n, next + chunk);
      }
      if (mine < mine_end) {
        std::optional<R> value;
        try {
          value.emplace(fn(inputs[mine]));
        } catch (const std::exception& e) {
          fail(me, mine, describe_exception(e));
        }
        deliver(mine++, std::move(*value));
        ++done;
      } else if (busy > 0) {
        take_result(pool.probe(any_source, pool_result).source());
      }
    }
  } catch (const peer_lost& e) {
    const int lost = e.rank();
    pool_stop_message why{2, lost, 0, e.what()};
    for (int r = 0; r < p; ++r) {
      if (r == me) continue;
      try {
        pool.send(r, pool_stop, why);
        // Take the result a survivor is still computing, so that nothing is left unreceived.
        if (working[static_cast<std::size_t>(r)] != 0) pool.recv<pool_result_message<R>>(r, pool_result);
      } catch (const peer_lost&) {
        // that one is gone too
      }
    }
    throw peer_lost(std::string("pool: a worker is gone: ") + e.what(), lost);
  }
  stop_all({});
}

template <class In, class Fn, class Deliver>
void run_pool(const communicator& comm, const std::vector<In>& inputs, Fn& fn, const pool_options& opt,
              Deliver&& deliver) {
  using R = std::remove_cvref_t<std::invoke_result_t<Fn&, const In&>>;
  if (opt.root < 0 || opt.root >= comm.size())
    throw usage_error("pool on rank " + std::to_string(comm.rank()) + ": root=" + std::to_string(opt.root) +
                      " is not a rank of the communicator (size " + std::to_string(comm.size()) + ")");
  communicator pool = comm.dup();  // its own message space: never mixes with the caller's
  if (pool.rank() == opt.root) pool_root<In, Fn, R>(pool, inputs, fn, opt, std::forward<Deliver>(deliver));
  else pool_worker<In, Fn, R>(pool, opt.root, fn);
}

}  // namespace detail

/// fn applied to every input, results in input order at the root (an empty vector elsewhere).
/// Collective over `comm`. Throws task_error (on every rank) when fn throws, peer_lost when a
/// rank dies.
template <class In, class Fn>
auto pool_map(const communicator& comm, const std::vector<In>& inputs, Fn fn, pool_options opt = {})
    -> std::vector<std::remove_cvref_t<std::invoke_result_t<Fn&, const In&>>> {
  using R = std::remove_cvref_t<std::invoke_result_t<Fn&, const In&>>;
  std::vector<R> results;
  if (comm.rank() == opt.root) results.resize(inputs.size());
  detail::run_pool(comm, inputs, fn, opt, [&](std::size_t i, R&& r) { results[i] = std::move(r); });
  return results;
}

/// fn applied to every input; at the root, on_result(index, result) runs as each result
/// arrives (Python's as_completed). Collective over `comm`; throws as pool_map does.
template <class In, class Fn, class OnResult>
void pool_for_each_unordered(const communicator& comm, const std::vector<In>& inputs, Fn fn, OnResult on_result,
                             pool_options opt = {}) {
  using R = std::remove_cvref_t<std::invoke_result_t<Fn&, const In&>>;
  detail::run_pool(comm, inputs, fn, opt, [&](std::size_t i, R&& r) { on_result(i, std::move(r)); });
}

}  // namespace parrun

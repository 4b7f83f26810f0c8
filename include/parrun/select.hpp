#pragma once
// select, as in Go: waits until one of several channel operations can proceed and runs exactly
// that one. When several are ready it picks one at random, so no case starves.
//
//   parrun::select(parrun::on_recv(a, [&](int v) { ... }),
//                  parrun::on_recv(b, [&](std::optional<std::string> s) { ... }),  // sees closure
//                  parrun::on_send(c, value, [&] { ... }),
//                  parrun::after(500ms, [&] { ... }));        // or parrun::otherwise (Go's default)
//
// A receive case whose handler takes T is never chosen once its channel is closed; one whose
// handler takes std::optional<T> is chosen with an empty optional. A select whose receive cases
// are all closed and that has no send, after or otherwise case throws channel_closed instead of
// waiting forever.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <random>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <parrun/channel.hpp>

namespace parrun {

namespace detail {

inline std::mt19937& select_rng() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return rng;
}

template <class T, class F>
struct recv_case {
  parrun::channel<T>& ch;
  F handler;
  bool also_sends = false;  // the same select has a send case on this channel
  static constexpr bool sees_closure = std::is_invocable_v<F&, std::optional<T>>;
  static constexpr bool receives = true;
  channel_core* core() const { return &ch.core(); }
  bool ready() const { return ch.core().has_value() || (sees_closure && ch.core().drained_and_closed()); }
  bool dead() const { return !sees_closure && ch.core().drained_and_closed(); }
  void prepare() const { ch.core().begin_receive(also_sends); }
  void done() const noexcept { ch.core().end_receive(); }
  void check() const { ch.core().check_peer_alive(); }
  void fire() {
    std::optional<T> v = ch.try_recv();
    if constexpr (sees_closure) {
      if (!v) ch.core().check_peer_alive();
      handler(std::move(v));
    } else {
      handler(std::move(*v));
    }
  }
};

template <class T, class F>
struct send_case {
  parrun::channel<T>& ch;
  T value;
  F handler;
  bool also_sends = false;
  static constexpr bool receives = false;
  channel_core* core() const { return &ch.core(); }
  bool ready() const { return ch.core().can_send(); }
  bool dead() const { return false; }
  void prepare() const {}
  void done() const noexcept {}
  void check() const {}
  void fire() {
    if (!ch.core().try_send(encode(value))) throw usage_error("select: a send case was ready and then was not");
    handler();
  }
};

template <class F>
struct after_case {
  std::chrono::steady_clock::duration wait;
  F handler;
};

template <class F>
struct otherwise_case {
  F handler;
};

template <class C>
struct is_after : std::false_type {};
template <class F>
struct is_after<after_case<F>> : std::true_type {};
template <class C>
struct is_otherwise : std::false_type {};
template <class F>
struct is_otherwise<otherwise_case<F>> : std::true_type {};
template <class C>
inline constexpr bool is_channel_case_v = !is_after<C>::value && !is_otherwise<C>::value;

}  // namespace detail

/// A receive case; `handler` takes T, or std::optional<T> to see the channel's closure.
template <class T, class F>
detail::recv_case<T, F> on_recv(channel<T>& ch, F handler) {
  static_assert(std::is_invocable_v<F&, std::optional<T>> || std::is_invocable_v<F&, T>,
                "on_recv: the handler must take T or std::optional<T>");
  return {ch, std::move(handler)};
}

/// A send case: sends `value` if the channel can take it now, then runs `handler()`.
template <class T, class V, class F>
detail::send_case<T, F> on_send(channel<T>& ch, V&& value, F handler) {
  return {ch, T(std::forward<V>(value)), std::move(handler)};
}

/// Runs `handler()` if no other case became ready within `wait`.
template <class Rep, class Period, class F>
detail::after_case<F> after(std::chrono::duration<Rep, Period> wait, F handler) {
  return {std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait), std::move(handler)};
}

/// Runs `handler()` at once if no other case is ready (Go's default): select never blocks.
template <class F>
detail::otherwise_case<F> otherwise(F handler) {
  return {std::move(handler)};
}

/// Runs exactly one ready case (chosen at random among the ready ones); returns its position.
template <class... Cases>
std::size_t select(Cases&&... cases) {
  static_assert(sizeof...(Cases) > 0,
                "parrun::select needs at least one case (on_recv, on_send, after or otherwise); "
                "with none it could only wait forever");
  auto all = std::forward_as_tuple(cases...);
  constexpr std::size_t n = sizeof...(Cases);
  std::optional<std::chrono::steady_clock::time_point> deadline;
  detail::channel_core* any_channel = nullptr;
  bool has_otherwise = false;
  auto visit = [&](auto&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f(std::get<I>(all), I), ...); }(std::make_index_sequence<n>{});
  };
  visit([&](auto& c, std::size_t) {
    using C = std::remove_cvref_t<decltype(c)>;
    if constexpr (detail::is_after<C>::value) {
      const auto t = std::chrono::steady_clock::now() + c.wait;
      if (!deadline || t < *deadline) deadline = t;
    } else if constexpr (detail::is_otherwise<C>::value) {
      has_otherwise = true;
    } else {
      any_channel = c.core();
    }
  });

  std::vector<std::size_t> ready;
  auto collect = [&] {
    ready.clear();
    visit([&](auto& c, std::size_t i) {
      using C = std::remove_cvref_t<decltype(c)>;
      if constexpr (detail::is_channel_case_v<C>)
        if (c.ready()) ready.push_back(i);
    });
    return !ready.empty();
  };
  auto fire = [&](std::size_t which) {
    // The choice is made: withdraw every grant before the handler runs (it may take long).
    visit([](auto& c, std::size_t) {
      if constexpr (detail::is_channel_case_v<std::remove_cvref_t<decltype(c)>>) c.done();
    });
    visit([&](auto& c, std::size_t i) {
      if (i == which) {
        if constexpr (detail::is_channel_case_v<std::remove_cvref_t<decltype(c)>>) c.fire();
        else c.handler();
      }
    });
    return which;
  };
  auto first_of = [&](auto pred) {
    std::size_t found = n;
    visit([&](auto& c, std::size_t i) {
      if (found == n && pred(std::type_identity<std::remove_cvref_t<decltype(c)>>{})) found = i;
    });
    return found;
  };
  const std::size_t after_index = first_of([](auto t) { return detail::is_after<typename decltype(t)::type>::value; });
  const std::size_t otherwise_index = first_of([](auto t) { return detail::is_otherwise<typename decltype(t)::type>::value; });

  // A receive case tells its peer whether this select may also send on that channel (then
  // exactly one of two selecting ends sends: channel_impl.hpp).
  std::array<detail::channel_core*, n> sending{};  // no allocation per select
  visit([&](auto& c, std::size_t i) {
    using C = std::remove_cvref_t<decltype(c)>;
    if constexpr (detail::is_channel_case_v<C>)
      if (!C::receives) sending[i] = c.core();
  });
  visit([&](auto& c, std::size_t) {
    using C = std::remove_cvref_t<decltype(c)>;
    if constexpr (detail::is_channel_case_v<C>)
      if (C::receives) c.also_sends = std::find(sending.begin(), sending.end(), c.core()) != sending.end();
  });
  // However the select ends, no receive case keeps telling its peer that it waits.
  struct stop_receiving {
    decltype(visit)& each;
    ~stop_receiving() {
      each([](auto& c, std::size_t) {
        if constexpr (detail::is_channel_case_v<std::remove_cvref_t<decltype(c)>>) c.done();
      });
    }
  } stop{visit};
  // Take in what has arrived before judging readiness: a select that never blocks (otherwise,
  // after(0)) must still see a value its peer already sent.
  if (any_channel != nullptr) any_channel->poll();

  for (;;) {
    if (collect()) {
      std::uniform_int_distribution<std::size_t> pick(0, ready.size() - 1);
      return fire(ready[pick(detail::select_rng())]);
    }
    if (has_otherwise) return fire(otherwise_index);
    bool all_dead = any_channel != nullptr;
    visit([&](auto& c, std::size_t) {
      using C = std::remove_cvref_t<decltype(c)>;
      if constexpr (detail::is_channel_case_v<C>) all_dead = all_dead && c.dead();
    });
    if (all_dead && !deadline) {
      visit([&](auto& c, std::size_t) {  // a channel whose peer died: peer_lost, not closure
        if constexpr (detail::is_channel_case_v<std::remove_cvref_t<decltype(c)>>) c.check();
      });
      throw channel_closed("select: every channel it receives from is closed, and it has no send, "
                           "after or otherwise case: it would wait forever");
    }
    if (deadline && std::chrono::steady_clock::now() >= *deadline) return fire(after_index);
    visit([&](auto& c, std::size_t) {
      if constexpr (detail::is_channel_case_v<std::remove_cvref_t<decltype(c)>>) c.prepare();
    });
    if (any_channel == nullptr) {
      std::this_thread::sleep_until(*deadline);
      continue;
    }
    detail::wait_on_channels(*any_channel, [&] { return collect(); }, deadline ? &*deadline : nullptr);
  }
}

}  // namespace parrun

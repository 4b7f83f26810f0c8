// Every collective against a sequential reference computed on every rank: all roots, small and
// large payloads (the large ones take the scatter+allgather broadcast and Rabenseifner's
// allreduce), raw and Cereal-serialized types, and non-commutative ops combined in rank order.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <parrun/parrun.hpp>

#include "rank_main.hpp"

namespace {

struct record {  // goes through Cereal
  std::string name;
  std::vector<int> values;
  bool operator==(const record&) const = default;
  template <class A>
  void serialize(A& a) {
    a(name, values);
  }
};

// 2x2 matrices with wrapping arithmetic: associative, not commutative, trivially copyable.
struct mat2 {
  std::uint32_t a, b, c, d;
  friend mat2 operator*(const mat2& x, const mat2& y) {
    return {x.a * y.a + x.b * y.c, x.a * y.b + x.b * y.d, x.c * y.a + x.d * y.c, x.c * y.b + x.d * y.d};
  }
  bool operator==(const mat2&) const = default;
};
mat2 mat_of(int r, int i = 0) {
  auto u = static_cast<std::uint32_t>(r * 7 + i * 13 + 1);
  return {u, u + 1, 2 * u + 3, u ^ 5u};
}
const auto mat_mul = [](const mat2& x, const mat2& y) { return x * y; };

std::string text_of(int r) { return std::string(static_cast<std::size_t>(r % 5 + 1), static_cast<char>('a' + r % 26)); }
record record_of(int r) { return {"rank" + std::to_string(r), std::vector<int>(static_cast<std::size_t>(r), r)}; }
std::vector<double> doubles_of(int r, std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(r) * 0.5 + static_cast<double>(i % 1000);
  return v;
}

parrun::communicator& W() { return test_world(); }

TEST(Collectives, BarrierNoRankLeavesBeforeTheLastEnters) {
  auto& w = W();
  using clock = std::chrono::system_clock;
  std::this_thread::sleep_for(std::chrono::milliseconds(30 * ((w.rank() * 3) % w.size())));
  const double entered = std::chrono::duration<double>(clock::now().time_since_epoch()).count();
  w.barrier();
  const double left = std::chrono::duration<double>(clock::now().time_since_epoch()).count();
  auto enters = w.allgather(entered);
  auto leaves = w.allgather(left);
  EXPECT_LE(*std::max_element(enters.begin(), enters.end()), *std::min_element(leaves.begin(), leaves.end()));
}

TEST(Collectives, BroadcastEveryRootSmallAndLarge) {
  auto& w = W();
  for (int root = 0; root < w.size(); ++root) {
    int x = w.rank() == root ? 1000 + root : -1;
    w.broadcast(x, root);
    EXPECT_EQ(x, 1000 + root);

    record rec = w.rank() == root ? record_of(root) : record{};
    w.broadcast(rec, root);
    EXPECT_EQ(rec, record_of(root));

    std::map<std::string, int> m;
    if (w.rank() == root) m = {{"root", root}, {"p", w.size()}};
    w.broadcast(m, root);
    EXPECT_EQ(m.at("root"), root);

    // 8 MB: the binomial tree; 16 MB and a few bytes: the scatter + allgather path when p >= 3.
    for (std::size_t n : {std::size_t{1} << 20, (std::size_t{1} << 21) + 5}) {
      std::vector<double> big = w.rank() == root ? doubles_of(root, n) : std::vector<double>{};
      w.broadcast(big, root);
      EXPECT_EQ(big, doubles_of(root, n));
    }

    // Sizes around the chunking (not divisible by p), raw bytes.
    std::vector<char> odd = w.rank() == root ? std::vector<char>(512 * 1024 + 7, static_cast<char>('A' + root)) : std::vector<char>{};
    w.broadcast(odd, root);
    EXPECT_EQ(odd, std::vector<char>(512 * 1024 + 7, static_cast<char>('A' + root)));

    std::string empty = "x";
    if (w.rank() == root) empty.clear();
    w.broadcast(empty, root);
    EXPECT_EQ(empty, "");
  }
}

TEST(Collectives, ScatterAndScattervEveryRoot) {
  auto& w = W();
  const int p = w.size();
  for (int root = 0; root < p; ++root) {
    std::vector<record> parts;
    if (w.rank() == root)
      for (int r = 0; r < p; ++r) parts.push_back(record_of(r + root));
    EXPECT_EQ(w.scatter(parts, root), record_of(w.rank() + root));

    std::vector<int> ints;
    if (w.rank() == root)
      for (int r = 0; r < p; ++r) ints.push_back(r * r);
    EXPECT_EQ(w.scatter(ints, root), w.rank() * w.rank());

    // scatterv: rank r gets r+1 elements (rank 0 on root 1 gets none).
    std::vector<int> counts, data;
    if (w.rank() == root) {
      for (int r = 0; r < p; ++r) {
        int n = (r == 0 && root == 1) ? 0 : r + 1;
        counts.push_back(n);
        for (int i = 0; i < n; ++i) data.push_back(100 * r + i);
      }
    }
    std::vector<int> block = w.scatterv(data, counts, root);
    const int n = (w.rank() == 0 && root == 1) ? 0 : w.rank() + 1;
    ASSERT_EQ(block.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) EXPECT_EQ(block[static_cast<std::size_t>(i)], 100 * w.rank() + i);
  }
}

TEST(Collectives, GatherGathervAllgatherEveryRoot) {
  auto& w = W();
  const int p = w.size();
  std::vector<record> expected;
  std::vector<std::string> expected_text;
  std::vector<int> expected_cat;
  for (int r = 0; r < p; ++r) {
    expected.push_back(record_of(r));
    expected_text.push_back(text_of(r));
    for (int i = 0; i < r; ++i) expected_cat.push_back(r);
  }
  for (int root = 0; root < p; ++root) {
    auto got = w.gather(record_of(w.rank()), root);
    if (w.rank() == root) {
      EXPECT_EQ(got, expected);
    } else {
      EXPECT_TRUE(got.empty());
    }

    auto cat = w.gatherv(std::vector<int>(static_cast<std::size_t>(w.rank()), w.rank()), root);
    if (w.rank() == root) {
      EXPECT_EQ(cat, expected_cat);
    } else {
      EXPECT_TRUE(cat.empty());
    }
  }
  EXPECT_EQ(w.allgather(text_of(w.rank())), expected_text);
  EXPECT_EQ(w.allgather(record_of(w.rank())), expected);
  EXPECT_EQ(w.allgatherv(std::vector<int>(static_cast<std::size_t>(w.rank()), w.rank())), expected_cat);
  auto ranks = w.allgather(w.rank());
  for (int r = 0; r < p; ++r) EXPECT_EQ(ranks[static_cast<std::size_t>(r)], r);
}

TEST(Collectives, ReduceAndAllreduceMatchSequentialFolds) {
  auto& w = W();
  const int p = w.size(), me = w.rank();
  long sum = 0;
  double product = 1;
  std::string concat;
  mat2 mprod = mat_of(0);
  for (int r = 0; r < p; ++r) {
    sum += r + 1;
    product *= 1.0 + r;
    concat += text_of(r);
    if (r > 0) mprod = mprod * mat_of(r);
  }
  for (int root = 0; root < p; ++root) {
    long s = w.reduce(static_cast<long>(me + 1), std::plus<>{}, root);
    std::string c = w.reduce(text_of(me), std::plus<>{}, root);  // non-commutative
    mat2 m = w.reduce(mat_of(me), mat_mul, root);                  // non-commutative, raw
    if (me == root) {
      EXPECT_EQ(s, sum);
      EXPECT_EQ(c, concat);
      EXPECT_EQ(m, mprod);
    } else {
      EXPECT_EQ(s, 0);
      EXPECT_TRUE(c.empty());
    }
  }
  EXPECT_EQ(w.allreduce(static_cast<long>(me + 1), std::plus<>{}), sum);
  EXPECT_DOUBLE_EQ(w.allreduce(1.0 + me, std::multiplies<>{}), product);
  EXPECT_EQ(w.allreduce(text_of(me), std::plus<>{}), concat);
  EXPECT_EQ(w.allreduce(mat_of(me), mat_mul), mprod);
  EXPECT_EQ(w.allreduce(me, parrun::min{}), 0);
  EXPECT_EQ(w.allreduce(me, parrun::max{}), p - 1);
  EXPECT_EQ(w.allreduce(record_of(me), [](record a, const record& b) {
              a.name += "+" + b.name;
              a.values.insert(a.values.end(), b.values.begin(), b.values.end());
              return a;
            }).name.substr(0, 5),
            "rank0");
}

TEST(Collectives, ElementwiseReductionsSmallAndLarge) {
  auto& w = W();
  const int p = w.size(), me = w.rank();
  for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{1000}, std::size_t{(1 << 20) + 3}}) {
    std::vector<double> v = doubles_of(me, n);
    std::vector<double> expected(n, 0.0);
    std::vector<double> lo(n), hi(n);
    for (int r = 0; r < p; ++r) {
      auto x = doubles_of(r, n);
      for (std::size_t i = 0; i < n; ++i) {
        expected[i] += x[i];
        lo[i] = r == 0 ? x[i] : std::min(lo[i], x[i]);
        hi[i] = r == 0 ? x[i] : std::max(hi[i], x[i]);
      }
    }
    auto all = w.allreduce(v, std::plus<>{});
    ASSERT_EQ(all.size(), n);
    for (std::size_t i = 0; i < n; ++i) ASSERT_DOUBLE_EQ(all[i], expected[i]) << "n=" << n << " i=" << i;
    EXPECT_EQ(w.allreduce(v, parrun::min{}), lo);
    EXPECT_EQ(w.allreduce(v, parrun::max{}), hi);
    auto at_last = w.reduce(v, std::plus<>{}, p - 1);
    if (me == p - 1) {
      for (std::size_t i = 0; i < n; ++i) ASSERT_DOUBLE_EQ(at_last[i], expected[i]);
    }
  }
  // Non-commutative, element-wise, large: vectors of matrices multiplied in rank order.
  const std::size_t n = 300'000;  // 4.8 MB: Rabenseifner
  std::vector<mat2> mine(n), expected(n);
  for (std::size_t i = 0; i < n; ++i) {
    mine[i] = mat_of(me, static_cast<int>(i % 97));
    expected[i] = mat_of(0, static_cast<int>(i % 97));
    for (int r = 1; r < p; ++r) expected[i] = expected[i] * mat_of(r, static_cast<int>(i % 97));
  }
  EXPECT_EQ(w.allreduce(mine, mat_mul), expected);
  // Element-wise on non-raw elements (strings): concatenation per element, in rank order.
  std::vector<std::string> words{text_of(me), "|"};
  std::string cat;
  for (int r = 0; r < p; ++r) cat += text_of(r);
  EXPECT_EQ(w.allreduce(words, std::plus<>{}), (std::vector<std::string>{cat, std::string(static_cast<std::size_t>(p), '|')}));
  // std::array travels raw and reduces element-wise.
  std::array<int, 3> a{me, 2 * me, 1};
  EXPECT_EQ(w.allreduce(a, std::plus<>{}), (std::array<int, 3>{p * (p - 1) / 2, p * (p - 1), p}));
}

TEST(Collectives, ScanAndExscan) {
  auto& w = W();
  const int me = w.rank();
  long inclusive = 0;
  std::string prefix, before;
  for (int r = 0; r <= me; ++r) {
    inclusive += r + 1;
    prefix += text_of(r);
    if (r < me) before += text_of(r);
  }
  EXPECT_EQ(w.scan(static_cast<long>(me + 1), std::plus<>{}), inclusive);
  EXPECT_EQ(w.exscan(static_cast<long>(me + 1), std::plus<>{}), inclusive - (me + 1));
  EXPECT_EQ(w.scan(text_of(me), std::plus<>{}), prefix);
  EXPECT_EQ(w.exscan(text_of(me), std::plus<>{}), before);
  mat2 m = mat_of(0);
  for (int r = 1; r <= me; ++r) m = m * mat_of(r);
  EXPECT_EQ(w.scan(mat_of(me), mat_mul), m);
  auto v = w.scan(std::vector<int>{me, 1}, std::plus<>{});
  EXPECT_EQ(v, (std::vector<int>{me * (me + 1) / 2, me + 1}));
}

TEST(Collectives, AlltoallVariableSizes) {
  auto& w = W();
  const int p = w.size(), me = w.rank();
  std::vector<std::string> parts;
  for (int q = 0; q < p; ++q) parts.push_back(std::string(static_cast<std::size_t>(me * 10 + q), static_cast<char>('a' + me)));
  auto got = w.alltoall(parts);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(p));
  for (int q = 0; q < p; ++q)
    EXPECT_EQ(got[static_cast<std::size_t>(q)], std::string(static_cast<std::size_t>(q * 10 + me), static_cast<char>('a' + q)));
  std::vector<std::vector<double>> big;
  for (int q = 0; q < p; ++q) big.push_back(doubles_of(me * p + q, 100'000));
  auto got_big = w.alltoall(big);
  for (int q = 0; q < p; ++q) EXPECT_EQ(got_big[static_cast<std::size_t>(q)], doubles_of(q * p + me, 100'000));
}

TEST(Collectives, SplitAndDup) {
  auto& w = W();
  const int p = w.size(), me = w.rank();
  // Odd and even ranks, each ordered by descending world rank.
  parrun::communicator half = w.split(me % 2, -me);
  int members = 0;
  for (int r = 0; r < p; ++r) members += (r % 2 == me % 2);
  EXPECT_EQ(half.size(), members);
  std::vector<int> world_of = half.allgather(me);
  for (std::size_t i = 1; i < world_of.size(); ++i) EXPECT_GT(world_of[i - 1], world_of[i]);
  EXPECT_EQ(world_of[static_cast<std::size_t>(half.rank())], me);
  EXPECT_EQ(half.allreduce(1, std::plus<>{}), members);

  // no_color gives an invalid communicator.
  parrun::communicator none = w.split(me == 0 ? parrun::no_color : 0);
  EXPECT_EQ(none.valid(), me != 0);
  if (me != 0) {
    EXPECT_EQ(none.size(), p - 1);
  }

  // Isolation: the same tag on world and on a dup never cross.
  parrun::communicator copy = w.dup();
  EXPECT_EQ(copy.size(), p);
  EXPECT_EQ(copy.rank(), me);
  const int right = (me + 1) % p, left = (me - 1 + p) % p;
  w.send(right, 5, std::string("world"));
  copy.send(right, 5, std::string("copy"));
  EXPECT_EQ(copy.recv<std::string>(left, 5), "copy");
  EXPECT_EQ(w.recv<std::string>(left, 5), "world");
  // A collective on one does not match a collective on the other.
  int x = me == 0 ? 11 : 0, y = me == 0 ? 22 : 0;
  copy.broadcast(y, 0);
  w.broadcast(x, 0);
  EXPECT_EQ(x, 11);
  EXPECT_EQ(y, 22);
}

TEST(Collectives, UsageErrorsOnTheRankThatErredLeaveTheOthersInStep) {
  auto& w = W();
  const int p = w.size();
  std::vector<int> wrong(static_cast<std::size_t>(p + 1), 1);
  if (w.rank() == 0) {
    EXPECT_THROW(w.scatter(wrong, 0), parrun::usage_error);
    try {
      w.scatter(wrong, 0);
    } catch (const parrun::usage_error& e) {
      EXPECT_NE(std::string(e.what()).find("scatter"), std::string::npos);
      EXPECT_NE(std::string(e.what()).find(std::to_string(p + 1)), std::string::npos);
    }
  }
  EXPECT_THROW(w.broadcast(wrong, p), parrun::usage_error);
  EXPECT_THROW(w.reduce(1, std::plus<>{}, -1), parrun::usage_error);
  EXPECT_THROW(w.alltoall(wrong), parrun::usage_error);
  // After the rejected calls, everyone is still in step.
  std::vector<int> right(static_cast<std::size_t>(p));
  std::iota(right.begin(), right.end(), 0);
  EXPECT_EQ(w.scatter(right, 0), w.rank());
}

TEST(Collectives, RandomizedCollectivesInterleavedWithPointToPoint) {
  auto& w = W();
  const int p = w.size(), me = w.rank();
  std::mt19937 same(12345);  // the same sequence on every rank
  parrun::communicator sub = w.split(me % 3 == 0 ? 0 : 1, me);
  for (int round = 0; round < 60; ++round) {
    const int kind = static_cast<int>(same() % 6);
    const int root = static_cast<int>(same() % static_cast<unsigned>(p));
    const std::size_t len = same() % 3 == 0 ? 200'000 : same() % 50;
    // Point-to-point on the same communicator, with a tag a collective could be confused with.
    w.send((me + 1) % p, round, me * 1000 + round);
    switch (kind) {
      case 0: {
        std::vector<int> v = me == root ? std::vector<int>(len, root) : std::vector<int>{};
        w.broadcast(v, root);
        ASSERT_EQ(v, std::vector<int>(len, root));
        break;
      }
      case 1: {
        auto s = w.allreduce(std::vector<long>(len, me), std::plus<>{});
        ASSERT_EQ(s, std::vector<long>(len, static_cast<long>(p) * (p - 1) / 2));
        break;
      }
      case 2: {
        auto g = w.gather(std::vector<int>(len % 7, me), root);
        if (me == root) {
          for (int r = 0; r < p; ++r) ASSERT_EQ(g[static_cast<std::size_t>(r)], std::vector<int>(len % 7, r));
        }
        break;
      }
      case 3: {
        auto s = sub.allreduce(1, std::plus<>{});
        ASSERT_EQ(s, sub.size());
        sub.barrier();
        break;
      }
      case 4: {
        auto x = w.scan(1, std::plus<>{});
        ASSERT_EQ(x, me + 1);
        break;
      }
      default:
        w.barrier();
    }
    ASSERT_EQ(w.recv<int>((me - 1 + p) % p, round), ((me - 1 + p) % p) * 1000 + round);
  }
}

}  // namespace

// The codec (include/parrun/detail/codec.hpp): every supported type round-trips with random values
// and random sizes (0 included), each type travels by the encoding the docs promise, malformed
// bytes throw truncation_error with numbers in the message, and an rvalue vector is adopted
// rather than copied. New buffers are allocated at their exact size, archives write Cereal's own
// binary format, and decoding works from bytes at any alignment.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>
#include <cereal/archives/binary.hpp>

#include <parrun/communicator.hpp>
#include <parrun/detail/codec.hpp>
#include <parrun/errors.hpp>

namespace {

using parrun::truncation_error;
using parrun::detail::decode;
using parrun::detail::encode;
using parrun::detail::encode_moved;
using parrun::detail::encoding;
using parrun::detail::encoding_of;
using parrun::detail::owned_bytes;

// --- test types ---------------------------------------------------------------------------

// A trivially copyable struct with padding: travels as its raw bytes.
struct particle {
  int id;
  double x, y, z;
  char kind;
  friend bool operator==(const particle& a, const particle& b) {
    return a.id == b.id && a.x == b.x && a.y == b.y && a.z == b.z && a.kind == b.kind;
  }
};

enum class colour : std::uint8_t { red = 1, green = 2, blue = 3 };

// A user struct with a member `serialize`: travels through Cereal.
struct record {
  std::string name;
  std::vector<int> values;
  std::optional<double> weight;
  std::map<std::string, std::vector<int>> groups;
  template <class Archive>
  void serialize(Archive& a) {
    a(name, values, weight, groups);
  }
  friend bool operator==(const record&, const record&) = default;
};

// A user struct with non-member save/load pair.
struct interval {
  double lo = 0, hi = 0;
  std::string label;
  friend bool operator==(const interval&, const interval&) = default;
};
template <class Archive>
void save(Archive& a, const interval& v) {
  a(v.label, v.lo, v.hi);
}
template <class Archive>
void load(Archive& a, interval& v) {
  a(v.label, v.lo, v.hi);
}

template <class T>
T round_trip(const T& value) {
  owned_bytes bytes = encode(value);
  T out{};
  decode(bytes.data(), bytes.size(), out);
  return out;
}

// --- random values ------------------------------------------------------------------------

class random_values {
 public:
  explicit random_values(std::uint64_t seed) : rng_(seed) {}

  // Sizes for containers: 0 and 1 often, mostly small, sometimes large.
  std::size_t size() {
    switch (pick(0, 9)) {
      case 0:
        return 0;
      case 1:
        return 1;
      case 9:
        return static_cast<std::size_t>(pick(1000, 100000));
      default:
        return static_cast<std::size_t>(pick(2, 64));
    }
  }
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  int any_int() {
    return std::uniform_int_distribution<int>(std::numeric_limits<int>::min(),
                                              std::numeric_limits<int>::max())(rng_);
  }
  double any_double() { return std::uniform_real_distribution<double>(-1e300, 1e300)(rng_); }
  char any_char() { return static_cast<char>(pick(-128, 127)); }
  std::string string(std::size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = any_char();  // embedded NULs included
    return s;
  }
  std::string string() { return string(size() % 300); }
  std::vector<int> ints(std::size_t n) {
    std::vector<int> v(n);
    for (int& x : v) x = any_int();
    return v;
  }
  std::vector<double> doubles(std::size_t n) {
    std::vector<double> v(n);
    for (double& x : v) x = any_double();
    return v;
  }
  particle any_particle() {
    return particle{any_int(), any_double(), any_double(), any_double(), any_char()};
  }
  record any_record() {
    record r;
    r.name = string();
    r.values = ints(size() % 200);
    if (pick(0, 1) == 1) r.weight = any_double();
    for (int i = pick(0, 4); i > 0; --i)
      r.groups[string(static_cast<std::size_t>(pick(0, 8)))] = ints(size() % 50);
    return r;
  }

 private:
  std::mt19937_64 rng_;
};

constexpr int iterations = 60;

// --- encodings ----------------------------------------------------------------------------

TEST(codec, raw_values_use_the_raw_value_encoding) {
  static_assert(encoding_of<int>() == encoding::raw_value);
  static_assert(encoding_of<double>() == encoding::raw_value);
  static_assert(encoding_of<char>() == encoding::raw_value);
  static_assert(encoding_of<bool>() == encoding::raw_value);
  static_assert(encoding_of<colour>() == encoding::raw_value);
  static_assert(encoding_of<particle>() == encoding::raw_value);
  static_assert(encoding_of<std::array<int, 5>>() == encoding::raw_value);
  static_assert(encoding_of<std::array<particle, 3>>() == encoding::raw_value);
  EXPECT_EQ(encode(42).size(), sizeof(int));
  EXPECT_EQ(encode(particle{}).size(), sizeof(particle));
  EXPECT_EQ((encode(std::array<int, 5>{1, 2, 3, 4, 5}).size()), 5 * sizeof(int));
  // The bytes are the object's bytes: no header, no archive.
  const double pi = 3.141592653589793;
  owned_bytes b = encode(pi);
  EXPECT_EQ(std::memcmp(b.data(), &pi, sizeof pi), 0);
}

TEST(codec, contiguous_ranges_of_raw_values_use_the_raw_vector_encoding) {
  static_assert(encoding_of<std::vector<double>>() == encoding::raw_vector);
  static_assert(encoding_of<std::vector<int>>() == encoding::raw_vector);
  static_assert(encoding_of<std::vector<char>>() == encoding::raw_vector);
  static_assert(encoding_of<std::vector<particle>>() == encoding::raw_vector);
  static_assert(encoding_of<std::vector<std::array<int, 3>>>() == encoding::raw_vector);
  static_assert(encoding_of<std::string>() == encoding::raw_vector);
  static_assert(encoding_of<std::u32string>() == encoding::raw_vector);
  // Exactly the elements' bytes: no length prefix.
  const std::vector<double> v{1.5, -2.25, 3.0};
  owned_bytes b = encode(v);
  ASSERT_EQ(b.size(), 3 * sizeof(double));
  EXPECT_EQ(std::memcmp(b.data(), v.data(), b.size()), 0);
  EXPECT_EQ(encode(std::string("hello")).size(), 5u);
  EXPECT_EQ(encode(std::vector<int>{}).size(), 0u);
  EXPECT_EQ(encode(std::string()).size(), 0u);
}

TEST(codec, everything_else_goes_through_the_archive) {
  static_assert(encoding_of<std::vector<bool>>() == encoding::archive);
  static_assert(encoding_of<std::vector<std::string>>() == encoding::archive);
  static_assert(encoding_of<std::vector<std::vector<double>>>() == encoding::archive);
  static_assert(encoding_of<std::map<std::string, std::vector<int>>>() == encoding::archive);
  static_assert(encoding_of<std::set<int>>() == encoding::archive);
  static_assert(encoding_of<std::unordered_map<std::string, int>>() == encoding::archive);
  static_assert(encoding_of<std::tuple<int, std::string, double>>() == encoding::archive);
  static_assert(encoding_of<std::optional<std::string>>() == encoding::archive);
  static_assert(encoding_of<std::variant<int, std::string>>() == encoding::archive);
  static_assert(encoding_of<std::array<std::string, 2>>() == encoding::archive);
  static_assert(encoding_of<record>() == encoding::archive);
  static_assert(encoding_of<interval>() == encoding::archive);
  static_assert(encoding_of<std::deque<int>>() == encoding::archive);
  static_assert(encoding_of<std::list<int>>() == encoding::archive);
  // An archive carries lengths: an empty vector<bool> is not zero bytes.
  EXPECT_GT(encode(std::vector<bool>{}).size(), 0u);
}

// --- round trips --------------------------------------------------------------------------

TEST(codec, trivially_copyable_values_round_trip) {
  random_values r(1);
  for (int i = 0; i < iterations; ++i) {
    const int a = r.any_int();
    const double d = r.any_double();
    const char c = r.any_char();
    const auto u = static_cast<std::uint64_t>(r.any_int()) << 20;
    const particle p = r.any_particle();
    const std::array<int, 7> arr{r.any_int(), r.any_int(), r.any_int(), r.any_int(),
                                 r.any_int(), r.any_int(), r.any_int()};
    const std::array<particle, 2> parr{r.any_particle(), r.any_particle()};
    EXPECT_EQ(round_trip(a), a);
    EXPECT_EQ(round_trip(d), d);
    EXPECT_EQ(round_trip(c), c);
    EXPECT_EQ(round_trip(u), u);
    EXPECT_EQ(round_trip(p), p);
    EXPECT_EQ(round_trip(arr), arr);
    EXPECT_EQ(round_trip(parr), parr);
  }
  EXPECT_EQ(round_trip(true), true);
  EXPECT_EQ(round_trip(false), false);
  EXPECT_EQ(round_trip(colour::blue), colour::blue);
  EXPECT_EQ(round_trip(std::numeric_limits<double>::infinity()),
            std::numeric_limits<double>::infinity());
  EXPECT_EQ(round_trip(std::numeric_limits<std::int64_t>::min()),
            std::numeric_limits<std::int64_t>::min());
}

TEST(codec, raw_vectors_and_strings_round_trip_at_random_sizes) {
  random_values r(2);
  for (int i = 0; i < iterations; ++i) {
    const std::vector<double> d = r.doubles(r.size());
    const std::vector<int> n = r.ints(r.size());
    const std::string s = r.string(r.size());
    const std::vector<char> c(s.begin(), s.end());
    std::vector<particle> p(r.size() % 500);
    for (particle& x : p) x = r.any_particle();
    EXPECT_EQ(round_trip(d), d);
    EXPECT_EQ(round_trip(n), n);
    EXPECT_EQ(round_trip(s), s);
    EXPECT_EQ(round_trip(c), c);
    EXPECT_EQ(round_trip(p), p);
  }
  const std::u16string wide = u"grüße";
  EXPECT_EQ(round_trip(wide), wide);
}

TEST(codec, vector_of_bool_round_trips) {
  random_values r(3);
  for (int i = 0; i < iterations; ++i) {
    std::vector<bool> v(r.size());
    for (std::size_t k = 0; k < v.size(); ++k) v[k] = r.pick(0, 1) == 1;
    EXPECT_EQ(round_trip(v), v);
  }
}

TEST(codec, nested_standard_containers_round_trip) {
  random_values r(4);
  for (int i = 0; i < iterations; ++i) {
    std::map<std::string, std::vector<int>> groups;
    for (std::size_t k = r.size() % 40; k > 0; --k)
      groups[r.string(static_cast<std::size_t>(r.pick(0, 12)))] = r.ints(r.size() % 300);
    EXPECT_EQ(round_trip(groups), groups);

    std::vector<std::vector<double>> matrix(r.size() % 50);
    for (auto& row : matrix) row = r.doubles(r.size() % 200);
    EXPECT_EQ(round_trip(matrix), matrix);

    std::vector<std::string> words(r.size() % 100);
    for (auto& w : words) w = r.string();
    EXPECT_EQ(round_trip(words), words);

    std::set<int> set;
    for (std::size_t k = r.size() % 500; k > 0; --k) set.insert(r.any_int());
    EXPECT_EQ(round_trip(set), set);

    std::unordered_map<std::string, int> counts;
    for (std::size_t k = r.size() % 200; k > 0; --k)
      counts[r.string(static_cast<std::size_t>(r.pick(0, 20)))] = r.any_int();
    EXPECT_EQ(round_trip(counts), counts);

    std::unordered_set<std::string> names;
    for (std::size_t k = r.size() % 50; k > 0; --k) names.insert(r.string());
    EXPECT_EQ(round_trip(names), names);

    std::deque<int> dq;
    for (std::size_t k = r.size() % 300; k > 0; --k) dq.push_back(r.any_int());
    EXPECT_EQ(round_trip(dq), dq);

    std::list<std::string> lst;
    for (std::size_t k = r.size() % 30; k > 0; --k) lst.push_back(r.string());
    EXPECT_EQ(round_trip(lst), lst);

    std::array<std::string, 3> sarr{r.string(), r.string(), r.string()};
    EXPECT_EQ(round_trip(sarr), sarr);
  }
}

TEST(codec, optional_variant_tuple_pair_round_trip) {
  random_values r(5);
  for (int i = 0; i < iterations; ++i) {
    std::optional<std::string> os;
    if (r.pick(0, 1) == 1) os = r.string();
    EXPECT_EQ(round_trip(os), os);

    std::optional<int> oi;
    if (r.pick(0, 1) == 1) oi = r.any_int();
    EXPECT_EQ(round_trip(oi), oi);

    std::variant<int, std::string, std::vector<double>> var;
    switch (r.pick(0, 2)) {
      case 0:
        var = r.any_int();
        break;
      case 1:
        var = r.string();
        break;
      default:
        var = r.doubles(r.size() % 100);
        break;
    }
    const auto back = round_trip(var);
    EXPECT_EQ(back.index(), var.index());
    EXPECT_EQ(back, var);

    const std::tuple<int, std::string, double, std::vector<int>> tup{
        r.any_int(), r.string(), r.any_double(), r.ints(r.size() % 100)};
    EXPECT_EQ(round_trip(tup), tup);

    const std::pair<std::string, std::vector<double>> pr{r.string(), r.doubles(r.size() % 20)};
    EXPECT_EQ(round_trip(pr), pr);
  }
  // The empty states survive too.
  EXPECT_EQ(round_trip(std::optional<std::string>{}), std::nullopt);
  EXPECT_EQ(round_trip(std::optional<std::vector<int>>{std::vector<int>{}}),
            std::optional<std::vector<int>>{std::vector<int>{}});
}

TEST(codec, user_structs_with_serialize_round_trip) {
  random_values r(6);
  for (int i = 0; i < iterations; ++i) {
    const record rec = r.any_record();
    EXPECT_EQ(round_trip(rec), rec);

    std::vector<record> many(r.size() % 20);
    for (record& x : many) x = r.any_record();
    EXPECT_EQ(round_trip(many), many);

    std::map<int, record> by_id;
    for (int k = r.pick(0, 5); k > 0; --k) by_id[r.any_int()] = r.any_record();
    EXPECT_EQ(round_trip(by_id), by_id);

    const interval iv{r.any_double(), r.any_double(), r.string()};
    EXPECT_EQ(round_trip(iv), iv);
  }
  EXPECT_EQ(round_trip(record{}), record{});
}

TEST(codec, decoding_replaces_what_the_target_held) {
  std::vector<double> v(10, 7.0);
  owned_bytes b = encode(std::vector<double>{1, 2, 3});
  decode(b.data(), b.size(), v);
  EXPECT_EQ(v, (std::vector<double>{1, 2, 3}));

  std::map<std::string, std::vector<int>> m{{"old", {1}}, {"keep?", {2}}};
  owned_bytes mb = encode(std::map<std::string, std::vector<int>>{{"new", {3, 4}}});
  decode(mb.data(), mb.size(), m);
  EXPECT_EQ(m, (std::map<std::string, std::vector<int>>{{"new", {3, 4}}}));

  std::string s = "a long string that will be replaced entirely";
  owned_bytes sb = encode(std::string());
  decode(sb.data(), sb.size(), s);
  EXPECT_EQ(s, "");
}

TEST(codec, string_literals_and_c_strings_travel_as_std_string) {
  using parrun::detail::encode_message;
  using parrun::detail::message_type_t;
  static_assert(std::is_same_v<message_type_t<decltype("hi")>, std::string>);
  static_assert(std::is_same_v<message_type_t<const char*>, std::string>);
  static_assert(std::is_same_v<message_type_t<char*>, std::string>);
  static_assert(std::is_same_v<message_type_t<const std::string&>, std::string>);
  static_assert(std::is_same_v<message_type_t<std::vector<int>&&>, std::vector<int>>);
  owned_bytes b = encode_message("hello");
  std::string out;
  decode(b.data(), b.size(), out);
  EXPECT_EQ(out, "hello");  // no terminating NUL
  char buffer[] = "mutable";
  char* p = buffer;
  owned_bytes pb = encode_message(p);
  decode(pb.data(), pb.size(), out);
  EXPECT_EQ(out, "mutable");
}

TEST(codec, string_views_travel_as_strings) {
  // A view's own bytes are a pointer into the sender's memory: it must travel as a string.
  using parrun::detail::message_type_t;
  static_assert(std::is_same_v<message_type_t<std::string_view>, std::string>);
  static_assert(std::is_same_v<message_type_t<const std::string_view&>, std::string>);
  static_assert(std::is_same_v<message_type_t<std::u16string_view>, std::u16string>);
  static_assert(std::is_same_v<message_type_t<std::wstring_view>, std::wstring>);
  owned_bytes b = parrun::detail::encode_message(std::string_view("view"));
  std::string out;
  decode(b.data(), b.size(), out);
  EXPECT_EQ(out, "view");
  owned_bytes w = parrun::detail::encode_message(std::u16string_view(u"wide"));
  std::u16string wide;
  decode(w.data(), w.size(), wide);
  EXPECT_EQ(wide, u"wide");
}

TEST(codec, char_arrays_stop_at_their_end_without_a_nul) {
  const char unterminated[4] = {'a', 'b', 'c', 'd'};
  owned_bytes b = parrun::detail::encode_message(unterminated);
  std::string out;
  decode(b.data(), b.size(), out);
  EXPECT_EQ(out, "abcd");
  const char terminated[8] = "ab";
  owned_bytes t = parrun::detail::encode_message(terminated);
  decode(t.data(), t.size(), out);
  EXPECT_EQ(out, "ab");
}

// --- malformed bytes ----------------------------------------------------------------------

// Runs `f`, expecting truncation_error whose message contains every one of `parts`.
template <class F>
void expect_truncation(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no truncation_error";
  } catch (const truncation_error& e) {
    const std::string what = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' missing from: " << what;
  }
}

TEST(codec, raw_value_of_the_wrong_size_throws_truncation_error_naming_both_sizes) {
  const std::byte bytes[16]{};
  int i = 0;
  expect_truncation([&] { decode(bytes, 3, i); }, {"expected 4 bytes", "has 3"});
  expect_truncation([&] { decode(bytes, 8, i); }, {"expected 4 bytes", "has 8"});
  expect_truncation([&] { decode(bytes, 0, i); }, {"expected 4 bytes", "has 0"});
  particle p{};
  expect_truncation([&] { decode(bytes, 16, p); },
                    {"expected " + std::to_string(sizeof(particle)), "has 16"});
  std::array<double, 3> a{};
  expect_truncation([&] { decode(bytes, 16, a); }, {"expected 24 bytes", "has 16"});
}

TEST(codec, raw_vector_of_a_partial_element_throws_truncation_error_naming_the_sizes) {
  const std::byte bytes[16]{};
  std::vector<double> v;
  expect_truncation([&] { decode(bytes, 12, v); }, {"12 bytes", "8-byte elements"});
  std::vector<particle> p;
  expect_truncation([&] { decode(bytes, 7, p); },
                    {"7 bytes", std::to_string(sizeof(particle)) + "-byte"});
  std::u32string s;
  expect_truncation([&] { decode(bytes, 6, s); }, {"6 bytes", "4-byte elements"});
  // Zero bytes are zero elements, not an error.
  v = {1.0};
  decode(nullptr, 0, v);
  EXPECT_TRUE(v.empty());
}

TEST(codec, short_archive_throws_truncation_error_naming_the_sizes) {
  const std::vector<std::string> words{"abc", "defgh", "ijklmnop"};
  owned_bytes b = encode(words);
  for (std::size_t cut :
       {std::size_t{0}, std::size_t{1}, std::size_t{7}, b.size() / 2, b.size() - 1}) {
    std::vector<std::string> out;
    expect_truncation([&] { decode(b.data(), cut, out); },
                      {"the message's " + std::to_string(cut) + " bytes do not decode"});
  }
  const record rec{"name", {1, 2, 3}, 2.5, {{"g", {4}}}};
  owned_bytes rb = encode(rec);
  record out;
  expect_truncation([&] { decode(rb.data(), rb.size() - 3, out); },
                    {std::to_string(rb.size() - 3) + " bytes do not decode"});
}

TEST(codec, archive_with_bytes_left_over_throws_truncation_error_naming_the_sizes) {
  owned_bytes b = encode(std::map<int, int>{{1, 2}});
  const std::size_t size = b.size();
  b.append("xyzw", 4);
  std::map<int, int> out;
  expect_truncation([&] { decode(b.data(), b.size(), out); },
                    {"4 of the message's " + std::to_string(size + 4) + " bytes were left over"});
}

TEST(codec, archive_with_an_absurd_length_throws_truncation_error) {
  // A length prefix of 2^64-1 elements: the bytes cannot be a vector<string>.
  std::byte bytes[16];
  std::memset(bytes, 0xff, sizeof bytes);
  std::vector<std::string> out;
  try {
    decode(bytes, sizeof bytes, out);
    ADD_FAILURE() << "decoded a vector of 2^64-1 strings from 16 bytes";
  } catch (const truncation_error& e) {
    EXPECT_NE(std::string(e.what()).find("16 bytes"), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "decode let " << typeid(e).name() << " (" << e.what()
                  << ") escape instead of truncation_error";
  }
}

// --- copies -------------------------------------------------------------------------------

TEST(codec, encode_moved_adopts_a_large_rvalue_vector) {
  std::vector<double> v(1 << 20);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 0.5;
  const std::vector<double> copy = v;
  const double* storage = v.data();
  owned_bytes b = encode_moved(std::move(v));
  EXPECT_EQ(reinterpret_cast<const double*>(b.data()), storage)
      << "the vector's storage was copied";
  EXPECT_EQ(b.size(), copy.size() * sizeof(double));
  EXPECT_TRUE(v.empty());  // NOLINT(bugprone-use-after-move): it was adopted
  std::vector<double> out;
  decode(b.data(), b.size(), out);
  EXPECT_EQ(out, copy);
}

TEST(codec, encode_moved_adopts_a_large_rvalue_string) {
  std::string s(100000, 'q');
  s[500] = '\0';
  const std::string copy = s;
  const char* storage = s.data();
  owned_bytes b = encode_moved(std::move(s));
  EXPECT_EQ(reinterpret_cast<const char*>(b.data()), storage);
  std::string out;
  decode(b.data(), b.size(), out);
  EXPECT_EQ(out, copy);
}

TEST(codec, encode_moved_copies_lvalues_and_leaves_them_alone) {
  std::vector<int> v(100000, 3);
  owned_bytes b = encode_moved(v);
  EXPECT_NE(reinterpret_cast<const int*>(b.data()), v.data());
  ASSERT_EQ(v.size(), 100000u);
  EXPECT_EQ(std::memcmp(b.data(), v.data(), b.size()), 0);
  // Small rvalues and archived types still encode correctly, whatever the strategy.
  std::vector<int> small{1, 2, 3};
  owned_bytes sb = encode_moved(std::move(small));
  std::vector<int> out;
  decode(sb.data(), sb.size(), out);
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3}));
  std::vector<std::string> words{"a", "b"};
  owned_bytes wb = encode_moved(std::move(words));
  std::vector<std::string> wout;
  decode(wb.data(), wb.size(), wout);
  EXPECT_EQ(wout, (std::vector<std::string>{"a", "b"}));
}

TEST(codec, appending_to_adopted_storage_keeps_the_contents) {
  std::vector<std::uint8_t> v(8192);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>(i * 7);
  const std::vector<std::uint8_t> copy = v;
  owned_bytes b = encode_moved(std::move(v));
  b.append("tail", 4);  // must copy out of the adopted vector once, then free it
  ASSERT_EQ(b.size(), copy.size() + 4);
  EXPECT_EQ(std::memcmp(b.data(), copy.data(), copy.size()), 0);
  EXPECT_EQ(std::memcmp(b.data() + copy.size(), "tail", 4), 0);
}

// --- one allocation, one pass -------------------------------------------------------------

// A type whose copies are not raw bytes (a user-defined copy constructor): it goes through the
// archive even though its members are plain.
struct tracked {
  int id = 0;
  std::vector<double> data;
  tracked() = default;
  tracked(int i, std::vector<double> d) : id(i), data(std::move(d)) {}
  tracked(const tracked& o) : id(o.id), data(o.data) {}
  tracked& operator=(const tracked&) = default;
  template <class Archive>
  void serialize(Archive& a) {
    a(id, data);
  }
  friend bool operator==(const tracked& a, const tracked& b) {
    return a.id == b.id && a.data == b.data;
  }
};
static_assert(!std::is_trivially_copyable_v<tracked>);

// Trivially copyable, but without copy assignment (a const member): a raw vector of these
// cannot be assign()ed, and still decodes.
struct stamped {
  const int id = 0;
  double value = 0;
};
static_assert(std::is_trivially_copyable_v<stamped> && !std::is_copy_assignable_v<stamped>);

// What cereal::BinaryOutputArchive writes for `value`.
template <class T>
std::string cereal_binary(const T& value) {
  std::ostringstream os;
  {
    cereal::BinaryOutputArchive archive(os);
    archive(value);
  }
  return os.str();
}

std::string bytes_of(const owned_bytes& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

TEST(codec, new_buffers_are_allocated_at_their_exact_size) {
  // Growing by doubling left a 16 MiB map in 32 MiB of capacity; the size is known first now.
  std::map<std::string, std::vector<int>> big;
  for (int k = 0; k < 300; ++k)
    big["key" + std::to_string(k)] = std::vector<int>(static_cast<std::size_t>(1000 + k), k);
  owned_bytes mb = encode(big);
  EXPECT_EQ(mb.capacity(), mb.size());
  EXPECT_EQ(mb.size(), cereal_binary(big).size());
  EXPECT_EQ(mb.size(), parrun::detail::archived_size(big));

  owned_bytes lb = encode(std::vector<double>(3000, 1.0));  // beyond the pooled sizes: exact
  EXPECT_EQ(lb.size(), 24000u);
  EXPECT_EQ(lb.capacity(), lb.size());
  // Up to 16 KiB, buffers come from the pool's power-of-two classes (bytes.hpp), so a loop of
  // messages reuses them: the smallest class that holds the size, never less than 64 bytes.
  owned_bytes vb = encode(std::vector<double>(1000, 1.0));
  EXPECT_EQ(vb.size(), 8000u);
  EXPECT_EQ(vb.capacity(), 8192u);
  owned_bytes xb = encode(std::int16_t{7});
  EXPECT_EQ(xb.capacity(), 64u);
  owned_bytes small = encode(std::map<int, std::string>{{1, "one"}, {2, "two"}});
  EXPECT_GE(small.capacity(), small.size());
  EXPECT_LT(small.capacity(), std::max<std::size_t>(64, 2 * small.size()) + 1);
  EXPECT_EQ(encode(std::vector<double>{}).size(), 0u);
}

TEST(codec, archives_write_and_read_cereals_own_binary_format) {
  random_values r(11);
  for (int i = 0; i < 20; ++i) {
    const record rec = r.any_record();
    EXPECT_EQ(bytes_of(encode(rec)), cereal_binary(rec));
    std::map<std::string, std::vector<int>> groups;
    for (std::size_t k = r.size() % 20; k > 0; --k) groups[r.string(5)] = r.ints(r.size() % 100);
    EXPECT_EQ(bytes_of(encode(groups)), cereal_binary(groups));
    std::vector<bool> bits(r.size());
    for (std::size_t k = 0; k < bits.size(); ++k) bits[k] = r.pick(0, 1) == 1;
    EXPECT_EQ(bytes_of(encode(bits)), cereal_binary(bits));
    const std::tuple<colour, std::optional<std::string>, std::variant<int, std::vector<double>>> t{
        colour::blue, r.string(), r.doubles(r.size() % 30)};
    EXPECT_EQ(bytes_of(encode(t)), cereal_binary(t));
    const std::vector<std::u16string> wide{u"", u"grüße",
                                           std::u16string(r.size() % 100, u'\u20ac')};
    EXPECT_EQ(bytes_of(encode(wide)), cereal_binary(wide));

    // And what Cereal wrote, the codec reads.
    const std::string theirs = cereal_binary(rec);
    record back;
    decode(reinterpret_cast<const std::byte*>(theirs.data()), theirs.size(), back);
    EXPECT_EQ(back, rec);
  }
}

TEST(codec, empty_containers_round_trip) {
  EXPECT_EQ(round_trip(std::vector<double>{}), std::vector<double>{});
  EXPECT_EQ(round_trip(std::vector<particle>{}), std::vector<particle>{});
  EXPECT_EQ(round_trip(std::string{}), std::string{});
  EXPECT_EQ(round_trip(std::u32string{}), std::u32string{});
  EXPECT_EQ(round_trip(std::vector<bool>{}), std::vector<bool>{});
  EXPECT_EQ(round_trip(std::vector<std::string>{}), std::vector<std::string>{});
  EXPECT_EQ(round_trip(std::vector<std::string>{"", "", ""}),
            (std::vector<std::string>{"", "", ""}));
  const std::map<std::string, std::vector<int>> empties{{"", {}}, {"a", {}}, {"b", {1}}};
  EXPECT_EQ(round_trip(empties), empties);
  const std::vector<std::vector<double>> ragged{{}, {1.5}, {}, {2.5, 3.5}, {}};
  EXPECT_EQ(round_trip(ragged), ragged);
  // Decoding an empty value empties a target that held something.
  std::vector<double> v(100, 1.0);
  owned_bytes b = encode(std::vector<double>{});
  decode(b.data(), b.size(), v);
  EXPECT_TRUE(v.empty());
}

TEST(codec, nested_and_non_trivially_copyable_types_round_trip) {
  random_values r(12);
  for (int i = 0; i < iterations; ++i) {
    std::vector<tracked> ts(r.size() % 30);
    for (tracked& t : ts) t = tracked(r.any_int(), r.doubles(r.size() % 50));
    EXPECT_EQ(round_trip(ts), ts);

    std::map<int, std::vector<std::vector<std::string>>> deep;
    for (int k = r.pick(0, 5); k > 0; --k) {
      auto& rows = deep[r.any_int()];
      rows.resize(r.size() % 5);
      for (auto& row : rows)
        for (std::size_t n = r.size() % 6; n > 0; --n) row.push_back(r.string());
    }
    EXPECT_EQ(round_trip(deep), deep);

    std::vector<std::pair<std::vector<bool>, std::u16string>> mixed(r.size() % 10);
    for (auto& [bits, text] : mixed) {
      bits.resize(r.size() % 70);
      for (std::size_t k = 0; k < bits.size(); ++k) bits[k] = r.pick(0, 1) == 1;
      text = std::u16string(r.size() % 40, static_cast<char16_t>(r.pick(1, 0xd7ff)));
    }
    EXPECT_EQ(round_trip(mixed), mixed);
  }
}

TEST(codec, raw_elements_without_copy_assignment_round_trip) {
  std::vector<stamped> v;
  for (int i = 0; i < 50; ++i) v.push_back(stamped{i, i * 0.25});
  owned_bytes b = encode(v);
  std::vector<stamped> out(3);
  decode(b.data(), b.size(), out);
  ASSERT_EQ(out.size(), v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(out[i].id, v[i].id);
    EXPECT_EQ(out[i].value, v[i].value);
  }
}

TEST(codec, bytes_at_any_alignment_decode) {
  // A message's bytes may sit at any offset of a transport buffer.
  random_values r(13);
  const std::vector<double> doubles = r.doubles(1000);
  std::vector<particle> particles(37);
  for (particle& p : particles) p = r.any_particle();
  const std::u32string wide(99, U'\U0001F600');
  std::map<std::string, std::vector<double>> nested{{"a", r.doubles(10)}, {"bc", r.doubles(77)}};
  nested["e"];
  const std::vector<std::u16string> texts{u"x", u"grüße", std::u16string(31, u'\u20ac')};
  for (std::size_t offset = 0; offset < 8; ++offset) {
    auto check = [offset](const auto& value) {
      using T = std::remove_cvref_t<decltype(value)>;
      owned_bytes b = encode(value);
      std::vector<std::byte> shifted(b.size() + offset + 1);
      if (b.size() != 0) std::memcpy(shifted.data() + offset, b.data(), b.size());
      T out{};
      decode(shifted.data() + offset, b.size(), out);
      EXPECT_EQ(out, value) << "at offset " << offset;
    };
    check(doubles);
    check(particles);
    check(wide);
    check(nested);
    check(texts);
  }
}

// An allocator that counts the elements it value-initializes (what resize() does before the
// bytes overwrite them).
inline std::size_t value_initialized = 0;
template <class T>
struct counting_allocator {
  using value_type = T;
  counting_allocator() = default;
  template <class U>
  counting_allocator(const counting_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
  template <class U>
  void construct(U* p) {
    ++value_initialized;
    ::new (static_cast<void*>(p)) U();
  }
  template <class U, class... A>
  void construct(U* p, A&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(args)...);
  }
  template <class U>
  bool operator==(const counting_allocator<U>&) const noexcept {
    return true;
  }
};

TEST(codec, decoding_builds_vectors_without_zero_filling_them_first) {
  using counted = std::vector<int, counting_allocator<int>>;
  counted v;
  for (int i = 0; i < 1000; ++i) v.push_back(i * 3);
  value_initialized = 0;
  counted raw = round_trip(v);
  EXPECT_EQ(raw, v);
  EXPECT_EQ(value_initialized, 0u) << "the raw vector was resized (zero-filled) before the copy";

  // Inside an archive too (Cereal's own load resizes first).
  std::map<std::string, counted> nested{
      {"a", v}, {"b", counted{}}, {"c", counted(v.begin(), v.begin() + 7)}};
  value_initialized = 0;
  const auto back = round_trip(nested);
  EXPECT_EQ(back, nested);
  EXPECT_EQ(value_initialized, 0u)
      << "an archived vector was resized (zero-filled) before the copy";
}

TEST(codec, decoding_into_a_vector_with_room_reuses_its_storage) {
  std::vector<double> v;
  v.reserve(1000);
  v.assign(500, 9.0);
  const double* storage = v.data();
  owned_bytes b = encode(std::vector<double>{1, 2, 3, 4});
  decode(b.data(), b.size(), v);
  EXPECT_EQ(v, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(v.data(), storage) << "decoding reallocated a vector that had room";
  // Larger than its capacity: replaced, contents exact.
  std::vector<double> big(5000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<double>(i);
  owned_bytes bb = encode(big);
  decode(bb.data(), bb.size(), v);
  EXPECT_EQ(v, big);
}

TEST(codec, adopted_and_shared_payloads_keep_their_bytes_alive) {
  using parrun::detail::payload;
  EXPECT_EQ(payload::adopt(owned_bytes{}).size(), 0u);
  for (int i = 0; i < 1000; ++i) {  // the bookkeeping blocks are reused
    const std::string text = "message " + std::to_string(i);
    owned_bytes b = owned_bytes::copy_of(text.data(), text.size());
    const std::byte* storage = b.data();
    payload p = payload::adopt(std::move(b));
    ASSERT_EQ(p.data(), storage) << "adopting copied the bytes";
    owned_bytes forwarded = p.share();
    ASSERT_EQ(forwarded.data(), storage) << "sharing copied the bytes";
    p = payload{};  // the shared buffer alone keeps them now
    ASSERT_EQ(std::string(reinterpret_cast<const char*>(forwarded.data()), forwarded.size()), text);
    if (i % 10 == 0) {
      // ZeroMQ frees a sent buffer on its own thread.
      std::thread([f = std::move(forwarded)]() mutable { f = owned_bytes{}; }).join();
    }
  }
}

}  // namespace

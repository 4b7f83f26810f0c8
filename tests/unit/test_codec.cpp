// The codec (include/parrun/detail/codec.hpp): every supported type round-trips with random values
// and random sizes (0 included), each type travels by the encoding the docs promise, malformed
// bytes throw truncation_error with numbers in the message, and an rvalue vector is adopted
// rather than copied.
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
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

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

}  // namespace

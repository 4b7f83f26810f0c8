// Type fingerprints and readable names (include/parrun/detail/type_id.hpp,
// runtime/type_registry.cpp): names are demangled and shortened to what a user wrote
// (std::vector<double>, std::string, std::map<std::string, int>), every type the program uses is
// known by its fingerprint from start-up on, and status::holds / type_name agree with them.
#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <typeinfo>
#include <unordered_map>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <parrun/detail/type_id.hpp>
#include <parrun/status.hpp>

namespace user_space {
struct particle {
  double x, y;
};
template <class T>
struct box {
  T value;
};
// Used only by the start-up registration test, after the check that it is known.
struct seen_only_later {
  int v;
};
}  // namespace user_space

namespace {

using parrun::detail::fingerprint_of;
using parrun::detail::type_name;
using parrun::detail::type_name_of;
using parrun::detail::type_of;

template <class T>
std::string name() {
  return type_name(type_of<T>());
}

TEST(type_names, standard_types_read_as_written) {
  EXPECT_EQ(name<int>(), "int");
  EXPECT_EQ(name<double>(), "double");
  EXPECT_EQ(name<std::string>(), "std::string");
  EXPECT_EQ(name<std::vector<double>>(), "std::vector<double>");
  EXPECT_EQ(name<std::vector<int>>(), "std::vector<int>");
  EXPECT_EQ(name<std::vector<bool>>(), "std::vector<bool>");
  EXPECT_EQ(name<std::vector<std::string>>(), "std::vector<std::string>");
  EXPECT_EQ((name<std::map<std::string, int>>()), "std::map<std::string, int>");
  EXPECT_EQ((name<std::map<std::string, std::vector<int>>>()),
            "std::map<std::string, std::vector<int>>");
  EXPECT_EQ(name<std::vector<std::vector<double>>>(), "std::vector<std::vector<double>>");
  EXPECT_EQ(name<std::set<int>>(), "std::set<int>");
  EXPECT_EQ((name<std::unordered_map<std::string, int>>()), "std::unordered_map<std::string, int>");
  EXPECT_EQ(name<std::optional<std::string>>(), "std::optional<std::string>");
  EXPECT_EQ((name<std::variant<int, std::string>>()), "std::variant<int, std::string>");
  EXPECT_EQ((name<std::pair<int, std::string>>()), "std::pair<int, std::string>");
}

TEST(type_names, the_cxx11_inline_namespace_is_hidden) {
  const std::string list = name<std::list<int>>();
  const std::string u16 = name<std::u16string>();
  EXPECT_EQ(list, "std::list<int>");
  EXPECT_EQ(u16, "std::basic_string<char16_t>");
}

TEST(type_names, arguments_that_are_not_the_defaults_are_kept) {
  // Two different types must not read the same: a type_mismatch between them would say
  // "is of type X, but it was received as X".
  const std::string transparent = name<std::map<std::string, int, std::less<>>>();
  const std::string tuple = name<std::tuple<int, std::less<int>, int>>();
  EXPECT_NE(transparent, (name<std::map<std::string, int>>()));
  EXPECT_EQ(tuple, "std::tuple<int, std::less<int>, int>");
  EXPECT_NE(transparent.find("less<void>"), std::string::npos) << transparent;
}

TEST(type_names, user_types_keep_their_namespace) {
  EXPECT_EQ(name<user_space::particle>(), "user_space::particle");
  EXPECT_EQ(name<user_space::box<std::string>>(), "user_space::box<std::string>");
  EXPECT_EQ(name<std::vector<user_space::particle>>(), "std::vector<user_space::particle>");
}

TEST(type_names, cv_and_references_do_not_change_the_type) {
  EXPECT_EQ(type_of<const std::vector<double>&>().hash, type_of<std::vector<double>>().hash);
  EXPECT_EQ(type_of<std::string&&>().hash, type_of<std::string>().hash);
  EXPECT_EQ(type_of<volatile int>().hash, type_of<int>().hash);
}

TEST(type_names, fingerprints_are_the_hash_of_the_mangled_name_and_tell_types_apart) {
  EXPECT_EQ(type_of<std::vector<double>>().hash,
            fingerprint_of(typeid(std::vector<double>).name()));
  const std::uint64_t hashes[] = {type_of<int>().hash,
                                  type_of<unsigned>().hash,
                                  type_of<long>().hash,
                                  type_of<float>().hash,
                                  type_of<double>().hash,
                                  type_of<std::string>().hash,
                                  type_of<std::vector<int>>().hash,
                                  type_of<std::vector<double>>().hash,
                                  type_of<std::vector<float>>().hash,
                                  type_of<std::array<int, 3>>().hash,
                                  type_of<std::array<int, 4>>().hash,
                                  type_of<user_space::particle>().hash};
  const std::set<std::uint64_t> distinct(std::begin(hashes), std::end(hashes));
  EXPECT_EQ(distinct.size(), std::size(hashes));
  EXPECT_NE(fingerprint_of("i"), fingerprint_of("j"));
  EXPECT_NE(fingerprint_of("ab"), fingerprint_of("ba"));
}

TEST(type_names, fingerprint_is_fnv1a_as_documented) {
  // type_id.hpp says "FNV-1a, 64 bit"; these are FNV-1a's published test vectors.
  EXPECT_EQ(fingerprint_of(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fingerprint_of("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fingerprint_of("foobar"), 0x85944171f73967e8ull);
}

TEST(type_names, names_are_found_by_fingerprint) {
  EXPECT_EQ(type_name_of(type_of<std::vector<double>>().hash), "std::vector<double>");
  EXPECT_EQ((type_name_of(type_of<std::map<std::string, int>>().hash)),
            "std::map<std::string, int>");
}

TEST(type_names, every_type_the_program_uses_is_known_from_start_up) {
  // `seen_only_later` reaches type_of only in the function below, which has not run yet: its
  // name must be known anyway, or a receiver could not name a sender's type.
  const std::uint64_t hash = fingerprint_of(typeid(user_space::seen_only_later).name());
  EXPECT_EQ(type_name_of(hash), "user_space::seen_only_later");
}
[[maybe_unused]] const parrun::detail::type_id& use_later() {
  return type_of<user_space::seen_only_later>();
}

TEST(type_names, unknown_fingerprint_is_described_with_its_hex_value) {
  const std::string n = type_name_of(0x00000000deadbeefull);
  EXPECT_NE(n.find("never uses"), std::string::npos) << n;
  EXPECT_NE(n.find("00000000deadbeef"), std::string::npos) << n;
}

TEST(type_names, status_reports_the_type_it_holds) {
  const parrun::status st(3, 7, 24, type_of<std::vector<double>>().hash);
  EXPECT_EQ(st.source(), 3);
  EXPECT_EQ(st.tag(), 7);
  EXPECT_EQ(st.bytes(), 24u);
  EXPECT_TRUE(st.holds<std::vector<double>>());
  EXPECT_TRUE(st.holds<const std::vector<double>&>());
  EXPECT_FALSE(st.holds<std::vector<float>>());
  EXPECT_FALSE(st.holds<std::string>());
  EXPECT_EQ(st.type_name(), "std::vector<double>");
  const parrun::status empty;
  EXPECT_EQ(empty.source(), -1);
  EXPECT_EQ(empty.tag(), -1);
  EXPECT_EQ(empty.bytes(), 0u);
}

}  // namespace

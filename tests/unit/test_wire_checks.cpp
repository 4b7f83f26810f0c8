// Nothing read from the wire is trusted (issue: hardening). Without processes:
//   - decoded counts are checked against the bytes left before anything is allocated (the
//     bounded Cereal archive), for typed messages and for control messages alike;
//   - envelopes with impossible fields are recognised (frame_check.hpp);
//   - the engine drops such frames, on arrival or when their communicator appears, and keeps
//     delivering good ones (a fake transport feeds it crafted frames);
//   - the ZAP verdict refuses other users and processes without the job secret.
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <parrun/detail/net.hpp>
#include <zmq.h>
#include <sys/resource.h>

#include <parrun/detail/codec.hpp>
#include <parrun/errors.hpp>
#include <parrun/status.hpp>
#include <parrun/wire.hpp>

#include "comm_impl.hpp"
#include "contexts.hpp"
#include "engine.hpp"
#include "frame_check.hpp"
#include "transport/zmq/zap_handler.hpp"

namespace {

using namespace parrun::detail;

// Resident memory high-water mark of this process, in MiB.
long peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

std::vector<std::byte> bytes_of(std::initializer_list<std::uint64_t> words) {
  std::vector<std::byte> out(words.size() * 8);
  std::size_t i = 0;
  for (std::uint64_t w : words) std::memcpy(out.data() + 8 * i++, &w, 8);
  return out;
}

TEST(bounded_decode, a_count_beyond_the_bytes_left_fails_before_allocating) {
  // Eight bytes under std::vector<std::string>'s encoding claiming 2^26 elements.
  const auto bytes = bytes_of({std::uint64_t{1} << 26});
  const long before = peak_rss_mib();
  std::vector<std::string> out;
  try {
    decode(bytes.data(), bytes.size(), out);
    FAIL() << "decoded " << out.size() << " strings from 8 bytes";
  } catch (const parrun::truncation_error& e) {
    EXPECT_NE(std::string(e.what()).find("67108864"), std::string::npos) << e.what();
  }
  EXPECT_LT(peak_rss_mib() - before, 64) << "the decode allocated on trust";
}

TEST(bounded_decode, a_string_length_beyond_the_bytes_left_fails) {
  const auto bytes = bytes_of({std::uint64_t{3} << 30, 0});  // a 3 GiB string in 16 bytes
  std::map<std::string, int> out;
  const auto with_count = bytes_of({1, std::uint64_t{3} << 30, 0});
  EXPECT_THROW(decode(with_count.data(), with_count.size(), out), parrun::truncation_error);
  std::vector<std::vector<int>> nested;
  EXPECT_THROW(decode(bytes.data(), bytes.size(), nested), parrun::truncation_error);
}

struct empty_thing {
  template <class A> void serialize(A&) {}
  bool operator==(const empty_thing&) const = default;
};

TEST(bounded_decode, elements_that_encode_to_nothing_still_round_trip_in_moderate_numbers) {
  const std::vector<empty_thing> in(1000);
  const owned_bytes b = encode(in);
  std::vector<empty_thing> out;
  decode(b.data(), b.size(), out);
  EXPECT_EQ(out.size(), 1000u);
}

TEST(bounded_decode, ordinary_values_round_trip) {
  const std::map<std::string, std::vector<int>> in{{"a", {1, 2, 3}}, {"", {}}, {"long key", std::vector<int>(5000, 7)}};
  const owned_bytes b = encode(in);
  std::map<std::string, std::vector<int>> out;
  decode(b.data(), b.size(), out);
  EXPECT_EQ(out, in);
}

TEST(bounded_decode, a_control_message_claiming_a_huge_secret_is_refused_without_allocating) {
  // kind byte + version + a 3 GiB length for the secret: 13 bytes.
  std::string hello(1, static_cast<char>(parrun::wire::kind::hello));
  const std::uint32_t version = parrun::wire::protocol_version;
  hello.append(reinterpret_cast<const char*>(&version), 4);
  const std::uint64_t huge = std::uint64_t{3} << 30;
  hello.append(reinterpret_cast<const char*>(&huge), 8);
  const long before = peak_rss_mib();
  EXPECT_THROW(parrun::wire::decode<parrun::wire::hello>(hello), cereal::Exception);
  EXPECT_LT(peak_rss_mib() - before, 64);
  // And a good one still decodes.
  parrun::wire::hello h;
  h.secret = "s3cret";
  h.rank = 3;
  EXPECT_EQ(parrun::wire::decode<parrun::wire::hello>(parrun::wire::encode(parrun::wire::kind::hello, h)).secret, "s3cret");
  EXPECT_THROW(parrun::wire::decode<parrun::wire::hello>(""), cereal::Exception);
}

envelope env(std::uint64_t context, std::int32_t tag, std::int32_t source, std::uint32_t flags,
             std::uint32_t world_source) {
  return envelope{context, 0, tag, source, flags, world_source};
}

TEST(frame_check, impossible_world_sources_are_recognised) {
  EXPECT_NE(envelope_problem(env(0, 1, 0, 0, 0xfffffff0u), 2, 1), nullptr);
  EXPECT_NE(envelope_problem(env(0, 1, 0, 0, 1000), 2, 1), nullptr);
  EXPECT_NE(envelope_problem(env(0, 1, 0, 0, 1), 2, 1), nullptr) << "from myself";
  EXPECT_EQ(envelope_problem(env(0, 1, 0, 0, 0), 2, 1), nullptr);
}

TEST(frame_check, fields_each_space_does_not_use_are_recognised) {
  EXPECT_NE(envelope_problem(env(0, 1, -7, 0, 0), 2, 1), nullptr) << "negative source";
  EXPECT_NE(envelope_problem(env(0, -3, 0, 0, 0), 2, 1), nullptr) << "negative user tag";
  EXPECT_NE(envelope_problem(env(0, 1, 0, 8, 0), 2, 1), nullptr) << "user message with flags";
  EXPECT_NE(envelope_problem(env(2, 1, 0, 0, 0), 2, 1), nullptr) << "channel frame of no kind";
  EXPECT_NE(envelope_problem(env(3, 1, 0, 0, 0), 2, 1), nullptr) << "a fourth space";
  EXPECT_NE(envelope_problem(env(engine_context, 5, 0, 0, 0), 2, 1), nullptr) << "unknown engine tag";
  EXPECT_EQ(envelope_problem(env(engine_context, fin_tag, 0, 0, 0), 2, 1), nullptr);
  EXPECT_EQ(envelope_problem(env(2, 1, 0, 4, 0), 2, 1), nullptr);
}

TEST(frame_check, a_source_must_be_the_communicator_rank_of_the_sender) {
  const std::vector<int> members{4, 2, 7};  // communicator rank -> world rank
  EXPECT_EQ(source_problem(env(8, 0, 1, 0, 2), members), nullptr);
  EXPECT_NE(source_problem(env(8, 0, 2, 0, 2), members), nullptr) << "rank 2 is world rank 7";
  EXPECT_NE(source_problem(env(8, 0, 3, 0, 2), members), nullptr) << "beyond the communicator";
  EXPECT_NE(source_problem(env(8, 0, 0x7fffffff, 0, 2), members), nullptr);
}

// Feeds the engine crafted frames.
class fake_transport final : public transport {
 public:
  std::deque<frame> incoming;
  std::uint64_t post(int, const envelope&, owned_bytes&&) override { return 1; }
  bool taken(int, std::uint64_t) const override { return true; }
  std::size_t progress(std::chrono::milliseconds, frame_sink& sink) override {
    std::size_t n = 0;
    for (; !incoming.empty(); ++n) {
      sink.on_frame(std::move(incoming.front()));
      incoming.pop_front();
    }
    return n;
  }
  void close() noexcept override {}
};

frame make_frame(const envelope& e, int value) {
  owned_bytes b;
  b.append(&value, sizeof value);
  return frame{e, payload::adopt(std::move(b))};
}

struct engine_fixture : ::testing::Test {
  fake_transport* wire = nullptr;
  std::shared_ptr<engine> eng;
  void SetUp() override {
    job_info info;
    info.size = 2;
    info.rank = 1;
    info.hosts = {"a", "b"};
    auto t = std::make_unique<fake_transport>();
    wire = t.get();
    eng = std::make_shared<engine>(info, std::move(t));
  }
  std::size_t unexpected() const { return eng->matching().unexpected().size(); }
};

TEST_F(engine_fixture, frames_with_impossible_fields_are_dropped_and_good_ones_delivered) {
  comm_impl world(eng, 0, 1, {0, 1});
  testing::internal::CaptureStderr();
  wire->incoming.push_back(make_frame(env(0, 7, 0, 0, 0xfffffff0u), 1));           // crashed it
  wire->incoming.push_back(make_frame(env(0, 7, 0, 0, 1000), 2));                  // read freed memory
  wire->incoming.push_back(make_frame(env(engine_context, fin_tag, 0, 0, 0x7ffffff0u), 3));  // threw
  wire->incoming.push_back(make_frame(env(0, 7, -7, 0, 0), 4));                    // reached the program
  wire->incoming.push_back(make_frame(env(2, 3, 0x7ffffff0, 4, 0), 5));            // channel close
  wire->incoming.push_back(make_frame(env(0, 7, 0, 0, 0), 6));                     // the real one
  eng->poll();
  const std::string warnings = testing::internal::GetCapturedStderr();
  ASSERT_EQ(unexpected(), 1u) << warnings;
  const frame& f = eng->matching().unexpected().front();
  int v = 0;
  std::memcpy(&v, f.body.data(), sizeof v);
  EXPECT_EQ(v, 6);
  EXPECT_NE(warnings.find("dropped a frame"), std::string::npos) << warnings;
}

TEST_F(engine_fixture, frames_that_came_before_their_communicator_are_checked_when_it_appears) {
  comm_impl world(eng, 0, 1, {0, 1});
  const std::uint64_t base = 64;
  testing::internal::CaptureStderr();
  wire->incoming.push_back(make_frame(env(base, 1, 5, 0, 0), 1));  // no such rank in it
  wire->incoming.push_back(make_frame(env(base, 1, 0, 0, 0), 2));
  eng->poll();
  EXPECT_EQ(unexpected(), 2u) << "kept until its communicator exists";
  { comm_impl pair(eng, base, 1, {0, 1}); }
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(unexpected(), 1u);
}

TEST(zap, only_the_same_user_knowing_the_secret_is_accepted) {
  EXPECT_TRUE(judge_zap_request(":1000:1000:42", "PLAIN", "s3cret", "s3cret", 1000).accepted);
  EXPECT_TRUE(judge_zap_request("localhost:1000:1000:42", "PLAIN", "s3cret", "s3cret", 1000).accepted);
  const zap_verdict other = judge_zap_request(":65534:65534:42", "PLAIN", "s3cret", "s3cret", 1000);
  EXPECT_FALSE(other.accepted);
  EXPECT_NE(other.why.find("65534"), std::string::npos) << other.why;
  EXPECT_FALSE(judge_zap_request(":1000:1000:42", "PLAIN", "guess", "s3cret", 1000).accepted);
  EXPECT_FALSE(judge_zap_request(":1000:1000:42", "PLAIN", "", "s3cret", 1000).accepted);
  EXPECT_FALSE(judge_zap_request(":1000:1000:42", "NULL", "", "s3cret", 1000).accepted);
  EXPECT_FALSE(judge_zap_request("127.0.0.1", "PLAIN", "s3cret", "s3cret", 1000).accepted) << "no credentials";
  EXPECT_FALSE(judge_zap_request("", "PLAIN", "s3cret", "s3cret", 1000).accepted);
}

TEST(zap, across_hosts_only_a_client_holding_the_job_key_is_accepted) {
  char pub[41] = {}, sec[41] = {}, other_pub[41] = {}, other_sec[41] = {};
  ASSERT_EQ(zmq_curve_keypair(pub, sec), 0);
  ASSERT_EQ(zmq_curve_keypair(other_pub, other_sec), 0);
  auto binary = [](const char* z85) {
    std::string key(32, '\0');
    zmq_z85_decode(reinterpret_cast<std::uint8_t*>(key.data()), z85);
    return key;
  };
  EXPECT_TRUE(judge_curve_request("CURVE", binary(pub), pub).accepted);
  const zap_verdict stranger = judge_curve_request("CURVE", binary(other_pub), pub);
  EXPECT_FALSE(stranger.accepted);
  EXPECT_NE(stranger.why.find("key"), std::string::npos) << stranger.why;
  EXPECT_FALSE(judge_curve_request("NULL", "", pub).accepted);
  EXPECT_FALSE(judge_curve_request("PLAIN", binary(pub), pub).accepted);
  EXPECT_FALSE(judge_curve_request("CURVE", binary(pub).substr(0, 31), pub).accepted) << "a short key";
  EXPECT_FALSE(judge_curve_request("CURVE", binary(pub), "not a key").accepted);
}

TEST(net, port_ranges_cidr_blocks_and_endpoints) {
  namespace net = parrun::detail::net;
  EXPECT_EQ(net::parse_port_range("5000-5010").first, 5000);
  EXPECT_EQ(net::parse_port_range("5000-5010").last, 5010);
  EXPECT_EQ(net::parse_port_range("7").last, 7);
  for (const char* bad : {"", "-", "a-b", "5-4", "0-10", "1-70000", "1--2", " 5"})
    EXPECT_THROW(net::parse_port_range(bad), std::invalid_argument) << bad;
  EXPECT_TRUE(net::in_cidr("10.77.0.12", "10.77.0.0/24"));
  EXPECT_FALSE(net::in_cidr("10.78.0.12", "10.77.0.0/24"));
  EXPECT_TRUE(net::in_cidr("192.168.1.1", "0.0.0.0/0"));
  EXPECT_FALSE(net::in_cidr("10.77.0.12", "10.77.0.0/33"));
  EXPECT_FALSE(net::in_cidr("10.77.0.12", "eth0"));
  EXPECT_EQ(net::endpoint_host("tcp://10.1.2.3:4567"), "10.1.2.3");
  EXPECT_EQ(net::interface_address("lo"), "127.0.0.1");
  EXPECT_EQ(net::interface_address("127.0.0.0/8"), "127.0.0.1");
  EXPECT_THROW(net::interface_address("nosuchif0"), std::runtime_error);
  EXPECT_EQ(net::source_address_towards("127.0.0.1"), "127.0.0.1");
}

}  // namespace

// Where the ranks run (launcher/hosts.hpp): --host lists, hostfiles, Slurm's node lists and
// task counts, and the mapping of ranks onto hosts by slot or by node.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hosts.hpp"
#include "options.hpp"

namespace fs = std::filesystem;
using namespace parrun::launcher;

namespace {

// "a:4 b:1": a host list written out, so that one EXPECT_EQ shows a whole mismatch.
std::string show(const std::vector<host_slots>& hosts) {
  std::string out;
  for (const host_slots& h : hosts)
    out += (out.empty() ? "" : " ") + h.name + ":" + std::to_string(h.slots);
  return out;
}

// The message `f` throws as E; fails the test when it throws nothing or something else.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw another kind: " << e.what();
    return {};
  }
  ADD_FAILURE() << "threw nothing";
  return {};
}

std::string host_list_error(const std::string& text) {
  return message_of<usage_failure>([&] { parse_host_list(text); });
}

std::string hostfile_error(const std::string& text) {
  return message_of<usage_failure>([&] { parse_hostfile(text, "nodes.txt"); });
}

std::string nodelist_error(const std::string& text) {
  return message_of<std::invalid_argument>([&] { expand_slurm_nodelist(text); });
}

std::string tasks_error(const std::string& text) {
  return message_of<std::invalid_argument>([&] { expand_slurm_tasks_per_node(text); });
}

using names = std::vector<std::string>;
using ints = std::vector<int>;

}  // namespace

// --host

TEST(host_list, counts_and_default_of_one_slot) {
  EXPECT_EQ(show(parse_host_list("a:4,b:4,c")), "a:4 b:4 c:1");
  EXPECT_EQ(show(parse_host_list("solo")), "solo:1");
  EXPECT_EQ(show(parse_host_list("n1:65536")), "n1:65536");
  EXPECT_EQ(show(parse_host_list("n1:007")), "n1:7");
}

TEST(host_list, tolerates_whitespace_around_items) {
  EXPECT_EQ(show(parse_host_list(" a:2 ,\tb , c:3 ")), "a:2 b:1 c:3");
}

TEST(host_list, same_name_twice_merges_at_its_first_place) {
  EXPECT_EQ(show(parse_host_list("a:2,b,a:3,c,b")), "a:5 b:2 c:1");
}

TEST(host_list, refuses_bad_items_by_name) {
  EXPECT_EQ(host_list_error("a:4,b:x"),
            "--host: 'b:x' is not host or host:SLOTS (SLOTS from 1 to 65536)");
  for (const std::string item : {"b:0", "b:-1", "b:65537", "b:99999999999999999999", "b:", ":4",
                                 "b:1:2", "b::2", "b:+3", "a b", "b=2", "b:4x"})
    EXPECT_NE(host_list_error("a," + item).find("--host: '" + item + "' is not host"),
              std::string::npos)
        << item;
}

TEST(host_list, refuses_empty_items) {
  for (const char* text : {"", "a,,b", "a,", ",a", " , "})
    EXPECT_NE(host_list_error(text).find("--host: empty item in '"), std::string::npos) << text;
}

TEST(host_list, refuses_a_merged_count_beyond_the_limit) {
  EXPECT_NE(host_list_error("a:65536,a:1").find("host 'a' adds up to more than 65536 slots"),
            std::string::npos);
}

// Hostfiles

TEST(hostfile, all_three_forms_with_comments_and_blank_lines) {
  const std::string text =
      "# the rack\n"
      "a\n"
      "\n"
      "b slots=4   # the big one\n"
      "   \t\n"
      "c:2\n"
      "d slots=3 max_slots=8\n"
      "e\tslots=2\r\n"          // tabs and a CRLF line end
      "f max_slots=2 slots=5";  // no final newline, max_slots first
  EXPECT_EQ(show(parse_hostfile(text, "nodes.txt")), "a:1 b:4 c:2 d:3 e:2 f:5");
}

TEST(hostfile, comment_may_start_inside_a_word) {
  EXPECT_EQ(show(parse_hostfile("a#slots=9\nb slots=2#x\n", "f")), "a:1 b:2");
}

TEST(hostfile, same_name_twice_merges) {
  EXPECT_EQ(show(parse_hostfile("a slots=2\nb\na:3\n", "f")), "a:5 b:1");
}

TEST(hostfile, malformed_line_names_file_line_and_what_was_expected) {
  EXPECT_EQ(hostfile_error("a\nb slots=2\na slots=x\n"),
            "hostfile nodes.txt, line 3: expected 'host', 'host slots=N' or 'host:N' (N from 1 "
            "to 65536), got 'a slots=x'");
}

TEST(hostfile, refuses_each_malformed_form) {
  for (const std::string line :
       {"a slots=0", "a slots=", "a slots=65537", "a slots", "a slots=2 slots=3", "a:2 slots=3",
        "a:x", "a:1:2", "a b", "slots=2", "a max_slots=x", "a max_slots=2 max_slots=3",
        "a slots=-1", "a cpus=4"}) {
    const std::string what = hostfile_error("# header\n" + line + "\n");
    EXPECT_NE(what.find("hostfile nodes.txt, line 2: expected"), std::string::npos) << line;
    EXPECT_NE(what.find("got '" + line + "'"), std::string::npos) << line;
  }
}

TEST(hostfile, with_no_hosts_is_an_error) {
  EXPECT_EQ(hostfile_error(""), "hostfile nodes.txt names no hosts");
  EXPECT_EQ(hostfile_error("# only\n\n   # comments\n"), "hostfile nodes.txt names no hosts");
}

TEST(hostfile, merged_count_beyond_the_limit_names_the_line) {
  EXPECT_EQ(hostfile_error("a slots=65536\na\n"),
            "hostfile nodes.txt, line 2: host 'a' adds up to more than 65536 slots");
}

TEST(hostfile, read_from_disk) {
  const fs::path path =
      fs::temp_directory_path() / ("parrun-test-hosts-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path) << "x slots=2\ny\n";
  EXPECT_EQ(show(read_hostfile(path.string())), "x:2 y:1");
  std::ofstream(path) << "x slots=two\n";
  const std::string what = message_of<usage_failure>([&] { read_hostfile(path.string()); });
  EXPECT_NE(what.find("hostfile " + path.string() + ", line 1: expected"), std::string::npos);
  fs::remove(path);
}

TEST(hostfile, unreadable_file_says_why) {
  EXPECT_EQ(message_of<usage_failure>([] { read_hostfile("/nonexistent/parrun-hosts"); }),
            "hostfile /nonexistent/parrun-hosts: cannot read it: No such file or directory");
  // fopen opens a directory; the read is what fails.
  EXPECT_EQ(message_of<usage_failure>([] { read_hostfile("/"); }),
            "hostfile /: cannot read it: Is a directory");
}

// SLURM_JOB_NODELIST

TEST(slurm_nodelist, single_names_and_plain_lists) {
  EXPECT_EQ(expand_slurm_nodelist("h1"), names{"h1"});
  EXPECT_EQ(expand_slurm_nodelist("a,b,c"), (names{"a", "b", "c"}));
}

TEST(slurm_nodelist, ranges_and_single_numbers_in_brackets) {
  EXPECT_EQ(expand_slurm_nodelist("h[1-3,5]"), (names{"h1", "h2", "h3", "h5"}));
  EXPECT_EQ(expand_slurm_nodelist("h[7]"), names{"h7"});
  EXPECT_EQ(expand_slurm_nodelist("h[4-4]"), names{"h4"});
  EXPECT_EQ(expand_slurm_nodelist("[1-2]"), (names{"1", "2"}));
}

TEST(slurm_nodelist, keeps_zero_padding) {
  EXPECT_EQ(expand_slurm_nodelist("node[01-03]"), (names{"node01", "node02", "node03"}));
  EXPECT_EQ(expand_slurm_nodelist("n[098-101]"), (names{"n098", "n099", "n100", "n101"}));
  EXPECT_EQ(expand_slurm_nodelist("n[8-10]"), (names{"n8", "n9", "n10"}));
  EXPECT_EQ(expand_slurm_nodelist("n[007,010]"), (names{"n007", "n010"}));
  // The largest number there is, and a range ending there, still end.
  EXPECT_EQ(expand_slurm_nodelist("n[18446744073709551615]"), names{"n18446744073709551615"});
  EXPECT_EQ(expand_slurm_nodelist("n[18446744073709551614-18446744073709551615]"),
            (names{"n18446744073709551614", "n18446744073709551615"}));
  EXPECT_NE(nodelist_error("n[18446744073709551616]").find("is not N or N-M"), std::string::npos);
}

TEST(slurm_nodelist, several_brackets_give_the_cartesian_product_in_order) {
  EXPECT_EQ(expand_slurm_nodelist("a[1-2]b[3-4]"), (names{"a1b3", "a1b4", "a2b3", "a2b4"}));
  EXPECT_EQ(expand_slurm_nodelist("r[1-2]n[1,3]x"), (names{"r1n1x", "r1n3x", "r2n1x", "r2n3x"}));
}

TEST(slurm_nodelist, commas_outside_brackets_separate_names) {
  EXPECT_EQ(expand_slurm_nodelist("h[1-2],x,y[7]"), (names{"h1", "h2", "x", "y7"}));
}

TEST(slurm_nodelist, malformed_lists_say_what_is_wrong) {
  EXPECT_EQ(nodelist_error(""), "Slurm node list '': it is empty");
  EXPECT_EQ(nodelist_error("h[1-3"), "Slurm node list 'h[1-3': '[' without ']'");
  EXPECT_EQ(nodelist_error("h1-3]"), "Slurm node list 'h1-3]': ']' without '['");
  EXPECT_EQ(nodelist_error("h[1[2]]"), "Slurm node list 'h[1[2]]': '[' inside brackets");
  EXPECT_EQ(nodelist_error("h[5-3]"), "Slurm node list 'h[5-3]': range '5-3' runs backwards");
  EXPECT_EQ(nodelist_error("h[a-3]"),
            "Slurm node list 'h[a-3]': 'a-3' in brackets is not N or N-M");
  for (const char* text : {"h[]", "h[1,]", "h[1-]", "h[-2]", "h[1-2-3]", "h[+1]", "h[ 1]"})
    EXPECT_NE(nodelist_error(text).find("in brackets is not N or N-M"), std::string::npos) << text;
  for (const char* text : {"a,,b", "a,", ",a", ","})
    EXPECT_NE(nodelist_error(text).find("an empty name"), std::string::npos) << text;
}

TEST(slurm_nodelist, refuses_to_expand_past_a_million_nodes) {
  EXPECT_NE(nodelist_error("h[1-99999999999]").find("more than 1048576 nodes"), std::string::npos);
  EXPECT_NE(nodelist_error("a[1-2000]b[1-2000]").find("more than 1048576 nodes"),
            std::string::npos);
}

// SLURM_TASKS_PER_NODE

TEST(slurm_tasks_per_node, counts_and_repeats) {
  EXPECT_EQ(expand_slurm_tasks_per_node("4(x2),1"), (ints{4, 4, 1}));
  EXPECT_EQ(expand_slurm_tasks_per_node("2"), ints{2});
  EXPECT_EQ(expand_slurm_tasks_per_node("3,1"), (ints{3, 1}));
  EXPECT_EQ(expand_slurm_tasks_per_node("1,2(x3),5(x1)"), (ints{1, 2, 2, 2, 5}));
}

TEST(slurm_tasks_per_node, malformed_items_are_named) {
  EXPECT_EQ(tasks_error("4(x2),y"), "Slurm tasks per node '4(x2),y': 'y' is not N or N(xM)");
  for (const std::string item : {"", "0", "-1", "4(x0)", "4(x)", "4(2)", "4(x2", "4x2)", "(x2)",
                                 "4(x2))", "4(x2)1", "4 (x2)"})
    EXPECT_NE(tasks_error("1," + item).find("'" + item + "' is not N or N(xM)"), std::string::npos)
        << item;
  EXPECT_NE(tasks_error("1(x99999999)").find("more than 1048576 nodes"), std::string::npos);
}

// A Slurm allocation

TEST(slurm_allocation, pairs_nodes_with_their_task_counts) {
  EXPECT_EQ(show(slurm_hosts("node[01-03],gpu7", "4(x2),1,8")),
            "node01:4 node02:4 node03:1 gpu7:8");
}

TEST(slurm_allocation, counts_that_differ_are_both_reported) {
  const std::string what =
      message_of<std::invalid_argument>([] { slurm_hosts("h[1-3]", "2(x2)"); });
  EXPECT_EQ(what,
            "Slurm allocation: SLURM_JOB_NODELIST 'h[1-3]' names 3 nodes but "
            "SLURM_TASKS_PER_NODE '2(x2)' gives 2 counts");
}

TEST(slurm_allocation, malformed_variables_pass_their_error_on) {
  EXPECT_NE(
      message_of<std::invalid_argument>([] { slurm_hosts("h[1-", "1"); }).find("Slurm node list"),
      std::string::npos);
  EXPECT_NE(message_of<std::invalid_argument>([] {
              slurm_hosts("h1", "x");
            }).find("Slurm tasks per node"),
            std::string::npos);
}

// --map-by

TEST(map_by_option, slot_or_node) {
  EXPECT_EQ(parse_map_by("slot"), map_by::slot);
  EXPECT_EQ(parse_map_by("node"), map_by::node);
  EXPECT_EQ(message_of<usage_failure>([] { parse_map_by("core"); }),
            "--map-by: 'core' is not slot or node");
  EXPECT_THROW(parse_map_by(""), usage_failure);
  EXPECT_THROW(parse_map_by("Slot"), usage_failure);
}

// Mapping ranks onto hosts

TEST(map_ranks, by_slot_fills_each_host_in_turn) {
  const std::vector<host_slots> hosts{{"a", 4}, {"b", 4}};
  EXPECT_EQ(map_ranks(hosts, 8, map_by::slot, false), (ints{0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(map_ranks(hosts, 5, map_by::slot, false), (ints{0, 0, 0, 0, 1}));
  EXPECT_EQ(map_ranks(hosts, 3, map_by::slot, false), (ints{0, 0, 0}));
  EXPECT_EQ(map_ranks({{"a", 1}, {"b", 3}, {"c", 2}}, 6, map_by::slot, false),
            (ints{0, 1, 1, 1, 2, 2}));
  EXPECT_EQ(map_ranks(hosts, 0, map_by::slot, false), ints{});
}

TEST(map_ranks, by_node_deals_round_robin_skipping_full_hosts) {
  const std::vector<host_slots> hosts{{"a", 2}, {"b", 2}, {"c", 2}};
  EXPECT_EQ(map_ranks(hosts, 6, map_by::node, false), (ints{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(map_ranks(hosts, 4, map_by::node, false), (ints{0, 1, 2, 0}));
  EXPECT_EQ(map_ranks({{"a", 1}, {"b", 3}, {"c", 2}}, 6, map_by::node, false),
            (ints{0, 1, 2, 1, 2, 1}));
}

TEST(map_ranks, too_many_ranks_without_oversubscribe_is_a_usage_failure) {
  const std::vector<host_slots> hosts{{"a", 4}, {"b", 4}};
  for (map_by how : {map_by::slot, map_by::node})
    EXPECT_EQ(message_of<usage_failure>([&] { map_ranks(hosts, 10, how, false); }),
              "-n 10: only 8 slots on 2 hosts (a:4, b:4); give more hosts or slots, or "
              "--oversubscribe");
  EXPECT_EQ(message_of<usage_failure>([] {
              map_ranks({{"a", 1}}, 2, map_by::slot, false);
            }),
            "-n 2: only 1 slot on 1 host (a:1); give more hosts or slots, or --oversubscribe");
}

TEST(map_ranks, the_error_lists_only_the_first_hosts) {
  std::vector<host_slots> hosts;
  for (int i = 0; i < 10; ++i) hosts.push_back({"h" + std::to_string(i), 1});
  EXPECT_NE(message_of<usage_failure>([&] {
              map_ranks(hosts, 11, map_by::slot, false);
            }).find("(h0:1, h1:1, h2:1, h3:1, h4:1, h5:1, h6:1, h7:1, and 2 more)"),
            std::string::npos);
}

TEST(map_ranks, oversubscribed_by_slot_spreads_the_extra_ranks_evenly_and_contiguously) {
  const std::vector<host_slots> hosts{{"a", 2}, {"b", 1}, {"c", 1}};
  // 4 slots, 3 extra ranks: one more for each host.
  EXPECT_EQ(map_ranks(hosts, 7, map_by::slot, true), (ints{0, 0, 0, 1, 1, 2, 2}));
  // 5 extra: each host gets one, then a and b one more.
  EXPECT_EQ(map_ranks(hosts, 9, map_by::slot, true), (ints{0, 0, 0, 0, 1, 1, 1, 2, 2}));
  // Within the slots, oversubscribe changes nothing.
  EXPECT_EQ(map_ranks(hosts, 3, map_by::slot, true), map_ranks(hosts, 3, map_by::slot, false));
}

TEST(map_ranks, oversubscribed_by_node_keeps_dealing_round_robin) {
  // a fills first, then b alone, then every host takes its turn again.
  EXPECT_EQ(map_ranks({{"a", 1}, {"b", 3}}, 6, map_by::node, true), (ints{0, 1, 1, 1, 0, 1}));
  EXPECT_EQ(map_ranks({{"a", 2}, {"b", 2}}, 7, map_by::node, true), (ints{0, 1, 0, 1, 0, 1, 0}));
}

TEST(map_ranks, refuses_what_the_parsers_never_give) {
  EXPECT_THROW(map_ranks({}, 1, map_by::slot, true), std::invalid_argument);
  EXPECT_THROW(map_ranks({{"a", 1}}, -1, map_by::slot, true), std::invalid_argument);
  EXPECT_THROW(map_ranks({{"a", 0}}, 1, map_by::node, true), std::invalid_argument);
}

TEST(map_ranks, parsed_hosts_end_to_end) {
  const auto hosts = parse_host_list("a:2,b:1,a:1");  // a:3 b:1
  EXPECT_EQ(map_ranks(hosts, 4, parse_map_by("node"), false), (ints{0, 1, 0, 0}));
  EXPECT_EQ(map_ranks(hosts, 4, parse_map_by("slot"), false), (ints{0, 0, 0, 1}));
}

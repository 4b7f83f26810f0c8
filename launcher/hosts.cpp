#include "hosts.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "options.hpp"

namespace parrun::launcher {
namespace {

// A host cannot usefully take more ranks than this; the cap also keeps every sum of slots
// far from int overflow.
constexpr int max_slots = 65536;
// A bound on what a Slurm variable may expand to, so a corrupt "h[1-999999999]" is refused
// instead of exhausting memory. Slurm's largest clusters have some tens of thousands of nodes.
constexpr std::size_t max_nodes = std::size_t{1} << 20;

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// Splits at every `sep`, keeping empty pieces so that callers can refuse them.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> pieces;
  for (std::size_t at = s.find(sep); at != std::string_view::npos; at = s.find(sep)) {
    pieces.push_back(s.substr(0, at));
    s.remove_prefix(at + 1);
  }
  pieces.push_back(s);
  return pieces;
}

// Words separated by any whitespace (a hostfile may use tabs, or CRLF line ends).
std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> words;
  for (s = trim(s); !s.empty(); s = trim(s)) {
    const auto end = std::find_if(s.begin(), s.end(), [](char c) {
      return std::isspace(static_cast<unsigned char>(c)) != 0;
    });
    const auto length = static_cast<std::size_t>(end - s.begin());
    words.push_back(s.substr(0, length));
    s.remove_prefix(length);
  }
  return words;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Plain decimal digits only: from_chars alone would also let a '-' through.
std::optional<unsigned long long> parse_unsigned(std::string_view s) {
  unsigned long long value = 0;
  if (!all_digits(s)) return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<int> parse_count(std::string_view s) {
  const auto value = parse_unsigned(s);
  if (!value || *value < 1 || *value > max_slots) return std::nullopt;
  return static_cast<int>(*value);
}

// A name is one word: characters that separate or annotate hosts in our own syntaxes
// would make the list mean something else on a second reading.
bool valid_host_name(std::string_view name) {
  return !name.empty() && std::none_of(name.begin(), name.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0 || c == ':' || c == ',' || c == '=';
  });
}

// `host` or `host:N`; nullopt when it is neither.
std::optional<host_slots> parse_host_item(std::string_view item) {
  const std::size_t colon = item.find(':');
  host_slots h{std::string(item.substr(0, colon)), 1};
  if (!valid_host_name(h.name)) return std::nullopt;
  if (colon == std::string_view::npos) return h;
  const auto slots = parse_count(item.substr(colon + 1));
  if (!slots) return std::nullopt;
  h.slots = *slots;
  return h;
}

// Adds `h` to `hosts`, merging into an earlier entry of the same name the way Open MPI does
// (a host listed twice offers both counts). False when the merged count exceeds max_slots.
bool add_host(std::vector<host_slots>& hosts, const host_slots& h) {
  const auto same = std::find_if(hosts.begin(), hosts.end(),
                                 [&h](const host_slots& e) { return e.name == h.name; });
  if (same == hosts.end()) {
    hosts.push_back(h);
    return true;
  }
  if (same->slots > max_slots - h.slots) return false;
  same->slots += h.slots;
  return true;
}

std::string too_many_slots(const std::string& where, const std::string& name) {
  return where + ": host '" + name + "' adds up to more than " + std::to_string(max_slots) +
         " slots";
}

// One hostfile line with its comment already gone: `host`, `host:N`, `host slots=N`, each
// optionally followed by `max_slots=M`, which we accept because Open MPI hostfiles carry it.
std::optional<host_slots> parse_hostfile_line(std::string_view line) {
  const std::vector<std::string_view> words = split_words(line);
  auto h = parse_host_item(words.front());
  if (!h) return std::nullopt;
  bool have_slots = words.front().find(':') != std::string_view::npos;
  bool have_max = false;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::string_view w = words[i];
    if (w.starts_with("slots=") && !have_slots) {
      const auto slots = parse_count(w.substr(6));
      if (!slots) return std::nullopt;
      h->slots = *slots;
      have_slots = true;
    } else if (w.starts_with("max_slots=") && !have_max && parse_count(w.substr(10))) {
      have_max = true;
    } else {
      return std::nullopt;
    }
  }
  return h;
}

[[noreturn]] void bad_nodelist(const std::string& text, const std::string& what) {
  throw std::invalid_argument("Slurm node list '" + text + "': " + what);
}

std::string zero_padded(unsigned long long n, std::size_t width) {
  const std::string digits = std::to_string(n);
  return std::string(width > digits.size() ? width - digits.size() : 0, '0') + digits;
}

// The names inside one bracket, "01-03,7" -> 01, 02, 03, 7; a range's numbers are as wide
// as its low end (Slurm writes node01..node10 as [01-10]).
std::vector<std::string> expand_bracket(std::string_view inside, const std::string& text) {
  std::vector<std::string> names;
  for (std::string_view item : split(inside, ',')) {
    const std::size_t dash = item.find('-');
    const std::string_view lo_text = item.substr(0, dash);
    const std::string_view hi_text =
        dash == std::string_view::npos ? lo_text : item.substr(dash + 1);
    const auto lo = parse_unsigned(lo_text);
    const auto hi = parse_unsigned(hi_text);
    if (!lo || !hi) bad_nodelist(text, "'" + std::string(item) + "' in brackets is not N or N-M");
    if (*lo > *hi) bad_nodelist(text, "range '" + std::string(item) + "' runs backwards");
    if (*hi - *lo >= max_nodes - names.size())
      bad_nodelist(text, "more than " + std::to_string(max_nodes) + " nodes");
    // Counted, not `n <= hi`, which would never end for a range up to ULLONG_MAX.
    for (unsigned long long k = 0; k <= *hi - *lo; ++k)
      names.push_back(zero_padded(*lo + k, lo_text.size()));
  }
  return names;
}

// One name of the list, literal text and brackets in turn: every name so far is extended by
// each alternative of the next bracket, which gives the cartesian product in Slurm's order.
std::vector<std::string> expand_node_name(std::string_view name, const std::string& text) {
  std::vector<std::string> names{""};
  while (!name.empty()) {
    const std::size_t open = name.find('[');
    const std::string_view literal = name.substr(0, open);
    for (std::string& n : names) n += literal;
    if (open == std::string_view::npos) break;
    const std::size_t close = name.find(']', open);  // the top-level split checked it is there
    const std::vector<std::string> alternatives =
        expand_bracket(name.substr(open + 1, close - open - 1), text);
    if (names.size() * alternatives.size() > max_nodes)
      bad_nodelist(text, "more than " + std::to_string(max_nodes) + " nodes");
    std::vector<std::string> product;
    product.reserve(names.size() * alternatives.size());
    for (const std::string& n : names)
      for (const std::string& a : alternatives) product.push_back(n + a);
    names = std::move(product);
    name.remove_prefix(close + 1);
  }
  return names;
}

// "a:4, b:4": what the error for -n beyond the slots shows of the hosts.
std::string describe_hosts(const std::vector<host_slots>& hosts) {
  constexpr std::size_t shown = 8;  // keep the message one readable line
  std::string out;
  for (std::size_t i = 0; i < hosts.size() && i < shown; ++i)
    out += (i ? ", " : "") + hosts[i].name + ":" + std::to_string(hosts[i].slots);
  if (hosts.size() > shown) out += ", and " + std::to_string(hosts.size() - shown) + " more";
  return out;
}

std::string plural(long long n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// How many ranks each host gets under slot mapping: fill the slots in host order, then deal
// any extra out evenly, the earlier hosts taking the remainder.
std::vector<int> ranks_per_host(const std::vector<host_slots>& hosts, int np) {
  std::vector<int> counts(hosts.size());
  int left = np;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    counts[i] = std::min(hosts[i].slots, left);
    left -= counts[i];
  }
  const int n = static_cast<int>(hosts.size());
  for (int i = 0; i < n; ++i)
    counts[static_cast<std::size_t>(i)] += left / n + (i < left % n ? 1 : 0);
  return counts;
}

std::vector<int> map_by_slot(const std::vector<host_slots>& hosts, int np) {
  std::vector<int> host_of;
  host_of.reserve(static_cast<std::size_t>(np));
  const std::vector<int> counts = ranks_per_host(hosts, np);
  for (std::size_t h = 0; h < counts.size(); ++h)
    host_of.insert(host_of.end(), static_cast<std::size_t>(counts[h]), static_cast<int>(h));
  return host_of;
}

// Round-robin, skipping full hosts while any has a free slot; once every slot is taken
// (oversubscribed), every host takes its turn.
std::vector<int> map_by_node(const std::vector<host_slots>& hosts, int np, long long total) {
  std::vector<int> host_of;
  host_of.reserve(static_cast<std::size_t>(np));
  std::vector<int> used(hosts.size(), 0);
  std::size_t next = 0;
  for (int r = 0; r < np; ++r) {
    if (r < total)
      while (used[next] >= hosts[next].slots) next = (next + 1) % hosts.size();
    ++used[next];
    host_of.push_back(static_cast<int>(next));
    next = (next + 1) % hosts.size();
  }
  return host_of;
}

}  // namespace

std::vector<host_slots> parse_host_list(const std::string& text) {
  std::vector<host_slots> hosts;
  for (std::string_view raw : split(text, ',')) {
    const std::string_view item = trim(raw);
    if (item.empty()) throw usage_failure("--host: empty item in '" + text + "'");
    const auto h = parse_host_item(item);
    if (!h)
      throw usage_failure("--host: '" + std::string(item) +
                          "' is not host or host:SLOTS (SLOTS from 1 to 65536)");
    if (!add_host(hosts, *h)) throw usage_failure(too_many_slots("--host", h->name));
  }
  return hosts;
}

std::vector<host_slots> parse_hostfile(const std::string& text, const std::string& file) {
  std::vector<host_slots> hosts;
  int number = 0;
  for (std::string_view raw : split(text, '\n')) {
    ++number;
    const std::string_view line = trim(raw.substr(0, raw.find('#')));
    if (line.empty()) continue;
    const std::string where = "hostfile " + file + ", line " + std::to_string(number);
    const auto h = parse_hostfile_line(line);
    if (!h)
      throw usage_failure(where + ": expected 'host', 'host slots=N' or 'host:N' (N from 1 to " +
                          "65536), got '" + std::string(line) + "'");
    if (!add_host(hosts, *h)) throw usage_failure(too_many_slots(where, h->name));
  }
  if (hosts.empty()) throw usage_failure("hostfile " + file + " names no hosts");
  return hosts;
}

std::vector<host_slots> read_hostfile(const std::string& path) {
  const auto cannot_read = [&path] {
    return usage_failure("hostfile " + path + ": cannot read it: " + std::strerror(errno));
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "r"),
                                                          &std::fclose);
  if (!f) throw cannot_read();
  std::string text;
  char buffer[4096];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, f.get())) > 0) text.append(buffer, got);
  if (std::ferror(f.get())) throw cannot_read();  // e.g. EISDIR: fopen opens a directory
  return parse_hostfile(text, path);
}

std::vector<std::string> expand_slurm_nodelist(const std::string& text) {
  if (trim(text).empty()) bad_nodelist(text, "it is empty");
  // Commas inside brackets separate numbers, so names are split by hand at depth 0.
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  bool in_bracket = false;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ',';
    if (c == '[' && in_bracket) bad_nodelist(text, "'[' inside brackets");
    if (c == ']' && !in_bracket) bad_nodelist(text, "']' without '['");
    if (c == '[' || c == ']') in_bracket = c == '[';
    if (c == ',' && !in_bracket) {
      pieces.push_back(std::string_view(text).substr(start, i - start));
      start = i + 1;
    }
  }
  if (in_bracket) bad_nodelist(text, "'[' without ']'");
  std::vector<std::string> nodes;
  for (std::string_view piece : pieces) {
    if (piece.empty()) bad_nodelist(text, "an empty name");
    const std::vector<std::string> names = expand_node_name(piece, text);
    if (nodes.size() + names.size() > max_nodes)
      bad_nodelist(text, "more than " + std::to_string(max_nodes) + " nodes");
    nodes.insert(nodes.end(), names.begin(), names.end());
  }
  return nodes;
}

std::vector<int> expand_slurm_tasks_per_node(const std::string& text) {
  std::vector<int> counts;
  for (std::string_view item : split(text, ',')) {
    const auto bad = [&] {
      return std::invalid_argument("Slurm tasks per node '" + text + "': '" + std::string(item) +
                                   "' is not N or N(xM)");
    };
    const std::size_t open = item.find('(');
    const auto count = parse_count(item.substr(0, open));
    if (!count) throw bad();
    std::optional<unsigned long long> repeat = 1;
    if (open != std::string_view::npos) {
      const std::string_view group = item.substr(open);  // "(xM)"
      if (!group.starts_with("(x") || !group.ends_with(")")) throw bad();
      repeat = parse_unsigned(group.substr(2, group.size() - 3));
    }
    if (!repeat || *repeat < 1) throw bad();
    if (*repeat > max_nodes - counts.size())
      throw std::invalid_argument("Slurm tasks per node '" + text + "': more than " +
                                  std::to_string(max_nodes) + " nodes");
    counts.insert(counts.end(), static_cast<std::size_t>(*repeat), *count);
  }
  return counts;
}

std::vector<host_slots> slurm_hosts(const std::string& nodelist,
                                    const std::string& tasks_per_node) {
  const std::vector<std::string> nodes = expand_slurm_nodelist(nodelist);
  const std::vector<int> tasks = expand_slurm_tasks_per_node(tasks_per_node);
  if (nodes.size() != tasks.size())
    throw std::invalid_argument("Slurm allocation: SLURM_JOB_NODELIST '" + nodelist + "' names " +
                                plural(static_cast<long long>(nodes.size()), "node") +
                                " but SLURM_TASKS_PER_NODE '" + tasks_per_node + "' gives " +
                                plural(static_cast<long long>(tasks.size()), "count"));
  std::vector<host_slots> hosts;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (!add_host(hosts, {nodes[i], tasks[i]}))
      throw std::invalid_argument(too_many_slots("Slurm allocation", nodes[i]));
  return hosts;
}

map_by parse_map_by(const std::string& text) {
  if (text == "slot") return map_by::slot;
  if (text == "node") return map_by::node;
  throw usage_failure("--map-by: '" + text + "' is not slot or node");
}

std::vector<int> map_ranks(const std::vector<host_slots>& hosts, int np, map_by how,
                           bool oversubscribe) {
  if (hosts.empty()) throw std::invalid_argument("map_ranks: no hosts");
  if (np < 0) throw std::invalid_argument("map_ranks: np is " + std::to_string(np));
  long long total = 0;
  for (const host_slots& h : hosts) {
    if (h.slots < 1)  // the parsers never give one; a caller's own list might
      throw std::invalid_argument("map_ranks: host '" + h.name + "' has " +
                                  std::to_string(h.slots) + " slots");
    total += h.slots;
  }
  if (np > total && !oversubscribe)
    throw usage_failure("-n " + std::to_string(np) + ": only " + plural(total, "slot") + " on " +
                        plural(static_cast<long long>(hosts.size()), "host") + " (" +
                        describe_hosts(hosts) + "); give more hosts or slots, or --oversubscribe");
  return how == map_by::slot ? map_by_slot(hosts, np) : map_by_node(hosts, np, total);
}

}  // namespace parrun::launcher

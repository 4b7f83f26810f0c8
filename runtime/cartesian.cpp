// Cartesian topologies: a communicator made by split() whose ranks know their place on a grid.
#include <parrun/cartesian.hpp>

#include <algorithm>
#include <functional>
#include <numeric>
#include <string>

namespace parrun {
namespace {

std::string list_of(const std::vector<int>& v) {
  std::string s = "{";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "}";
}

// Whether f^k >= n (without overflowing).
bool power_reaches(long f, std::size_t k, long n) {
  long x = 1;
  for (std::size_t i = 0; i < k; ++i) {
    x *= f;
    if (x >= n) return true;
  }
  return x >= n;
}

// The most even way to write n as a product of k factors, none above `cap`, largest first: the
// lexicographically smallest such list (so the largest factor is as small as it can be, then the
// next...), or an empty list when there is none. Handing out prime factors greedily is not
// enough: 72 = 3*3*2*2*2 dealt largest first to the smallest dimension gives 12 x 6, not 9 x 8.
std::vector<int> most_even(long n, std::size_t k, long cap, const std::vector<long>& divisors) {
  if (k == 1) return n <= cap ? std::vector<int>{static_cast<int>(n)} : std::vector<int>{};
  for (long f : divisors) {  // ascending: the first that works is the smallest largest factor
    if (f > cap) break;
    if (n % f != 0 || !power_reaches(f, k, n)) continue;
    std::vector<int> rest = most_even(n / f, k - 1, f, divisors);
    if (rest.empty()) continue;
    rest.insert(rest.begin(), static_cast<int>(f));
    return rest;
  }
  return {};
}

}  // namespace

std::vector<int> dims_create(int nodes, int ndims) {
  if (ndims < 1) throw usage_error("dims_create: ndims = " + std::to_string(ndims) + "; give at least one dimension");
  return dims_create(nodes, std::vector<int>(static_cast<std::size_t>(ndims), 0));
}

std::vector<int> dims_create(int nodes, std::vector<int> dims) {
  if (nodes < 1) throw usage_error("dims_create: nodes = " + std::to_string(nodes) + "; it must be at least 1");
  if (dims.empty()) throw usage_error("dims_create: no dimensions given");
  long fixed = 1;
  std::vector<std::size_t> free;
  for (std::size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] < 0)
      throw usage_error("dims_create: dims[" + std::to_string(d) + "] = " + std::to_string(dims[d]) +
                        " is negative (0 means: choose it)");
    if (dims[d] == 0) free.push_back(d);
    else fixed = std::min(fixed * dims[d], static_cast<long>(nodes) + 1);  // past nodes is past: no overflow
  }
  if (fixed > nodes || nodes % fixed != 0)
    throw usage_error("dims_create: the fixed dimensions of " + list_of(dims) + " multiply to " +
                      (fixed > nodes ? "more than " + std::to_string(nodes) : std::to_string(fixed)) +
                      ", which does not divide " + std::to_string(nodes) + " ranks");
  if (free.empty()) {
    if (fixed != nodes)
      throw usage_error("dims_create: " + list_of(dims) + " has " + std::to_string(fixed) + " places, not " +
                        std::to_string(nodes));
    return dims;
  }
  const long rest = nodes / fixed;
  std::vector<long> divisors;  // of rest, ascending
  for (long f = 1; f * f <= rest; ++f)
    if (rest % f == 0) {
      divisors.push_back(f);
      if (f != rest / f) divisors.push_back(rest / f);
    }
  std::sort(divisors.begin(), divisors.end());
  const std::vector<int> chosen = most_even(rest, free.size(), rest, divisors);  // never empty: {rest, 1, ...}
  for (std::size_t i = 0; i < free.size(); ++i) dims[free[i]] = chosen[i];
  return dims;
}

cartesian_communicator communicator::cartesian(std::vector<int> dims, bool periodic) const {
  std::vector<bool> wrap(dims.size(), periodic);
  return cartesian(std::move(dims), std::move(wrap));
}

cartesian_communicator communicator::cartesian(std::vector<int> dims, std::vector<bool> periodic) const {
  const int p = size(), me = rank();
  const std::string where = "cartesian(" + list_of(dims) + ") on rank " + std::to_string(me) + ": ";
  if (dims.empty()) throw usage_error(where + "a grid needs at least one dimension");
  if (periodic.size() != dims.size())
    throw usage_error(where + "periodic has " + std::to_string(periodic.size()) + " entries for " +
                      std::to_string(dims.size()) + " dimensions");
  long places = 1;
  for (std::size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] < 1)
      throw usage_error(where + "dims[" + std::to_string(d) + "] = " + std::to_string(dims[d]) +
                        " (every dimension needs at least 1 rank; parrun::dims_create chooses them)");
    places *= dims[d];
    if (places > p)
      throw usage_error(where + "the grid has more places than the communicator's " + std::to_string(p) + " ranks");
  }
  communicator members = split(me < places ? 0 : no_color, me);
  if (!members.valid()) return cartesian_communicator{};
  auto topo = std::make_shared<cartesian_communicator::topology>();
  topo->dims = std::move(dims);
  topo->periodic = std::move(periodic);
  return cartesian_communicator(std::move(members), std::move(topo));
}

const cartesian_communicator::topology& cartesian_communicator::topo() const {
  if (!topology_) throw usage_error("use of an invalid (default-constructed) parrun::cartesian_communicator");
  return *topology_;
}

const std::vector<int>& cartesian_communicator::dims() const { return topo().dims; }
const std::vector<bool>& cartesian_communicator::periodic() const { return topo().periodic; }

std::vector<int> cartesian_communicator::coords(int r) const {
  const topology& t = topo();
  if (r < 0 || r >= size())
    throw usage_error("cartesian coords: rank " + std::to_string(r) + " is not on the grid of " +
                      std::to_string(size()) + " ranks");
  std::vector<int> c(t.dims.size());
  for (std::size_t d = t.dims.size(); d-- > 0;) {
    c[d] = r % t.dims[d];
    r /= t.dims[d];
  }
  return c;
}

int cartesian_communicator::rank_of(std::span<const int> coords) const {
  const topology& t = topo();
  if (coords.size() != t.dims.size())
    throw usage_error("cartesian rank_of: " + std::to_string(coords.size()) + " coordinates for a grid of " +
                      std::to_string(t.dims.size()) + " dimensions");
  int r = 0;
  for (std::size_t d = 0; d < t.dims.size(); ++d) {
    const int n = t.dims[d];
    int c = coords[d];
    if (t.periodic[d]) c = ((c % n) + n) % n;
    else if (c < 0 || c >= n) return no_rank;
    r = r * n + c;
  }
  return r;
}

cartesian_communicator::neighbours cartesian_communicator::shift(int dim, int displacement) const {
  const topology& t = topo();
  if (dim < 0 || static_cast<std::size_t>(dim) >= t.dims.size())
    throw usage_error("cartesian shift: dimension " + std::to_string(dim) + " of a grid with " +
                      std::to_string(t.dims.size()) + " (0.." + std::to_string(t.dims.size() - 1) + ")");
  std::vector<int> ahead = coords(), behind = ahead;
  ahead[static_cast<std::size_t>(dim)] += displacement;
  behind[static_cast<std::size_t>(dim)] -= displacement;
  return {rank_of(behind), rank_of(ahead)};
}

cartesian_communicator cartesian_communicator::sub(const std::vector<bool>& keep) const {
  const topology& t = topo();
  if (keep.size() != t.dims.size())
    throw usage_error("cartesian sub: keep has " + std::to_string(keep.size()) + " entries for a grid of " +
                      std::to_string(t.dims.size()) + " dimensions");
  const std::vector<int> mine = coords();
  int color = 0, key = 0;
  auto topo_sub = std::make_shared<topology>();
  for (std::size_t d = 0; d < t.dims.size(); ++d) {
    if (keep[d]) {
      key = key * t.dims[d] + mine[d];
      topo_sub->dims.push_back(t.dims[d]);
      topo_sub->periodic.push_back(t.periodic[d]);
    } else {
      color = color * t.dims[d] + mine[d];
    }
  }
  if (topo_sub->dims.empty()) {  // keeping nothing: each rank alone, a grid of one
    topo_sub->dims.push_back(1);
    topo_sub->periodic.push_back(false);
  }
  return cartesian_communicator(split(color, key), std::move(topo_sub));
}

}  // namespace parrun

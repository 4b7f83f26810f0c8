#pragma once
// Cartesian topologies (MPI_Cart_*): ranks laid out on a grid, each dimension periodic or not,
// so that a stencil code finds its neighbours by direction instead of by arithmetic. Ranks are
// numbered row-major (the last dimension varies fastest), as in MPI; past the edge of a
// non-periodic dimension there is no neighbour, and shift() says parrun::no_rank, which send
// and receive accept as "nothing to do".
//
//   auto grid = world.cartesian(parrun::dims_create(world.size(), 2), /*periodic=*/false);
//   auto [from, to] = grid.shift(0, +1);   // the rank above me sends to me, I send below
//   grid.sendrecv(to, 0, bottom_row, from, 0, top_halo);
#include <memory>
#include <span>
#include <vector>

#include <parrun/communicator.hpp>

namespace parrun {

/// Factors `nodes` ranks into `ndims` dimensions as evenly as possible, largest first
/// (MPI_Dims_create): dims_create(12, 2) == {4, 3}.
std::vector<int> dims_create(int nodes, int ndims);
/// As above, keeping the entries of `dims` that are not 0 and filling the zeros; usage_error
/// when the fixed entries do not divide `nodes`.
std::vector<int> dims_create(int nodes, std::vector<int> dims);

/// A communicator whose ranks sit on a cartesian grid; every communicator operation works on it.
class cartesian_communicator : public communicator {
 public:
  /// An invalid one (as communicator's default).
  cartesian_communicator() = default;

  /// The number of dimensions.
  int ndims() const noexcept { return static_cast<int>(topology_ ? topology_->dims.size() : 0); }
  /// The extent of every dimension.
  const std::vector<int>& dims() const;
  /// Whether each dimension wraps around.
  const std::vector<bool>& periodic() const;
  /// This rank's coordinates.
  std::vector<int> coords() const { return coords(rank()); }
  /// The coordinates of rank `r` (usage_error for a rank outside the grid).
  std::vector<int> coords(int r) const;
  /// The rank at `coords`. A coordinate outside a periodic dimension wraps; outside a
  /// non-periodic one there is no rank: parrun::no_rank.
  int rank_of(std::span<const int> coords) const;
  int rank_of(std::initializer_list<int> coords) const {
    return rank_of(std::span<const int>(coords.begin(), coords.size()));
  }

  /// The two neighbours of a shift by `displacement` along dimension `dim` (MPI_Cart_shift):
  /// `dest` is the rank `displacement` steps ahead, `source` the one as many steps behind
  /// (parrun::no_rank past a non-periodic edge), so that every rank sending to its `dest` and
  /// receiving from its `source` moves data one way along the dimension.
  struct neighbours {
    int source;
    int dest;
  };
  neighbours shift(int dim, int displacement) const;

  /// The sub-grids that keep the dimensions where `keep` is true (MPI_Cart_sub): e.g. every
  /// row of a 2-D grid with keep = {false, true}. Collective.
  cartesian_communicator sub(const std::vector<bool>& keep) const;

 private:
  friend class communicator;
  struct topology {
    std::vector<int> dims;
    std::vector<bool> periodic;
  };
  cartesian_communicator(communicator c, std::shared_ptr<const topology> t)
      : communicator(std::move(c)), topology_(std::move(t)) {}
  const topology& topo() const;

  std::shared_ptr<const topology> topology_;
};

}  // namespace parrun

#pragma once
// Reduction operators for reduce, allreduce, scan and exscan. Any callable T(T, T) works
// (std::plus<>{}, std::multiplies<>{}, lambdas, user types' operators); these add what the
// standard library lacks. They accept single values only, so on a vector they apply element by
// element (as MPI_MIN does on arrays), never lexicographically.
#include <ranges>

namespace parrun {

/// The smaller of two values (the first when equal).
struct min {
  template <class T>
    requires(!std::ranges::range<T>)
  T operator()(const T& a, const T& b) const {
    return b < a ? b : a;
  }
};

/// The larger of two values (the first when equal).
struct max {
  template <class T>
    requires(!std::ranges::range<T>)
  T operator()(const T& a, const T& b) const {
    return a < b ? b : a;
  }
};

}  // namespace parrun

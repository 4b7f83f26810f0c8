#pragma once
// parrun's version, for code that must compile against more than one release (the macros) and
// for checking which library a program runs with (parrun::version(), in libparrun). The top
// CMakeLists.txt reads the numbers from here, so this file is the one place they live.
#define PARRUN_VERSION_MAJOR 0
#define PARRUN_VERSION_MINOR 2
#define PARRUN_VERSION_PATCH 0
/// MAJOR * 10000 + MINOR * 100 + PATCH: `#if PARRUN_VERSION >= 200` for 0.2.0 and later.
#define PARRUN_VERSION (PARRUN_VERSION_MAJOR * 10000 + PARRUN_VERSION_MINOR * 100 + PARRUN_VERSION_PATCH)

namespace parrun {

/// The version of the libparrun this program runs with, "major.minor.patch" (the headers it was
/// compiled against say theirs in PARRUN_VERSION_*).
const char* version() noexcept;

/// Seconds since an arbitrary moment fixed for this process, from a monotonic clock (MPI_Wtime):
/// differences time code. Clocks of different ranks are not synchronised.
double wtime() noexcept;
/// The resolution of wtime() in seconds (MPI_Wtick).
double wtick() noexcept;

}  // namespace parrun

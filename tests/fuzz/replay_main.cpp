// Runs a fuzz target once on every file named, or in the directories named (missing ones are
// skipped): without libFuzzer, with any compiler, so that the corpus and every crash input
// ever found (regressions/<target>/) run in the ordinary test suite. A bug aborts. Two of
// libFuzzer's limits are kept, so that those findings stay findings here: an input may run for
// 10 s at most (-timeout), and no single C++ allocation may exceed 256 MiB (-malloc_limit_mb;
// a build with ASan catches the rest: memory errors and, with UBSan, undefined behaviour).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <new>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

constexpr std::size_t malloc_limit = std::size_t{256} << 20;
constexpr unsigned timeout_seconds = 10;
const char* current = "(none)";

void say(const char* a, const char* b) noexcept {
  (void)!write(2, a, std::strlen(a));
  (void)!write(2, b, std::strlen(b));
  (void)!write(2, "\n", 1);
}

void on_alarm(int) {
  say("fuzz replay: BUG: ran over 10 s (a hang): ", current);
  std::abort();
}

void* allocate(std::size_t n) {
  if (n > malloc_limit) {
    say("fuzz replay: BUG: an allocation over 256 MiB (an allocation on trust?): ", current);
    std::abort();
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const fs::path p = argv[i];
    if (fs::is_directory(p)) {
      for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file()) inputs.push_back(e.path());
    } else if (fs::exists(p)) {
      inputs.push_back(p);
    }
  }
  std::sort(inputs.begin(), inputs.end());
  signal(SIGALRM, on_alarm);
  for (const fs::path& p : inputs) {
    std::ifstream f(p, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::printf("%s (%zu bytes)\n", p.c_str(), bytes.size());
    std::fflush(stdout);
    current = p.c_str();
    alarm(timeout_seconds);
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    alarm(0);
  }
  std::printf("%zu inputs, no bug\n", inputs.size());
  return 0;
}

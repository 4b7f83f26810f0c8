#include "matching/matcher.hpp"

#include <algorithm>

namespace parrun::detail {

void matcher::deliver(frame&& f) {
  f.arrival = ++arrivals_;
  for (auto it = posted_.begin(); it != posted_.end(); ++it) {
    if (matches((*it)->key, f.env)) {
      (*it)->matched.emplace(std::move(f));
      posted_.erase(it);
      return;
    }
  }
  unexpected_.push_back(std::move(f));
}

void matcher::put_back(frame&& f) {
  auto later = std::find_if(unexpected_.begin(), unexpected_.end(),
                            [&](const frame& g) { return g.arrival > f.arrival; });
  unexpected_.insert(later, std::move(f));
}

bool matcher::post(posted_receive& r) {
  if (auto f = take(r.key)) {
    r.matched.emplace(std::move(*f));
    return true;
  }
  posted_.push_back(&r);
  return false;
}

void matcher::cancel(posted_receive& r) noexcept { posted_.remove(&r); }

const frame* matcher::find(const match_key& key) const {
  auto it = std::find_if(unexpected_.begin(), unexpected_.end(),
                         [&](const frame& f) { return matches(key, f.env); });
  return it == unexpected_.end() ? nullptr : &*it;
}

std::optional<frame> matcher::take(const match_key& key) {
  auto it = std::find_if(unexpected_.begin(), unexpected_.end(),
                         [&](const frame& f) { return matches(key, f.env); });
  if (it == unexpected_.end()) return std::nullopt;
  std::optional<frame> out(std::move(*it));
  unexpected_.erase(it);
  return out;
}

}  // namespace parrun::detail

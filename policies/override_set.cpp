#include "policies/override_set.h"

#include <algorithm>

namespace tollgate {

std::optional<Override> OverrideSet::remove(const std::string& id) {
  auto it = std::find_if(overrides_.begin(), overrides_.end(),
                         [&](const Override& o) { return o.id == id; });
  if (it == overrides_.end()) return std::nullopt;
  Override o = std::move(*it);
  overrides_.erase(it);
  return o;
}

std::vector<Override> OverrideSet::expire(EpochMs now) {
  std::vector<Override> ended;
  auto keep = std::stable_partition(overrides_.begin(), overrides_.end(),
                                    [&](const Override& o) { return o.until > now; });
  ended.assign(std::make_move_iterator(keep), std::make_move_iterator(overrides_.end()));
  overrides_.erase(keep, overrides_.end());
  return ended;
}

const Override* OverrideSet::active(const std::string& budget, EpochMs now) const {
  const Override* found = nullptr;
  for (const Override& o : overrides_)
    if (o.budget == budget && o.until > now) found = &o;  // the latest one, as listed
  return found;
}

std::vector<Override> OverrideSet::list(EpochMs now) const {
  std::vector<Override> out;
  for (const Override& o : overrides_)
    if (o.until > now) out.push_back(o);
  return out;
}

}  // namespace tollgate

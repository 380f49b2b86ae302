#pragma once
// OverrideSet: the overrides in force (a budget's throttles suspended until a time, with a
// reason). Expired ones are dropped by expire(), which says which, for the audit log.
//
// Not thread-safe: PolicyEngine guards it with its mutex.

#include <optional>
#include <string>
#include <vector>

#include "policies/records.h"

namespace tollgate {

class OverrideSet {
 public:
  void restore(std::vector<Override> overrides) { overrides_ = std::move(overrides); }
  void add(Override o) { overrides_.push_back(std::move(o)); }
  // The override removed; nullopt when no override has that id.
  std::optional<Override> remove(const std::string& id);
  // Removes and returns the overrides that ended at or before `now`.
  std::vector<Override> expire(EpochMs now);
  // The override suspending `budget` at `now`, or nullptr.
  const Override* active(const std::string& budget, EpochMs now) const;
  std::vector<Override> list(EpochMs now) const;

 private:
  std::vector<Override> overrides_;
};

}  // namespace tollgate

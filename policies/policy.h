#pragma once
// The budget policy model of CONTRACT §2.3: budgets, what they match, their periods and rules.
// Plain immutable data once loaded; share as shared_ptr<const PolicySet>.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "metering/dimensions.h"
#include "metering/money.h"
#include "metering/time_util.h"
#include "metering/time_zone.h"
#include "metering/usage_event.h"

namespace tollgate {

// One `match` key: a field and the values it accepts ("*" at the end is a prefix glob).
struct Matcher {
  Matcher() = default;
  Matcher(std::string f, std::vector<std::string> p) : field(std::move(f)), patterns(std::move(p)) {
    index();
  }
  std::string field;  // a name of kDimensions, or tag:<key>
  std::vector<std::string> patterns;
  bool matches(const Dimensions& d) const;
  // Once the patterns are set (the policies loader calls it): exact values in a hash set,
  // prefixes apart, the dimension resolved, so a budget matching 100 features costs one lookup,
  // not 100 comparisons, per new dimension set. Without it matches() scans the patterns.
  void index();
  // After index(): the dimension the field names (null for a tag key), and whether every pattern
  // is an exact value (no prefix glob), so that a budget can be filed under them (BudgetIndex).
  const Dimension* dimension() const { return indexed_ ? dim_ : nullptr; }
  bool exact_only() const { return indexed_ && dim_ && prefixes_.empty(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  bool indexed_ = false;
  const Dimension* dim_ = nullptr;
  std::unordered_set<std::string, Hash, std::equal_to<>> exact_;
  std::vector<std::string> prefixes_;  // without their "*"
};

enum class Period { kDay, kWeek, kMonth };
std::string_view to_string(Period p);

enum class Action { kAlert, kReroute, kLimitRps, kBlock };
std::string_view to_string(Action a);
// block > limit_rps > reroute > alert.
inline int strictness(Action a) { return static_cast<int>(a); }

inline unsigned priority_bit(Priority p) { return 1u << static_cast<unsigned>(p); }

struct BurnRate {
  int64_t long_ms = 0, short_ms = 0;
  std::string long_text, short_text;  // as written ("1h", "5m"), for labels and reasons
  double factor = 0;
};

struct Rule {
  Action action = Action::kAlert;
  int64_t at_nano_percent = -1;  // threshold rule: percent × 1e9; -1 for burn-rate rules
  std::optional<BurnRate> burn;  // burn-rate rule
  unsigned priorities = 0;       // bitmask of priority_bit(); alerts ignore it
  double rps = 0;                // limit_rps
  std::string model;             // reroute
  std::string describe() const;  // "block at 100%" / "block on burn rate 1h/5m > 14.4x"
  // describe() plus everything else that makes two rules different (rate, priorities, model):
  // the key of a rule's state (token bucket, start time) across reloads.
  std::string identity() const;
};

// Where a budget's limit holds: on this instance's spend alone, or on the spend of every
// instance sharing it through the coordination store (etcd).
enum class Scope { kLocal, kGlobal };
std::string_view to_string(Scope s);
// What a global budget does while it cannot coordinate (its grant lapsed, the store unreachable):
// throttle its rules' priorities as if the budget were spent, or enforce limit ÷ the expected
// instances on this instance's own spend.
enum class CoordinationLoss { kBlockListed, kLocalShare };
std::string_view to_string(CoordinationLoss c);

struct Budget {
  std::string name;
  std::vector<Matcher> match;  // all must match; empty = everything
  Period period = Period::kDay;
  Money limit;
  std::vector<Rule> rules;
  Scope scope = Scope::kLocal;
  CoordinationLoss on_coordination_loss = CoordinationLoss::kBlockListed;

  bool matches(const Dimensions& d) const;
  // How much per-minute spend history the budget keeps: its rules' longest burn-rate window, and
  // at least the standard windows below.
  int64_t max_burn_window_ms() const;
};

// Burn rates exported for every budget, whatever its rules, so the shipped multi-window alerts
// (1h/5m and 6h/30m, as in the SRE workbook) work on any budget.
inline constexpr std::pair<const char*, int64_t> kStandardBurnWindows[] = {
    {"5m", 300'000}, {"30m", 1'800'000}, {"1h", 3'600'000}, {"6h", 21'600'000}};

struct PolicySet {
  std::vector<Budget> budgets;
  bool dry_run = false;
  int64_t reservation_ttl_ms = 300'000;
};

// [start, end) of the period containing `now`, in the zone (weeks start on Monday).
std::pair<EpochMs, EpochMs> period_bounds(Period p, const TimeZone& tz, EpochMs now);

// "1h", "5m", "30s", "2d" → milliseconds; nullopt when malformed.
std::optional<int64_t> parse_duration(std::string_view text);

}  // namespace tollgate

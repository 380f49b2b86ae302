#pragma once
// The dimensions of usage and admission (CONTRACT §3): feature, team, customer, model, provider,
// region and priority, plus free `tag:<key>` dimensions. kDimensions is the one table that
// budget matchers, the config and policy loaders, reports, metrics, the admission route and the
// engine's keys read: adding a dimension is a row here (and its ledger column) plus its tests.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metering/usage_event.h"

namespace tollgate {

// The dimensions of one event or one admission request.
struct Dimensions {
  std::string feature, team, customer, provider, model, region;
  Priority priority = Priority::kStandard;
  std::vector<std::pair<std::string, std::string>> tags;  // sorted by key, keys unique

  static Dimensions of(const UsageEvent& e);
};

struct Dimension {
  std::string_view name;  // in configs, queries, metric labels, and the ledger's column name
  std::string UsageEvent::*event_field;  // null for priority (an enum, not a string)
  std::string Dimensions::*field;        // null for priority
};

inline constexpr Dimension kDimensions[] = {
    {"feature", &UsageEvent::feature, &Dimensions::feature},
    {"team", &UsageEvent::team, &Dimensions::team},
    {"customer", &UsageEvent::customer, &Dimensions::customer},
    {"model", &UsageEvent::model, &Dimensions::model},
    {"provider", &UsageEvent::provider, &Dimensions::provider},
    {"region", &UsageEvent::region, &Dimensions::region},
    {"priority", nullptr, nullptr},
};

// The named dimension; null when there is none ("tag:<key>" is not in the table).
const Dimension* find_dimension(std::string_view name);
// "feature, team, customer, model, provider, region, priority", for messages.
std::string dimension_names();
// The key of a "tag:<key>" dimension (non-empty); nullopt for anything else.
std::optional<std::string_view> tag_key(std::string_view name);

std::string_view value_of(const Dimension& dim, const UsageEvent& e);
std::string_view value_of(const Dimension& dim, const Dimensions& d);
// A tag's value; nullopt when the tag is absent.
std::optional<std::string_view> tag_value(const Dimensions& d, std::string_view key);

// Appends every dimension and tag: a key for caching per-dimensions work (two keys are equal
// exactly when the dimensions and tags are).
// Without tags when `with_tags` is false (for grouping by the table's dimensions only).
void append_key(std::string& out, const Dimensions& d, bool with_tags = true);
// The dimensions whose append_key (with tags) is `key`; nullopt when `key` is not such a key.
std::optional<Dimensions> dimensions_of_key(std::string_view key);
// The same into `out`, reusing its strings' storage (a loop over many keys allocates little);
// false, and `out` unspecified, when `key` is not such a key.
bool decode_key(std::string_view key, Dimensions& out);
void append_key(std::string& out, const UsageEvent& e, bool with_tags = true);

}  // namespace tollgate

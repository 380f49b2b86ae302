#include "metering/dimensions.h"

#include <algorithm>
#include <cstdint>

namespace tollgate {

Dimensions Dimensions::of(const UsageEvent& e) {
  Dimensions d;
  for (const Dimension& dim : kDimensions)
    if (dim.field) d.*dim.field = e.*dim.event_field;
  d.priority = e.priority;
  d.tags = e.tags;
  return d;
}

const Dimension* find_dimension(std::string_view name) {
  for (const Dimension& d : kDimensions)
    if (d.name == name) return &d;
  return nullptr;
}

std::string dimension_names() {
  std::string out;
  for (const Dimension& d : kDimensions) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

std::optional<std::string_view> tag_key(std::string_view name) {
  if (name.size() > 4 && name.substr(0, 4) == "tag:") return name.substr(4);
  return std::nullopt;
}

std::string_view value_of(const Dimension& dim, const UsageEvent& e) {
  return dim.event_field ? std::string_view(e.*dim.event_field) : to_string(e.priority);
}

std::string_view value_of(const Dimension& dim, const Dimensions& d) {
  return dim.field ? std::string_view(d.*dim.field) : to_string(d.priority);
}

std::optional<std::string_view> tag_value(const Dimensions& d, std::string_view key) {
  auto it =
      std::find_if(d.tags.begin(), d.tags.end(), [&](const auto& kv) { return kv.first == key; });
  if (it == d.tags.end()) return std::nullopt;
  return std::string_view(it->second);
}

namespace {

// Length-prefixed, so no value (whatever bytes it holds) can make two different sets equal.
void append_part(std::string& out, std::string_view part) {
  const auto n = static_cast<uint32_t>(part.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(part);
}

template <typename T>
void append_key_of(std::string& out, const T& x, bool with_tags) {
  for (const Dimension& dim : kDimensions) append_part(out, value_of(dim, x));
  if (!with_tags) return;
  for (const auto& [k, v] : x.tags) {
    append_part(out, k);
    append_part(out, v);
  }
}

// The next part of a key, consumed from `key`.
std::optional<std::string_view> take_part(std::string_view& key) {
  uint32_t n = 0;
  if (key.size() < sizeof n) return std::nullopt;
  std::copy_n(key.data(), sizeof n, reinterpret_cast<char*>(&n));
  key.remove_prefix(sizeof n);
  if (key.size() < n) return std::nullopt;
  const std::string_view part = key.substr(0, n);
  key.remove_prefix(n);
  return part;
}

}  // namespace

bool decode_key(std::string_view key, Dimensions& out) {
  for (const Dimension& dim : kDimensions) {
    const auto part = take_part(key);
    if (!part) return false;
    if (dim.field) {
      (out.*dim.field).assign(*part);
    } else if (auto p = parse_priority(*part)) {
      out.priority = *p;
    } else {
      return false;
    }
  }
  size_t tags = 0;
  while (!key.empty()) {
    const auto k = take_part(key), v = take_part(key);
    if (!k || !v) return false;
    if (tags == out.tags.size()) out.tags.emplace_back();
    out.tags[tags].first.assign(*k);
    out.tags[tags].second.assign(*v);
    ++tags;
  }
  out.tags.resize(tags);
  return true;
}

std::optional<Dimensions> dimensions_of_key(std::string_view key) {
  Dimensions d;
  if (!decode_key(key, d)) return std::nullopt;
  return d;
}

void append_key(std::string& out, const Dimensions& d, bool with_tags) {
  append_key_of(out, d, with_tags);
}
void append_key(std::string& out, const UsageEvent& e, bool with_tags) {
  append_key_of(out, e, with_tags);
}

}  // namespace tollgate

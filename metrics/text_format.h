#pragma once
// Prometheus text exposition format 0.0.4, as a pure function of plain data.

#include <string>
#include <utility>
#include <vector>

#include "metrics/registry.h"

namespace tollgate::metrics {

inline constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string serialize_text(const std::vector<FamilySnapshot>& families);
// `{name="value",...}` with the values escaped; "" for no labels.
std::string render_labels(const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace tollgate::metrics

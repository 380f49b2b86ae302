#pragma once
// Prometheus text exposition format 0.0.4, as a pure function of plain data.

#include <string>
#include <vector>

#include "metrics/registry.h"

namespace tollgate::metrics {

inline constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string serialize_text(const std::vector<FamilySnapshot>& families);

}  // namespace tollgate::metrics

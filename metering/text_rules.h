#pragma once
// What a string taken from a client may hold (CONTRACT §3): valid UTF-8 without control
// characters (U+0000–U+001F, U+007F). Such strings become CSV cells, log lines, JSON strings and
// Prometheus label values; refusing them where they enter keeps every output well-formed.

#include <string_view>

#include "metering/status.h"

namespace tollgate {

bool is_valid_utf8(std::string_view s);
bool has_control_character(std::string_view s);

// ok, or invalid_string naming `field`.
Status check_text(std::string_view field, std::string_view s);

}  // namespace tollgate

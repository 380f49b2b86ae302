#pragma once
// What a string taken from a client may hold (CONTRACT §3): valid UTF-8 without control
// characters (U+0000–U+001F, U+007F). Such strings become CSV cells, log lines, JSON strings and
// Prometheus label values; refusing them where they enter keeps every output well-formed.

#include <string_view>

#include "metering/status.h"

namespace tollgate {

bool is_valid_utf8(std::string_view s);
// The length of the valid UTF-8 sequence starting at s[i] (1 to 4), or 0 when it is not one.
size_t utf8_sequence_length(std::string_view s, size_t i);
bool has_control_character(std::string_view s);

// ok, or invalid_string naming `field`.
Status check_text(std::string_view field, std::string_view s);

}  // namespace tollgate

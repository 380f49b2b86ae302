#include "metering/text_rules.h"

#include <algorithm>
#include <string>

namespace tollgate {

size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t len;
  unsigned min;  // the smallest code point of that length: no overlong forms
  unsigned cp;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    len = 2, min = 0x80, cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, min = 0x800, cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool has_control_character(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

Status check_text(std::string_view field, std::string_view s) {
  // Nearly every string sent is printable ASCII (0x20-0x7E): one pass settles those.
  if (std::all_of(s.begin(), s.end(), [](unsigned char c) { return c - 0x20u < 0x5fu; })) return {};
  if (!is_valid_utf8(s))
    return Status::error(Code::kInvalidString,
                         "field \"" + std::string(field) + "\" must be valid UTF-8");
  if (has_control_character(s))
    return Status::error(Code::kInvalidString,
                         "field \"" + std::string(field) +
                             "\" must not contain control characters (U+0000-U+001F, U+007F)");
  return {};
}

}  // namespace tollgate

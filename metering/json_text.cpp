#include "metering/json_text.h"

namespace tollgate {

namespace {
// A string starting with this byte is a number's text (never valid in our other strings: control
// characters are escaped by the serializer as \u0001).
constexpr char kMarker = '\x01';
constexpr std::string_view kEscapedMarker = "\"\\u0001";

}  // namespace

boost::json::value money_value(Money m) { return number_text(m.to_string()); }

boost::json::value number_text(std::string text) { return boost::json::string(kMarker + text); }

std::string serialize_json(const boost::json::value& v) {
  std::string text = boost::json::serialize(v);
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (size_t hit; (hit = text.find(kEscapedMarker, pos)) != std::string::npos;) {
    out.append(text, pos, hit - pos);
    size_t end = text.find('"', hit + kEscapedMarker.size());
    out.append(text, hit + kEscapedMarker.size(), end - hit - kEscapedMarker.size());
    pos = end + 1;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

}  // namespace tollgate

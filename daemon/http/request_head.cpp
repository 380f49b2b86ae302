#include "daemon/http/request_head.h"

#include <array>

namespace tollgate {

namespace {

// RFC 9110 §5.6.2 tchar: the bytes of a header name.
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[size_t(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[size_t(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[size_t(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

bool trim_space(char c) { return c == ' ' || c == '\t'; }

// A header this parser reads: stored once; seen twice, not ours (Beast keeps the first, a
// proxy may have kept the last: let Beast's reading stand).
bool set_once(std::string& field, bool& seen, std::string_view value) {
  if (seen) return false;
  seen = true;
  field.assign(value);
  return true;
}

}  // namespace

std::optional<SimpleHead> parse_simple_get(std::string_view raw) {
  constexpr std::string_view kLine = "GET ";
  constexpr std::string_view kVersion = " HTTP/1.1\r\n";
  if (raw.size() < 4 || raw.substr(raw.size() - 4) != "\r\n\r\n") return std::nullopt;
  if (raw.substr(0, kLine.size()) != kLine) return std::nullopt;
  size_t pos = kLine.size();
  // origin-form target: printable ASCII without spaces (Beast also takes bytes above 0x7f)
  const size_t target_start = pos;
  while (pos < raw.size() && raw[pos] > ' ' && raw[pos] < 0x7f) ++pos;
  const std::string_view target = raw.substr(target_start, pos - target_start);
  if (target.empty() || target[0] != '/') return std::nullopt;
  if (raw.substr(pos, kVersion.size()) != kVersion) return std::nullopt;
  pos += kVersion.size();

  SimpleHead head;
  HttpRequest& req = head.request;
  req.method = "GET";
  const size_t q = target.find('?');
  req.path.assign(target.substr(0, q));
  if (req.path.compare(0, kAllHeadersPrefix.size(), kAllHeadersPrefix) == 0) return std::nullopt;
  if (q != std::string_view::npos) req.query.assign(target.substr(q + 1));

  bool seen_authorization = false, seen_content_type = false, seen_if_none_match = false;
  bool seen_connection = false;
  // Each field: name ':' OWS value OWS CRLF, until the empty line.
  while (pos + 2 < raw.size()) {
    const size_t name_start = pos;
    while (pos < raw.size() && kTokenChars[static_cast<unsigned char>(raw[pos])]) ++pos;
    if (pos == name_start || pos >= raw.size() || raw[pos] != ':') return std::nullopt;
    const std::string_view name = raw.substr(name_start, pos - name_start);
    ++pos;
    const size_t value_start = pos;
    while (pos < raw.size() && ((raw[pos] >= ' ' && raw[pos] < 0x7f) || raw[pos] == '\t')) ++pos;
    if (raw.substr(pos, 2) != "\r\n") return std::nullopt;  // a CTL, a bare CR or LF, obs-text
    std::string_view value = raw.substr(value_start, pos - value_start);
    pos += 2;
    while (!value.empty() && trim_space(value.front())) value.remove_prefix(1);
    while (!value.empty() && trim_space(value.back())) value.remove_suffix(1);

    // The names that matter here, told apart by their length first.
    switch (name.size()) {
      case 10:  // connection
        if (iequals(name, "connection")) {
          if (seen_connection) return std::nullopt;
          seen_connection = true;
          if (iequals(value, "close")) head.keep_alive = false;
          else if (!iequals(value, "keep-alive")) return std::nullopt;  // a token list: Beast's
        }
        break;
      case 13:
        if (iequals(name, "authorization")) {
          if (!set_once(req.authorization, seen_authorization, value)) return std::nullopt;
        } else if (iequals(name, "if-none-match")) {
          if (!set_once(req.if_none_match, seen_if_none_match, value)) return std::nullopt;
        }
        break;
      case 12:
        if (iequals(name, "content-type") &&
            !set_once(req.content_type, seen_content_type, value))
          return std::nullopt;
        break;
      case 14:  // content-length, even 0: framing is Beast's
        if (iequals(name, "content-length")) return std::nullopt;
        break;
      case 17:  // transfer-encoding
        if (iequals(name, "transfer-encoding")) return std::nullopt;
        break;
      case 16:  // proxy-connection: Beast checks it as a token list
        if (iequals(name, "proxy-connection")) return std::nullopt;
        break;
      case 7:  // upgrade
        if (iequals(name, "upgrade")) return std::nullopt;
        break;
      default:
        break;
    }
  }
  if (pos + 2 != raw.size()) return std::nullopt;  // the final CRLF, and nothing after it
  return head;
}

}  // namespace tollgate

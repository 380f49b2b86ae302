#include "daemon/http/query.h"

namespace tollgate {

namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  if (s.find_first_of("%+") == std::string_view::npos) return std::string(s);  // most values
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}
}  // namespace

std::vector<std::pair<std::string, std::string>> parse_query(const std::string& query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos <= query.size() && !query.empty()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string_view part(query.data() + pos, amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      out.emplace_back(url_decode(part.substr(0, eq)),
                       eq == std::string_view::npos ? "" : url_decode(part.substr(eq + 1)));
    }
    pos = amp + 1;
  }
  return out;
}

}  // namespace tollgate

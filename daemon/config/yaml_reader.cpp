#include "daemon/config/yaml_reader.h"

#include <charconv>

namespace tollgate {

std::optional<YAML::Node> YamlReader::load() {
  try {
    YAML::Node root = YAML::LoadFile(file_);
    if (!root || root.IsNull()) {
      errors_.add(file_, 1, 1, "the file is empty");
      return std::nullopt;
    }
    return root;
  } catch (const YAML::BadFile&) {
    errors_.add(file_, 1, 1, "cannot read the file");
  } catch (const YAML::ParserException& e) {
    errors_.add(file_, e.mark.line + 1, e.mark.column + 1, e.msg);
  } catch (const YAML::Exception& e) {
    errors_.add(file_, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  return std::nullopt;
}

void YamlReader::error(const YAML::Node& at, const std::string& message) {
  YAML::Mark m = at.Mark();
  errors_.add(file_, m.line < 0 ? 1 : m.line + 1, m.column < 0 ? 1 : m.column + 1, message);
}

bool YamlReader::expect_map(const YAML::Node& node, const std::string& what,
                            std::initializer_list<const char*> allowed) {
  if (!node.IsMap()) {
    error(node, what + " must be a mapping");
    return false;
  }
  for (const auto& kv : node) {
    std::string key = kv.first.Scalar();
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) {
      std::string list;
      for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
      error(kv.first, "unknown key \"" + key + "\" in " + what + " (allowed: " + list + ")");
    }
  }
  return true;
}

std::optional<std::string> YamlReader::string(const YAML::Node& map, const char* key) {
  YAML::Node n = map[key];
  if (!n || n.IsNull()) return std::nullopt;
  if (!n.IsScalar()) {
    error(n, std::string(key) + " must be a string");
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<int64_t> YamlReader::integer(const YAML::Node& map, const char* key, int64_t min,
                                           int64_t max) {
  YAML::Node n = map[key];
  if (!n || n.IsNull()) return std::nullopt;
  const std::string& text = n.IsScalar() ? n.Scalar() : "";
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (!n.IsScalar() || ec != std::errc() || end != text.data() + text.size()) {
    error(n, std::string(key) + " must be a whole number");
    return std::nullopt;
  }
  if (v < min || v > max) {
    error(n, std::string(key) + " must be between " + std::to_string(min) + " and " +
                 std::to_string(max) + ", got " + text);
    return std::nullopt;
  }
  return v;
}

std::optional<bool> YamlReader::boolean(const YAML::Node& map, const char* key) {
  YAML::Node n = map[key];
  if (!n || n.IsNull()) return std::nullopt;
  if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) return n.Scalar() == "true";
  error(n, std::string(key) + " must be true or false");
  return std::nullopt;
}

std::optional<Money> YamlReader::decimal(const YAML::Node& map, const char* key) {
  YAML::Node n = map[key];
  if (!n || n.IsNull()) return std::nullopt;
  std::optional<Money> m = n.IsScalar() ? Money::parse(n.Scalar()) : std::nullopt;
  if (!m)
    error(n, std::string(key) + " must be a non-negative decimal number with at most 9 decimals");
  return m;
}

}  // namespace tollgate

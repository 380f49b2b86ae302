#pragma once
// YamlReader: typed reads of YAML nodes that record "FILE:LINE:COL: message" errors instead of
// throwing. Used by the config, prices and policies loaders.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "daemon/config/config.h"
#include "metering/money.h"

namespace tollgate {

class YamlReader {
 public:
  YamlReader(std::string file, LoadErrors& errors) : file_(std::move(file)), errors_(errors) {}

  // Parses the file; on failure records the parser's position and returns nullopt.
  std::optional<YAML::Node> load();
  void error(const YAML::Node& at, const std::string& message);
  const std::string& file() const { return file_; }

  // Records an error for every key of the map not in `allowed`; false when `node` is not a map.
  bool expect_map(const YAML::Node& node, const std::string& what,
                  std::initializer_list<const char*> allowed);
  std::optional<std::string> string(const YAML::Node& map, const char* key);
  std::optional<int64_t> integer(const YAML::Node& map, const char* key, int64_t min, int64_t max);
  std::optional<bool> boolean(const YAML::Node& map, const char* key);
  // Exact decimal (the scalar's own text): never goes through double.
  std::optional<Money> decimal(const YAML::Node& map, const char* key);

 private:
  std::string file_;
  LoadErrors& errors_;
};

}  // namespace tollgate

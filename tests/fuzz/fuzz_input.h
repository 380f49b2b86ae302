#pragma once
// Helpers shared by the fuzz targets: cutting one input into parts, and writing a part to a file
// for the loaders that read files.

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace tollgate::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits on "\n--\n" (the seeds use it to give a target several inputs at once).
inline std::vector<std::string_view> parts(std::string_view text, size_t at_most) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < at_most) {
    size_t cut = text.find("\n--\n");
    if (cut == std::string_view::npos) break;
    out.push_back(text.substr(0, cut));
    text.remove_prefix(cut + 4);
  }
  out.push_back(text);
  return out;
}

// A file of this process's own, rewritten for each input: in /dev/shm (memory) when there is
// one, so millions of inputs do not become millions of disk writes.
inline std::string write_file(const std::string& name, std::string_view content) {
  static const std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/tollgate-fuzz-" + std::to_string(getpid()) + "-" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(content.data(),
                                                                 std::streamsize(content.size()));
  return path;
}

}  // namespace tollgate::fuzz

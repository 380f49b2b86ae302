#pragma once
// JSON text for responses and reports, with money as exact numbers.
//
// JsonWriter writes JSON straight from our values: numbers from their exact decimal text ("400.12",
// never 400.1199999 through a double), every string escaped (control characters, quotes,
// backslashes, and U+2028/U+2029 so the text is also safe inside a <script>). No input string can
// change the shape of what it writes.

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "metering/money.h"

namespace tollgate {

// A streaming writer: begin/end nest, key() precedes each member of an object. Not thread-safe;
// one per document.
class JsonWriter {
 public:
  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }
  JsonWriter& key(std::string_view k);
  JsonWriter& string(std::string_view s);
  // `text` must be a JSON number ("12", "-0.5"); anything else is written as null.
  JsonWriter& number(std::string_view text);
  JsonWriter& number(int64_t n) { return number(std::to_string(n)); }
  JsonWriter& money(Money m) { return number(m.to_string()); }
  JsonWriter& null();
  // A parsed or built Boost.JSON value (its numbers as Boost prints them).
  JsonWriter& value(const boost::json::value& v);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void separate();
  JsonWriter& open(char bracket);
  JsonWriter& close(char bracket);
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

// Appends `s` as a quoted, escaped JSON string.
void append_json_string(std::string& out, std::string_view s);
// True when `text` is a number in JSON's grammar.
bool is_json_number(std::string_view text);

// A Boost.JSON value as JsonWriter writes it (strings escaped alike; no value is special).
std::string serialize_json(const boost::json::value& v);

}  // namespace tollgate

#include "metering/json_text.h"

#include <cstdio>

#include "metering/text_rules.h"

namespace tollgate {

namespace {

bool digits(std::string_view& t) {
  size_t n = 0;
  while (n < t.size() && t[n] >= '0' && t[n] <= '9') ++n;
  t.remove_prefix(n);
  return n > 0;
}

}  // namespace

bool is_json_number(std::string_view t) {
  if (!t.empty() && t.front() == '-') t.remove_prefix(1);
  if (t.empty()) return false;
  if (t.front() == '0') {
    t.remove_prefix(1);
  } else if (!digits(t)) {
    return false;
  }
  if (!t.empty() && t.front() == '.') {
    t.remove_prefix(1);
    if (!digits(t)) return false;
  }
  if (!t.empty() && (t.front() == 'e' || t.front() == 'E')) {
    t.remove_prefix(1);
    if (!t.empty() && (t.front() == '+' || t.front() == '-')) t.remove_prefix(1);
    if (!digits(t)) return false;
  }
  return t.empty();
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else if (c == 0xe2 && i + 2 < s.size() && s[i + 1] == '\x80' &&
               (s[i + 2] == '\xa8' || s[i + 2] == '\xa9')) {
      out += s[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";  // line breaks to JavaScript
      i += 2;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (const size_t n = utf8_sequence_length(s, i); n > 0) {
      out.append(s.substr(i, n));
      i += n - 1;
    } else {
      // Not UTF-8 (refused at ingest, but a ledger written before or edited by hand may hold
      // it): the replacement character, so the document stays valid JSON.
      out += "\\ufffd";
    }
  }
  out += '"';
}

void JsonWriter::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

JsonWriter& JsonWriter::open(char bracket) {
  separate();
  out_ += bracket;
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::close(char bracket) {
  out_ += bracket;
  first_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view k) {
  separate();
  append_json_string(out_, k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view s) {
  separate();
  append_json_string(out_, s);
  return *this;
}

JsonWriter& JsonWriter::number(std::string_view text) {
  if (!is_json_number(text)) return null();
  separate();
  out_ += text;
  return *this;
}

JsonWriter& JsonWriter::null() {
  separate();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::value(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::object:
      begin_object();
      for (const auto& kv : v.get_object()) {
        key(kv.key());
        value(kv.value());
      }
      return end_object();
    case boost::json::kind::array:
      begin_array();
      for (const auto& e : v.get_array()) value(e);
      return end_array();
    case boost::json::kind::string:
      return string(v.get_string());
    default:
      separate();
      out_ += boost::json::serialize(v);
      return *this;
  }
}

std::string serialize_json(const boost::json::value& v) { return JsonWriter().value(v).take(); }

}  // namespace tollgate

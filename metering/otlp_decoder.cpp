#include "metering/otlp_decoder.h"

#include <boost/json.hpp>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <optional>

namespace tollgate {

namespace json = boost::json;

namespace {

// One attribute value, as far as usage needs it (arrays and maps are skipped).
struct Value {
  std::optional<std::string> text;
  std::optional<int64_t> integer;
  std::optional<double> number;
};
using Attributes = std::vector<std::pair<std::string, Value>>;

struct Span {
  std::string trace_id, span_id;  // hex
  uint64_t start_ns = 0, end_ns = 0;
  bool error = false;
  Attributes attributes;
};

struct ResourceSpans {
  Attributes resource;
  std::vector<Span> spans;
};

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// ---- protobuf wire format (only what ExportTraceServiceRequest needs; unknown fields skipped)

class Wire {
 public:
  explicit Wire(std::string_view b) : p_(b.data()), end_(b.data() + b.size()) {}
  bool more() const { return p_ < end_; }
  bool key(uint32_t& field, uint32_t& type) {
    uint64_t k;
    if (!varint(k) || (k >> 3) == 0 || (k >> 3) > UINT32_MAX) return false;
    field = static_cast<uint32_t>(k >> 3);
    type = static_cast<uint32_t>(k & 7);
    return true;
  }
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const auto byte = static_cast<unsigned char>(*p_++);
      v |= uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return true;
    }
    return false;
  }
  bool fixed(int bytes, uint64_t& v) {
    if (end_ - p_ < bytes) return false;
    v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(static_cast<unsigned char>(p_[i])) << (8 * i);
    p_ += bytes;
    return true;
  }
  bool bytes(std::string_view& v) {
    uint64_t n;
    if (!varint(n) || n > uint64_t(end_ - p_)) return false;
    v = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  bool skip(uint32_t type) {
    uint64_t ignored;
    std::string_view ignored_bytes;
    switch (type) {
      case 0:
        return varint(ignored);
      case 1:
        return fixed(8, ignored);
      case 2:
        return bytes(ignored_bytes);
      case 5:
        return fixed(4, ignored);
      default:
        return false;  // groups (3, 4) are not used by OTLP
    }
  }

 private:
  const char* p_;
  const char* end_;
};

// Calls on(field, type, wire) for each field; on() reads it (returning false on malformed data)
// or returns true having read nothing, in which case it is skipped.
template <typename On>
bool each_field(std::string_view message, On on) {
  Wire w(message);
  while (w.more()) {
    uint32_t field, type;
    if (!w.key(field, type)) return false;
    bool consumed = false;
    if (!on(field, type, w, consumed)) return false;
    if (!consumed && !w.skip(type)) return false;
  }
  return true;
}

bool read_any_value(std::string_view msg, Value& v) {
  return each_field(msg, [&](uint32_t f, uint32_t t, Wire& w, bool& used) {
    uint64_t n;
    std::string_view s;
    if (f == 1 && t == 2) {  // string_value
      used = true;
      if (!w.bytes(s)) return false;
      v.text = std::string(s);
    } else if (f == 3 && t == 0) {  // int_value
      used = true;
      if (!w.varint(n)) return false;
      v.integer = static_cast<int64_t>(n);
    } else if (f == 4 && t == 1) {  // double_value
      used = true;
      if (!w.fixed(8, n)) return false;
      double d;
      std::memcpy(&d, &n, sizeof d);
      v.number = d;
    }
    return true;
  });
}

bool read_key_value(std::string_view msg, Attributes& out) {
  std::string key;
  Value value;
  bool ok = each_field(msg, [&](uint32_t f, uint32_t t, Wire& w, bool& used) {
    std::string_view s;
    if (t != 2 || (f != 1 && f != 2)) return true;
    used = true;
    if (!w.bytes(s)) return false;
    if (f == 1) key = std::string(s);
    return f == 1 || read_any_value(s, value);
  });
  if (ok) out.emplace_back(std::move(key), std::move(value));
  return ok;
}

bool read_span(std::string_view msg, Span& span) {
  return each_field(msg, [&](uint32_t f, uint32_t t, Wire& w, bool& used) {
    std::string_view s;
    uint64_t n;
    if ((f == 1 || f == 2 || f == 9 || f == 15) && t == 2) {
      used = true;
      if (!w.bytes(s)) return false;
      if (f == 1) span.trace_id = hex(s);
      if (f == 2) span.span_id = hex(s);
      if (f == 9) return read_key_value(s, span.attributes);
      if (f == 15)  // Status { string message = 2; StatusCode code = 3; }
        return each_field(s, [&](uint32_t sf, uint32_t st, Wire& sw, bool& sused) {
          uint64_t code;
          if (sf != 3 || st != 0) return true;
          sused = true;
          if (!sw.varint(code)) return false;
          span.error = code == 2;
          return true;
        });
    } else if ((f == 7 || f == 8) && t == 1) {
      used = true;
      if (!w.fixed(8, n)) return false;
      (f == 7 ? span.start_ns : span.end_ns) = n;
    }
    return true;
  });
}

bool read_resource_spans(std::string_view msg, ResourceSpans& rs) {
  return each_field(msg, [&](uint32_t f, uint32_t t, Wire& w, bool& used) {
    std::string_view s;
    if (t != 2 || (f != 1 && f != 2)) return true;
    used = true;
    if (!w.bytes(s)) return false;
    if (f == 1)  // Resource { repeated KeyValue attributes = 1; }
      return each_field(s, [&](uint32_t rf, uint32_t rt, Wire& rw, bool& rused) {
        std::string_view kv;
        if (rf != 1 || rt != 2) return true;
        rused = true;
        return rw.bytes(kv) && read_key_value(kv, rs.resource);
      });
    // ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
    return each_field(s, [&](uint32_t sf, uint32_t st, Wire& sw, bool& sused) {
      std::string_view span;
      if (sf != 2 || st != 2) return true;
      sused = true;
      rs.spans.emplace_back();
      return sw.bytes(span) && read_span(span, rs.spans.back());
    });
  });
}

Result<std::vector<ResourceSpans>> parse_protobuf(std::string_view body) {
  std::vector<ResourceSpans> out;
  bool ok = each_field(body, [&](uint32_t f, uint32_t t, Wire& w, bool& used) {
    std::string_view s;
    if (f != 1 || t != 2) return true;
    used = true;
    out.emplace_back();
    return w.bytes(s) && read_resource_spans(s, out.back());
  });
  if (!ok)
    return Status::error(Code::kInvalidBody,
                         "the body is not a protobuf ExportTraceServiceRequest (OTLP/HTTP); send "
                         "Content-Type: application/json for the JSON encoding");
  return out;
}

// ---- OTLP JSON encoding (camelCase fields, hex ids, 64-bit integers as strings or numbers)

std::optional<int64_t> json_integer(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= uint64_t(INT64_MAX)) return int64_t(v->get_uint64());
  if (v->is_string()) {
    int64_t n = 0;
    std::string_view s = v->get_string();
    if (s.empty() || s.size() > 18) return std::nullopt;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  }
  return std::nullopt;
}

void json_attributes(const json::value* list, Attributes& out) {
  if (!list || !list->is_array()) return;
  for (const json::value& kv : list->get_array()) {
    if (!kv.is_object()) continue;
    const json::value* key = kv.get_object().if_contains("key");
    const json::value* value = kv.get_object().if_contains("value");
    if (!key || !key->is_string() || !value || !value->is_object()) continue;
    Value v;
    const json::object& o = value->get_object();
    if (const json::value* s = o.if_contains("stringValue"); s && s->is_string())
      v.text = std::string(s->get_string());
    v.integer = json_integer(o.if_contains("intValue"));
    if (const json::value* d = o.if_contains("doubleValue"); d && d->is_number())
      v.number = d->to_number<double>();
    out.emplace_back(std::string(key->get_string()), std::move(v));
  }
}

const json::value* member(const json::value& v, const char* key) {
  return v.is_object() ? v.get_object().if_contains(key) : nullptr;
}

Result<std::vector<ResourceSpans>> parse_json(std::string_view body) {
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  const json::value* list = ec ? nullptr : member(root, "resourceSpans");
  if (ec || !root.is_object() || (list && !list->is_array()))
    return Status::error(Code::kInvalidJson,
                         "the body is not an OTLP JSON ExportTraceServiceRequest "
                         "({\"resourceSpans\": [...]})" +
                             (ec ? ": " + ec.message() : std::string()));
  std::vector<ResourceSpans> out;
  if (!list) return out;
  for (const json::value& rs : list->get_array()) {
    ResourceSpans r;
    if (const json::value* res = member(rs, "resource")) json_attributes(member(*res, "attributes"), r.resource);
    const json::value* scopes = member(rs, "scopeSpans");
    if (scopes && scopes->is_array())
      for (const json::value& scope : scopes->get_array()) {
        const json::value* spans = member(scope, "spans");
        if (!spans || !spans->is_array()) continue;
        for (const json::value& sp : spans->get_array()) {
          Span span;
          if (const json::value* id = member(sp, "traceId"); id && id->is_string())
            span.trace_id = std::string(id->get_string());
          if (const json::value* id = member(sp, "spanId"); id && id->is_string())
            span.span_id = std::string(id->get_string());
          span.start_ns = uint64_t(json_integer(member(sp, "startTimeUnixNano")).value_or(0));
          span.end_ns = uint64_t(json_integer(member(sp, "endTimeUnixNano")).value_or(0));
          if (const json::value* st = member(sp, "status")) {
            const json::value* code = member(*st, "code");
            span.error = code && ((code->is_int64() && code->get_int64() == 2) ||
                                  (code->is_string() && code->get_string() == "STATUS_CODE_ERROR"));
          }
          json_attributes(member(sp, "attributes"), span.attributes);
          r.spans.push_back(std::move(span));
        }
      }
    out.push_back(std::move(r));
  }
  return out;
}

// ---- spans into usage events

const Value* find(const Attributes& attrs, std::string_view key) {
  for (const auto& [k, v] : attrs)
    if (k == key) return &v;
  return nullptr;
}

// Span attributes win over the resource's.
const Value* lookup(const Span& span, const Attributes& resource, std::string_view key) {
  const Value* v = find(span.attributes, key);
  return v ? v : find(resource, key);
}

std::optional<int64_t> count(const Span& span, const Attributes& resource,
                             std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys)
    if (const Value* v = lookup(span, resource, key)) {
      if (v->integer) return v->integer;
      if (v->number && *v->number >= 0 && *v->number < 1e15) return int64_t(*v->number);
    }
  return std::nullopt;
}

std::optional<std::string> text(const Span& span, const Attributes& resource,
                                std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys)
    if (const Value* v = lookup(span, resource, key); v && v->text) return v->text;
  return std::nullopt;
}

// The span as a usage event in the JSON form of CONTRACT §3, so the one validation applies.
std::optional<json::object> to_event(const Span& span, const Attributes& resource,
                                     const OtlpMapping& mapping) {
  const auto input = count(span, resource, {"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"});
  const auto output =
      count(span, resource, {"gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"});
  if (!input && !output) return std::nullopt;  // not a GenAI call with usage
  // The convention's input_tokens counts every input token, cached ones included; Tollgate's
  // input_tokens are the uncached ones, with cache reads and writes priced on their own.
  const int64_t cache_read = count(span, resource, {"gen_ai.usage.cache_read.input_tokens",
                                                    "gen_ai.usage.cache_read_input_tokens"})
                                 .value_or(0);
  const int64_t cache_write = count(span, resource, {"gen_ai.usage.cache_creation.input_tokens",
                                                     "gen_ai.usage.cache_creation_input_tokens"})
                                  .value_or(0);
  json::object e{{"event_id", span.trace_id + span.span_id},
                 {"input_tokens", std::max<int64_t>(0, input.value_or(0) - cache_read - cache_write)},
                 {"cached_input_tokens", cache_read},
                 {"cache_write_tokens", cache_write},
                 {"output_tokens", output.value_or(0)}};
  if (const uint64_t ns = span.end_ns ? span.end_ns : span.start_ns; ns)
    e["ts"] = int64_t(ns / 1'000'000);
  if (auto model = text(span, resource, {"gen_ai.response.model", "gen_ai.request.model"}))
    e["model"] = *model;
  if (auto provider = text(span, resource, {"gen_ai.provider.name", "gen_ai.system"}))
    e["provider"] = *provider;
  for (const auto& [dimension, attribute] : mapping.attributes)
    if (auto v = text(span, resource, {attribute})) e[dimension] = *v;
  if (span.error) e["status"] = "error";
  return e;
}

}  // namespace

OtlpMapping OtlpMapping::defaults() {
  return {{{"feature", "service.name"},
           {"team", "tollgate.team"},
           {"customer", "tollgate.customer"},
           {"priority", "tollgate.priority"},
           {"region", "cloud.region"}}};
}

Result<OtlpDecoded> decode_otlp_traces(std::string_view body, OtlpEncoding encoding,
                                       const OtlpMapping& mapping, EpochMs now_ms,
                                       EpochMs oldest_ms, Money max_event_cost) {
  auto parsed = encoding == OtlpEncoding::kProtobuf ? parse_protobuf(body) : parse_json(body);
  if (!parsed.ok()) return parsed.status();
  OtlpDecoded out;
  json::array events;
  for (const ResourceSpans& rs : parsed.value())
    for (const Span& span : rs.spans) {
      ++out.spans;
      if (auto e = to_event(span, rs.resource, mapping))
        events.push_back(std::move(*e));
      else
        ++out.skipped;
    }
  if (events.empty()) return out;
  auto items = decode_usage_body(json::serialize(events), BodyFormat::kJson, now_ms, oldest_ms,
                                 max_event_cost);
  if (!items.ok()) return items.status();
  out.items = std::move(items.value());
  return out;
}

std::string otlp_response(OtlpEncoding encoding, int64_t rejected_spans,
                          const std::string& error_message) {
  if (encoding == OtlpEncoding::kJson) {
    if (rejected_spans == 0) return "{}";
    return json::serialize(json::object{
        {"partialSuccess", json::object{{"rejectedSpans", std::to_string(rejected_spans)},
                                        {"errorMessage", error_message}}}});
  }
  if (rejected_spans == 0) return "";
  // ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
  auto varint = [](std::string& out, uint64_t v) {
    do {
      out += static_cast<char>((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      v >>= 7;
    } while (v);
  };
  std::string partial;
  partial += '\x08';
  varint(partial, uint64_t(rejected_spans));
  partial += '\x12';
  varint(partial, error_message.size());
  partial += error_message;
  std::string out = "\x0a";
  varint(out, partial.size());
  return out + partial;
}

}  // namespace tollgate

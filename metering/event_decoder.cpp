#include "metering/event_decoder.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <optional>

#include "metering/text_rules.h"

namespace tollgate {

namespace json = boost::json;

namespace {

constexpr size_t kMaxString = 128;
constexpr size_t kMaxTags = 16;
constexpr int64_t kMaxCount = 1'000'000'000'000;  // 10^12
constexpr EpochMs kMaxFutureMs = 5 * 60 * 1000;

Status field_error(Code code, std::string_view field, std::string what) {
  return Status::error(code, "field \"" + std::string(field) + "\" " + what);
}

// The top-level fields an event may have, found in one pass over its keys: looking each up in
// the object instead scanned every key of it per lookup, about thirty times an event, most of
// them for fields the event does not have (about 6% of the daemon's CPU under ingest). A parsed
// object holds the last of duplicate keys only, so one pass finds what a lookup would.
// clang-format off
enum Field : uint8_t {
  kEventId, kFeature, kProvider, kModel, kTeam, kCustomer, kRegion, kReservationId, kTags, kTs,
  kPriority, kStatus, kInputTokens, kCachedInputTokens, kCacheWriteTokens, kOutputTokens,
  kReasoningTokens, kRequests, kEgressBytes, kLatencyMs, kUsage, kUsageMetadata, kGpuSeconds,
  kValueUnits, kRevenue, kCost, kFieldCount
};
constexpr std::string_view kFieldNames[kFieldCount] = {
    "event_id",      "feature",          "provider",         "model",
    "team",          "customer",         "region",           "reservation_id",
    "tags",          "ts",               "priority",         "status",
    "input_tokens",  "cached_input_tokens", "cache_write_tokens", "output_tokens",
    "reasoning_tokens", "requests",      "egress_bytes",     "latency_ms",
    "usage",         "usageMetadata",    "gpu_seconds",      "value_units",
    "revenue",       "cost"};
// clang-format on

// The fields of each name length (at most five share one; no name is 20 bytes long), kFieldCount
// past the last: checked as it is built, at compile time.
constexpr size_t kMaxFieldName = 19, kMaxSameLength = 5;
using FieldsByLength = std::array<std::array<Field, kMaxSameLength + 1>, kMaxFieldName + 1>;
constexpr FieldsByLength fields_by_length() {
  FieldsByLength t{};
  for (auto& row : t)
    for (Field& f : row) f = kFieldCount;
  for (int f = 0; f < kFieldCount; ++f) {
    // A field added to the enum without a name would match the empty key.
    if (kFieldNames[f].empty()) throw "every field needs its name in kFieldNames";
    auto& row = t.at(kFieldNames[f].size());  // a longer name: not a constant expression
    size_t n = 0;
    while (row.at(n) != kFieldCount) ++n;  // a sixth of a length: not a constant expression
    if (n == kMaxSameLength) throw "raise kMaxSameLength";
    row[n] = static_cast<Field>(f);
  }
  return t;
}
constexpr FieldsByLength kFieldsByLength = fields_by_length();

class Fields {
 public:
  explicit Fields(const json::object& o) {
    for (const auto& kv : o) {
      const std::string_view key = kv.key();
      if (key.size() > kMaxFieldName) continue;  // no field's name is that long
      for (Field f : kFieldsByLength[key.size()]) {
        if (f == kFieldCount) break;
        if (key == kFieldNames[f]) {
          values_[f] = &kv.value();
          break;
        }
      }
    }
  }
  // The field's value, or null when the event does not have it.
  const json::value* operator[](Field f) const { return values_[f]; }

 private:
  const json::value* values_[kFieldCount] = {};
};

// Reads an optional bounded string field (`v`: its value, null when absent).
Status read_string(const json::value* v, std::string_view key, std::string& out,
                   bool required = false) {
  if (!v || v->is_null()) {
    if (required) return field_error(Code::kMissingField, key, "is required");
    return {};
  }
  if (!v->is_string()) return field_error(Code::kInvalidType, key, "must be a string");
  const json::string& s = v->get_string();
  if (s.size() > kMaxString)
    return field_error(Code::kStringTooLong, key,
                       "is " + std::to_string(s.size()) + " bytes; the limit is 128");
  if (required && s.empty()) return field_error(Code::kMissingField, key, "must not be empty");
  if (Status st = check_text(key, s); !st.ok()) return st;
  out.assign(s.data(), s.size());
  return {};
}

// Non-negative integer ≤ 10^12 (an integral double such as 1e3 is accepted).
Status read_count(const json::value* v, std::string_view key, int64_t& out) {
  if (!v || v->is_null()) return {};
  int64_t n = -1;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64()) {
    n = v->get_uint64() > static_cast<uint64_t>(kMaxCount) ? kMaxCount + 1
                                                           : static_cast<int64_t>(v->get_uint64());
  } else if (v->is_double()) {
    double d = v->get_double();
    if (std::floor(d) != d)
      return field_error(Code::kInvalidCount, key,
                         "must be a whole number, got " + json::serialize(*v));
    // Range first: a double outside int64 (-1e300, ±inf) must not be converted (UB).
    n = d > static_cast<double>(kMaxCount) ? kMaxCount + 1
        : d < 0                            ? -1
                                           : static_cast<int64_t>(d);
  } else {
    return field_error(Code::kInvalidType, key, "must be a non-negative integer");
  }
  if (n < 0) return field_error(Code::kInvalidCount, key, "must not be negative");
  if (n > kMaxCount) return field_error(Code::kInvalidCount, key, "must be at most 10^12");
  out = n;
  return {};
}

Status read_count(const json::object& o, std::string_view key, int64_t& out) {
  return read_count(o.if_contains(key), key, out);
}

// Non-negative decimal number (JSON number or decimal string), exact to 9 decimals.
Status read_amount(const json::value* v, std::string_view key, std::optional<Money>& out) {
  if (!v || v->is_null()) return {};
  std::optional<Money> m;
  if (v->is_int64()) {
    m = Money::parse(std::to_string(v->get_int64()), true);
  } else if (v->is_uint64()) {
    m = Money::parse(std::to_string(v->get_uint64()), true);
  } else if (v->is_double()) {
    m = Money::from_double(v->get_double());
  } else if (v->is_string()) {
    m = Money::parse(std::string_view(v->get_string()), true);
  } else {
    return field_error(Code::kInvalidType, key, "must be a number");
  }
  if (!m)
    return field_error(Code::kInvalidNumber, key,
                       "must be a number below 9.2e9 with at most 9 decimals");
  if (m->nanos() < 0) return field_error(Code::kInvalidNumber, key, "must not be negative");
  out = m;
  return {};
}

// A money amount that ends up in sums: at most limits.max_event_cost.
Status read_bounded_amount(const json::value* v, std::string_view key, Money max,
                           std::optional<Money>& out) {
  Status s = read_amount(v, key, out);
  if (s.ok() && out && *out > max)
    return field_error(
        Code::kCostOutOfRange, key,
        "is " + out->to_string() + ", above limits.max_event_cost (" + max.to_string() + ")");
  return s;
}

Status read_tags(const json::value* v, UsageEvent& e) {
  if (!v || v->is_null()) return {};
  if (!v->is_object())
    return field_error(Code::kInvalidType, "tags", "must be an object of strings");
  const json::object& tags = v->get_object();
  if (tags.size() > kMaxTags)
    return field_error(Code::kTooManyTags, "tags",
                       "has " + std::to_string(tags.size()) + " entries; the limit is 16");
  e.tags.reserve(tags.size());
  for (const auto& kv : tags) {
    const std::string_view key = kv.key();
    if (key.empty() || key.size() > kMaxString)
      return field_error(Code::kInvalidTag, "tags", "keys must be 1 to 128 bytes");
    if (Status s = check_text("tags", key); !s.ok()) return s;
    // The value's field name ("tags.<key>") is spelled only for an error.
    const auto field = [&] { return "tags." + std::string(key); };
    if (!kv.value().is_string()) return field_error(Code::kInvalidTag, field(), "must be a string");
    const json::string& val = kv.value().get_string();
    if (val.size() > kMaxString)
      return field_error(Code::kStringTooLong, field(), "is longer than 128 bytes");
    if (!check_text("tags", val).ok()) return check_text(field(), val);
    e.tags.emplace_back(std::string(key), std::string(val.data(), val.size()));
  }
  std::sort(e.tags.begin(), e.tags.end());
  return {};
}

// The token counts of a provider's usage object (CONTRACT §3), each form known by its keys.
struct UsageForm {
  const char* name;
  std::initializer_list<const char*> keys;
};
constexpr const char* kOpenAi = "OpenAI";
constexpr const char* kAnthropic = "Anthropic";
constexpr const char* kGemini = "Gemini";
const UsageForm kUsageForms[] = {
    {kOpenAi,
     {"prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"}},
    {kAnthropic,
     {"input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"}},
    {kGemini,
     {"promptTokenCount", "candidatesTokenCount", "cachedContentTokenCount", "thoughtsTokenCount"}},
};

Status in_usage(const char* field, Status s) {
  if (s.ok()) return s;
  return Status::error(s.code(), std::string("in \"") + field + "\": " + s.message());
}

// Reads a count out of a nested details object (OpenAI's *_tokens_details).
Status read_detail(const json::object& u, const char* object, const char* key, int64_t& out) {
  const json::value* d = u.if_contains(object);
  if (!d || d->is_null()) return {};
  if (!d->is_object()) return field_error(Code::kInvalidType, object, "must be an object");
  return read_count(d->get_object(), key, out);
}

Status decode_usage(const char* field, const json::object& u, UsageEvent& e) {
  const char* form = nullptr;
  for (const UsageForm& f : kUsageForms) {
    bool has =
        std::any_of(f.keys.begin(), f.keys.end(), [&](const char* k) { return u.contains(k); });
    if (!has) continue;
    if (form)
      return Status::error(Code::kConflictingFields,
                           std::string("\"") + field + "\" mixes the " + form + " and " + f.name +
                               " usage forms; send one provider's object as it came");
    form = f.name;
  }
  if (!form)
    return Status::error(
        Code::kInvalidUsage,
        std::string("\"") + field + "\" is none of the OpenAI, Anthropic or Gemini usage objects");
  int64_t prompt = 0, cached = 0, output = 0, reasoning = 0, cache_write = 0;
  Status s;
  if (form == kOpenAi) {
    s = read_count(u, "prompt_tokens", prompt);
    if (s.ok()) s = read_count(u, "completion_tokens", output);
    if (s.ok()) s = read_detail(u, "prompt_tokens_details", "cached_tokens", cached);
    if (s.ok()) s = read_detail(u, "completion_tokens_details", "reasoning_tokens", reasoning);
  } else if (form == kAnthropic) {
    // Anthropic's input_tokens are already the uncached ones (counts ≤ 10^12: no overflow).
    s = read_count(u, "input_tokens", prompt);
    if (s.ok()) s = read_count(u, "output_tokens", output);
    if (s.ok()) s = read_count(u, "cache_read_input_tokens", cached);
    if (s.ok()) s = read_count(u, "cache_creation_input_tokens", cache_write);
    prompt += cached;
  } else {
    int64_t thoughts = 0;
    s = read_count(u, "promptTokenCount", prompt);
    if (s.ok()) s = read_count(u, "candidatesTokenCount", output);
    if (s.ok()) s = read_count(u, "cachedContentTokenCount", cached);
    if (s.ok()) s = read_count(u, "thoughtsTokenCount", thoughts);
    // Google bills thoughts as output, and counts them apart from the candidates.
    output += thoughts;
    reasoning = thoughts;
  }
  if (!s.ok()) return in_usage(field, s);
  if (cached > prompt)
    return Status::error(Code::kInvalidUsage, std::string("\"") + field + "\": " + form +
                                                  " cached tokens (" + std::to_string(cached) +
                                                  ") exceed the prompt tokens (" +
                                                  std::to_string(prompt) + ")");
  if (reasoning > output)
    return Status::error(Code::kInvalidUsage, std::string("\"") + field + "\": " + form +
                                                  " reasoning tokens exceed the output tokens");
  // Prompt counts include the cached tokens: charge them once, at the cache-read price.
  e.input_tokens = prompt - cached;
  e.cached_input_tokens = cached;
  e.cache_write_tokens = cache_write;
  e.output_tokens = output;
  e.reasoning_tokens = reasoning;
  return {};
}

// `usage` (any provider's form) or Gemini's `usageMetadata`, instead of the token fields.
Status read_usage_object(const Fields& fields, UsageEvent& e) {
  const char* field = nullptr;
  const json::value* usage = nullptr;
  for (Field f : {kUsage, kUsageMetadata}) {
    const json::value* v = fields[f];
    if (!v || v->is_null()) continue;
    if (field)
      return Status::error(Code::kConflictingFields, "give either \"usage\" or \"usageMetadata\"");
    field = kFieldNames[f].data();  // the names are literals: NUL-terminated
    usage = v;
  }
  if (!field) return {};
  for (Field f :
       {kInputTokens, kCachedInputTokens, kCacheWriteTokens, kOutputTokens, kReasoningTokens}) {
    if (fields[f] && !fields[f]->is_null())
      return Status::error(Code::kConflictingFields, std::string("give either \"") + field +
                                                         "\" or \"" + std::string(kFieldNames[f]) +
                                                         "\", not both");
  }
  if (!usage->is_object()) return field_error(Code::kInvalidType, field, "must be an object");
  return decode_usage(field, usage->get_object(), e);
}

Status read_timestamp(const json::value* v, UsageEvent& e, EpochMs now_ms, EpochMs oldest_ms) {
  e.ts_ms = now_ms;
  if (!v || v->is_null()) return {};
  if (v->is_string()) {
    auto ts = parse_rfc3339(std::string_view(v->get_string()));
    if (!ts)
      return field_error(Code::kInvalidTimestamp, "ts",
                         "must be RFC 3339 like 2026-11-21T10:00:00Z or epoch milliseconds");
    e.ts_ms = *ts;
  } else if (v->is_int64() || v->is_uint64()) {
    if (v->is_uint64() || v->get_int64() < 0)
      return field_error(Code::kInvalidTimestamp, "ts", "must be non-negative epoch milliseconds");
    e.ts_ms = v->get_int64();
  } else {
    return field_error(Code::kInvalidTimestamp, "ts",
                       "must be an RFC 3339 string or integer epoch milliseconds");
  }
  if (e.ts_ms > now_ms + kMaxFutureMs)
    return field_error(Code::kTimestampInFuture, "ts",
                       "is " + format_utc_ms(e.ts_ms) + ", more than 5 minutes in the future");
  if (e.ts_ms < oldest_ms)
    return field_error(Code::kTimestampTooOld, "ts",
                       "is " + format_utc_ms(e.ts_ms) +
                           ", older than storage.raw_retention_days allows (oldest accepted: " +
                           format_utc_ms(oldest_ms) + ")");
  return {};
}

Status validate(const Fields& o, UsageEvent& e, EpochMs now_ms, EpochMs oldest_ms,
                Money max_event_cost) {
  Status s = read_string(o[kEventId], "event_id", e.event_id, true);
  if (!s.ok()) return s;
  for (unsigned char c : e.event_id)
    if (c > 0x7e) return field_error(Code::kInvalidEventId, "event_id", "must be printable ASCII");
  s = read_string(o[kFeature], "feature", e.feature, true);
  if (s.ok()) s = read_string(o[kProvider], "provider", e.provider, true);
  if (s.ok()) s = read_string(o[kModel], "model", e.model, true);
  if (s.ok()) s = read_string(o[kTeam], "team", e.team);
  if (s.ok()) s = read_string(o[kCustomer], "customer", e.customer);
  if (s.ok()) s = read_string(o[kRegion], "region", e.region);
  if (s.ok()) s = read_string(o[kReservationId], "reservation_id", e.reservation_id);
  if (!s.ok()) return s;
  if (s = read_tags(o[kTags], e); !s.ok()) return s;
  if (s = read_timestamp(o[kTs], e, now_ms, oldest_ms); !s.ok()) return s;

  std::string text;
  if (s = read_string(o[kPriority], "priority", text); !s.ok()) return s;
  if (!text.empty()) {
    auto p = parse_priority(text);
    if (!p)
      return field_error(Code::kInvalidPriority, "priority",
                         "must be critical, standard or batch, got \"" + text + "\"");
    e.priority = *p;
  }
  text.clear();
  if (s = read_string(o[kStatus], "status", text); !s.ok()) return s;
  if (!text.empty() && text != "ok" && text != "error")
    return field_error(Code::kInvalidStatus, "status", "must be ok or error, got \"" + text + "\"");
  e.status_ok = text != "error";

  for (auto [field, out] : {std::pair{kInputTokens, &e.input_tokens},
                            {kCachedInputTokens, &e.cached_input_tokens},
                            {kCacheWriteTokens, &e.cache_write_tokens},
                            {kOutputTokens, &e.output_tokens},
                            {kReasoningTokens, &e.reasoning_tokens},
                            {kRequests, &e.requests},
                            {kEgressBytes, &e.egress_bytes},
                            {kLatencyMs, &e.latency_ms}}) {
    if (s = read_count(o[field], kFieldNames[field], *out); !s.ok()) return s;
  }
  if (s = read_usage_object(o, e); !s.ok()) return s;
  if (e.reasoning_tokens > e.output_tokens)
    return field_error(Code::kInvalidCount, "reasoning_tokens",
                       "(" + std::to_string(e.reasoning_tokens) +
                           ") are part of output_tokens and cannot exceed them (" +
                           std::to_string(e.output_tokens) + ")");

  std::optional<Money> gpu;
  if (s = read_amount(o[kGpuSeconds], "gpu_seconds", gpu); !s.ok()) return s;
  if (gpu) {
    if (gpu->nanos() % 1000 != 0)
      return field_error(Code::kInvalidNumber, "gpu_seconds", "has more than 6 decimals");
    e.gpu_micros = gpu->nanos() / 1000;
  }
  std::optional<Money> amount;
  if (s = read_amount(o[kValueUnits], "value_units", amount); !s.ok()) return s;
  e.value_units = amount.value_or(Money());
  if (s = read_bounded_amount(o[kRevenue], "revenue", max_event_cost, amount); !s.ok()) return s;
  e.revenue = amount.value_or(Money());
  if (s = read_bounded_amount(o[kCost], "cost", max_event_cost, e.caller_cost); !s.ok()) return s;
  return {};
}

void decode_one(const json::value& v, EpochMs now_ms, EpochMs oldest_ms, Money max_event_cost,
                DecodedItem& item) {
  if (!v.is_object()) {
    item.status = Status::error(Code::kNotAnObject, "each event must be a JSON object");
    return;
  }
  const Fields fields(v.get_object());
  if (const json::value* id = fields[kEventId]; id && id->is_string())
    item.event_id.assign(id->get_string().data(),
                         std::min<size_t>(id->get_string().size(), kMaxString));
  item.status = validate(fields, item.event, now_ms, oldest_ms, max_event_cost);
}

}  // namespace

namespace {

Status too_many(size_t max_items) {
  return Status::error(Code::kTooManyItems,
                       "the body holds more than limits.max_items_per_request (" +
                           std::to_string(max_items) +
                           ") events; nothing was stored: send smaller batches");
}

// Calls f(line) for each line of an NDJSON body that holds something but blanks (space, tab,
// CR), its trailing blanks cut. Lines are found with find (memchr): a loop over every byte of
// the body, to count its items, was 2% of the daemon's CPU under ingest.
template <typename F>
void for_each_ndjson_line(std::string_view body, F&& f) {
  for (size_t pos = 0; pos < body.size();) {
    size_t nl = body.find('\n', pos);
    if (nl == std::string_view::npos) nl = body.size();
    std::string_view line = body.substr(pos, nl - pos);
    pos = nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.remove_suffix(1);
    if (!line.empty()) f(line);
  }
}

// The items of an NDJSON body, without decoding any.
size_t count_ndjson_items(std::string_view body) {
  size_t n = 0;
  for_each_ndjson_line(body, [&n](std::string_view) { ++n; });
  return n;
}

// The elements of a top-level JSON array, counted without parsing (commas at depth 1, outside
// strings), so a huge array is refused before it costs memory; nullopt when the body is not an
// array. Only a pre-check: the parsed array is counted again.
std::optional<size_t> count_array_items(std::string_view body) {
  size_t i = body.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos || body[i] != '[') return std::nullopt;
  size_t depth = 0, commas = 0;
  bool in_string = false, escaped = false, any = false;
  for (; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (depth-- == 1) break;
    } else if (c == ',' && depth == 1) {
      ++commas;
    }
    if (depth >= 1 && c != ' ' && c != '\t' && c != '\r' && c != '\n' && !(depth == 1 && c == '['))
      any = true;
  }
  return any ? commas + 1 : 0;
}

}  // namespace

Result<std::vector<DecodedItem>> decode_usage_body(std::string_view body, BodyFormat format,
                                                   EpochMs now_ms, EpochMs oldest_ms,
                                                   Money max_event_cost, size_t max_items) {
  std::vector<DecodedItem> items;
  json::monotonic_resource mr;
  if (format == BodyFormat::kNdjson) {
    const size_t count = count_ndjson_items(body);
    if (count > max_items) return too_many(max_items);
    items.reserve(count);
    size_t parsed = 0;
    for_each_ndjson_line(body, [&](std::string_view line) {
      DecodedItem& item = items.emplace_back();
      boost::system::error_code ec;
      // Each line's parse lives in its own small arena, gone before the next line: a body's
      // parsed lines never pile up (a usual event fits the stack buffer; more goes to the heap).
      unsigned char arena[4096];
      json::monotonic_resource line_mr(arena, sizeof arena);
      json::value v = json::parse(line, ec, &line_mr);
      parsed += !ec;
      if (ec) {
        item.status = Status::error(Code::kInvalidJson, "line " + std::to_string(items.size()) +
                                                            " is not valid JSON: " + ec.message());
        return;
      }
      decode_one(v, now_ms, oldest_ms, max_event_cost, item);
    });
    if (items.empty()) return Status::error(Code::kEmptyBody, "the body holds no events");
    if (parsed == 0)  // not one line of JSON: the body as a whole is unreadable
      return Status::error(Code::kInvalidJson, "no line of the NDJSON body is valid JSON");
    return items;
  }
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return Status::error(Code::kEmptyBody, "the body holds no events");
  if (auto count = count_array_items(body); count && *count > max_items)
    return too_many(max_items);
  boost::system::error_code ec;
  json::value root = json::parse(body, ec, &mr);
  if (ec)
    return Status::error(Code::kInvalidJson,
                         "the body is not valid JSON (" + ec.message() +
                             "); send one event, a JSON array of events, or NDJSON with "
                             "Content-Type: application/x-ndjson");
  if (root.is_array()) {
    const json::array& arr = root.get_array();
    if (arr.empty()) return Status::error(Code::kEmptyBody, "the array holds no events");
    if (arr.size() > max_items) return too_many(max_items);
    items.resize(arr.size());
    for (size_t i = 0; i < arr.size(); ++i)
      decode_one(arr[i], now_ms, oldest_ms, max_event_cost, items[i]);
  } else if (root.is_object()) {
    items.resize(1);
    decode_one(root, now_ms, oldest_ms, max_event_cost, items[0]);
  } else {
    return Status::error(Code::kInvalidBody,
                         "the body must be a JSON object or an array of objects");
  }
  return items;
}

}  // namespace tollgate

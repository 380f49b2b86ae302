#include "metering/event_decoder.h"

#include <doctest/doctest.h>

#include "metering/text_rules.h"

using namespace tollgate;

namespace {

const EpochMs kNow = *parse_rfc3339("2026-11-21T12:00:00Z");
const EpochMs kOldest = kNow - 35LL * 86'400'000;

std::vector<DecodedItem> decode(const std::string& body, BodyFormat f = BodyFormat::kJson) {
  auto r = decode_usage_body(body, f, kNow, kOldest);
  REQUIRE(r.ok());
  return r.value();
}

// The rejection code of a single event built from the valid base plus `extra` fields.
std::string code_of(const std::string& extra) {
  std::string body = R"({"event_id":"e1","feature":"f","provider":"p","model":"m")" +
                     (extra.empty() ? "" : "," + extra) + "}";
  auto items = decode(body);
  REQUIRE(items.size() == 1);
  return items[0].status.ok() ? "ok" : std::string(items[0].status.code_name());
}

}  // namespace

TEST_CASE("a full event decodes with every field") {
  auto items = decode(R"({"event_id": "req-7f3a", "ts": "2026-11-21T10:00:00Z",
 "feature": "support-chat", "team": "cx", "customer": "acme", "tags": {"cost_center": "cc-42", "a": "b"},
 "provider": "alibaba", "model": "qwen3-max", "region": "eu-fr", "priority": "batch",
 "input_tokens": 1200, "cached_input_tokens": 10, "cache_write_tokens": 5, "output_tokens": 300,
 "requests": 2, "gpu_seconds": 1.5, "egress_bytes": 7, "latency_ms": 840, "status": "error",
 "value_units": 1, "revenue": 0.05, "cost": null, "reservation_id": null, "unknown": [1]})");
  REQUIRE(items[0].status.ok());
  const UsageEvent& e = items[0].event;
  CHECK(e.event_id == "req-7f3a");
  CHECK(e.ts_ms == *parse_rfc3339("2026-11-21T10:00:00Z"));
  CHECK(e.team == "cx");
  CHECK(e.tags_json() == R"({"a":"b","cost_center":"cc-42"})");
  CHECK(e.priority == Priority::kBatch);
  CHECK(e.input_tokens == 1200);
  CHECK(e.cached_input_tokens == 10);
  CHECK(e.cache_write_tokens == 5);
  CHECK(e.output_tokens == 300);
  CHECK(e.requests == 2);
  CHECK(e.gpu_micros == 1'500'000);
  CHECK_FALSE(e.status_ok);
  CHECK(e.revenue.nanos() == 50'000'000);
  CHECK_FALSE(e.caller_cost.has_value());
}

TEST_CASE("defaults: receipt time, standard priority, one request, status ok") {
  auto items = decode(R"({"event_id":"e","feature":"f","provider":"p","model":"m"})");
  const UsageEvent& e = items[0].event;
  CHECK(e.ts_ms == kNow);
  CHECK(e.priority == Priority::kStandard);
  CHECK(e.requests == 1);
  CHECK(e.status_ok);
}

TEST_CASE("an OpenAI usage object: input = prompt - cached") {
  auto items = decode(R"({"event_id":"e","feature":"f","provider":"openai","model":"gpt-4o",
    "usage":{"prompt_tokens":1000,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":800}}})");
  REQUIRE(items[0].status.ok());
  CHECK(items[0].event.input_tokens == 200);
  CHECK(items[0].event.cached_input_tokens == 800);
  CHECK(items[0].event.output_tokens == 50);
}

TEST_CASE("every validation error has its code") {
  CHECK(code_of("") == "ok");
  CHECK(code_of(R"("ts": 1795255200000)") == "ok");  // epoch ms
  CHECK(code_of(R"("ts": "2026-11-21T10:00:00+05:30")") == "ok");
  CHECK(decode(R"({"feature":"f","provider":"p","model":"m"})")[0].status.code_name() ==
        "missing_field");
  CHECK(
      decode(R"({"event_id":"","feature":"f","provider":"p","model":"m"})")[0].status.code_name() ==
      "missing_field");
  CHECK(decode(R"({"event_id":"e","provider":"p","model":"m"})")[0].status.code_name() ==
        "missing_field");
  CHECK(decode(R"({"event_id":"e","feature":"f","model":"m"})")[0].status.code_name() ==
        "missing_field");
  CHECK(decode(R"({"event_id":"e","feature":"f","provider":"p"})")[0].status.code_name() ==
        "missing_field");
  CHECK(decode(R"({"event_id":"e\u00e9","feature":"f","provider":"p","model":"m"})")[0]
            .status.code_name() == "invalid_event_id");
  // CONTRACT §3 (updated): a control character in any string, event_id included, is invalid_string.
  CHECK(decode(R"({"event_id":"e\n","feature":"f","provider":"p","model":"m"})")[0]
            .status.code_name() == "invalid_string");
  CHECK(
      decode(R"({"event_id":7,"feature":"f","provider":"p","model":"m"})")[0].status.code_name() ==
      "invalid_type");
  CHECK(code_of(R"("team": ")" + std::string(129, 'x') + "\"") == "string_too_long");
  CHECK(code_of(R"("team": ")" + std::string(128, 'x') + "\"") == "ok");
  std::string tags = "\"tags\":{";
  for (int i = 0; i < 17; ++i)
    tags += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":\"v\"";
  CHECK(code_of(tags + "}") == "too_many_tags");
  CHECK(code_of(R"("tags": {"k": 1})") == "invalid_tag");
  CHECK(code_of(R"("tags": ["k"])") == "invalid_type");
  CHECK(code_of(R"("ts": "yesterday")") == "invalid_timestamp");
  CHECK(code_of(R"("ts": "2026-02-30T00:00:00Z")") == "invalid_timestamp");
  CHECK(code_of(R"("ts": 1.5)") == "invalid_timestamp");
  CHECK(code_of(R"("ts": "2026-11-21T12:06:00Z")") == "timestamp_in_future");
  CHECK(code_of(R"("ts": "2026-11-21T12:04:00Z")") == "ok");  // within 5 minutes
  CHECK(code_of(R"("ts": "2026-01-01T00:00:00Z")") == "timestamp_too_old");
  CHECK(code_of(R"("input_tokens": -1)") == "invalid_count");
  CHECK(code_of(R"("input_tokens": 1.5)") == "invalid_count");
  CHECK(code_of(R"("input_tokens": 1000000000001)") == "invalid_count");
  CHECK(code_of(R"("input_tokens": 1000000000000)") == "ok");
  CHECK(code_of(R"("output_tokens": "12")") == "invalid_type");
  CHECK(code_of(R"("requests": 18446744073709551615)") == "invalid_count");
  CHECK(code_of(R"("gpu_seconds": -0.5)") == "invalid_number");
  CHECK(code_of(R"("gpu_seconds": 0.0000001)") == "invalid_number");
  CHECK(code_of(R"("revenue": "abc")") == "invalid_number");
  CHECK(code_of(R"("value_units": true)") == "invalid_type");
  CHECK(code_of(R"("cost": -1)") == "invalid_number");
  CHECK(code_of(R"("priority": "urgent")") == "invalid_priority");
  CHECK(code_of(R"("status": "fine")") == "invalid_status");
  CHECK(
      code_of(R"("usage": {"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 6}})") ==
      "invalid_usage");
  CHECK(code_of(R"("usage": {"prompt_tokens": 5}, "input_tokens": 5)") == "conflicting_fields");
  CHECK(code_of(R"("usage": {"prompt_tokens": -5})") == "invalid_count");
  CHECK(decode("[1]")[0].status.code_name() == "not_an_object");
}

TEST_CASE("messages name the field") {
  auto items =
      decode(R"({"event_id":"e","feature":"f","provider":"p","model":"m","priority":"urgent"})");
  CHECK(items[0].status.message() ==
        "field \"priority\" must be critical, standard or batch, got \"urgent\"");
}

TEST_CASE("arrays and NDJSON: one bad item never blocks the others") {
  auto items =
      decode(R"([{"event_id":"a","feature":"f","provider":"p","model":"m"}, {"event_id":"b"}, 3])");
  REQUIRE(items.size() == 3);
  CHECK(items[0].status.ok());
  CHECK(items[1].event_id == "b");
  CHECK(items[1].status.code_name() == "missing_field");
  CHECK(items[2].status.code_name() == "not_an_object");

  auto lines = decode(
      "{\"event_id\":\"a\",\"feature\":\"f\",\"provider\":\"p\",\"model\":\"m\"}\r\n\n{oops\n"
      "{\"event_id\":\"c\",\"feature\":\"f\",\"provider\":\"p\",\"model\":\"m\"}",
      BodyFormat::kNdjson);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].status.ok());
  CHECK(lines[1].status.code_name() == "invalid_json");
  CHECK(lines[2].status.ok());
}

TEST_CASE("bodies that cannot be parsed at all fail as a whole") {
  CHECK(decode_usage_body("{oops", BodyFormat::kJson, kNow, kOldest).status().code_name() ==
        "invalid_json");
  CHECK(decode_usage_body("", BodyFormat::kJson, kNow, kOldest).status().code_name() ==
        "empty_body");
  CHECK(decode_usage_body("[]", BodyFormat::kJson, kNow, kOldest).status().code_name() ==
        "empty_body");
  CHECK(decode_usage_body("\n\n", BodyFormat::kNdjson, kNow, kOldest).status().code_name() ==
        "empty_body");
  CHECK(
      decode_usage_body("{oops\nnope\n", BodyFormat::kNdjson, kNow, kOldest).status().code_name() ==
      "invalid_json");
  CHECK(decode_usage_body("42", BodyFormat::kJson, kNow, kOldest).status().code_name() ==
        "invalid_body");
  // Invalid UTF-8 inside a string makes the JSON invalid.
  CHECK(decode_usage_body("{\"event_id\":\"\xff\"}", BodyFormat::kJson, kNow, kOldest)
            .status()
            .code_name() == "invalid_json");
}

TEST_CASE("more than max_items events: too_many_items before any is decoded") {
  const Money max_cost = Money::from_nanos(1'000'000 * Money::kNanosPerUnit);
  auto run = [&](const std::string& body, BodyFormat f, size_t max) {
    return decode_usage_body(body, f, kNow, kOldest, max_cost, max);
  };
  std::string lines;
  for (int i = 0; i < 4; ++i) lines += "{}\n\n  \n";
  CHECK(run(lines, BodyFormat::kNdjson, 4).ok());
  auto r = run(lines + "{}", BodyFormat::kNdjson, 4);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kTooManyItems);
  CHECK(r.status().message().find("limits.max_items_per_request (4)") != std::string::npos);
  // Lines of blanks (CR, tab, space) are not items; a last line without its newline is one.
  CHECK(run("{}\r\n \t\r\n{}", BodyFormat::kNdjson, 2).ok());
  CHECK(run("{}\r\n{}\r\n\t\r", BodyFormat::kNdjson, 2).ok());
  CHECK(run("\n\n{}\n{}\n", BodyFormat::kNdjson, 2).ok());
  CHECK(run("{}\n{}\n x", BodyFormat::kNdjson, 2).status().code() == Code::kTooManyItems);
  CHECK(run("{}\n{}\n\t{}\n", BodyFormat::kNdjson, 2).status().code() == Code::kTooManyItems);
  CHECK(run(" \n\t{}", BodyFormat::kNdjson, 0).status().code() == Code::kTooManyItems);
  // Arrays are counted before they are parsed: commas and brackets inside strings or nested
  // values are not items.
  const std::string tricky = R"([{"event_id":"a,b]","tags":{"x":"[,]"}}, {"event_id":"\",["}, [1,2]])";
  CHECK(run(tricky, BodyFormat::kJson, 3).ok());
  CHECK(run(tricky, BodyFormat::kJson, 2).status().code() == Code::kTooManyItems);
  CHECK(run("[]", BodyFormat::kJson, 0).status().code() == Code::kEmptyBody);
  CHECK(run("[{}]", BodyFormat::kJson, 0).status().code() == Code::kTooManyItems);
  CHECK(run(R"({"event_id":"one"})", BodyFormat::kJson, 1).ok());
}

TEST_CASE("counts far outside int64 are refused without converting them (no UB: UBSan checks it)") {
  CHECK(code_of(R"("requests":-1e300)") == "invalid_count");
  CHECK(code_of(R"("input_tokens":1e300)") == "invalid_count");
  CHECK(code_of(R"("output_tokens":-1e18)") == "invalid_count");
  CHECK(code_of(R"("gpu_seconds":1e300)") != "ok");
}

TEST_CASE("every field is found in one pass, wherever it stands and however many keys there are") {
  // Each field given a value of the wrong type: its rejection names it, so it was found.
  const char* fields[] = {"event_id",
                          "feature",
                          "provider",
                          "model",
                          "team",
                          "customer",
                          "region",
                          "reservation_id",
                          "tags",
                          "ts",
                          "priority",
                          "status",
                          "input_tokens",
                          "cached_input_tokens",
                          "cache_write_tokens",
                          "output_tokens",
                          "reasoning_tokens",
                          "requests",
                          "egress_bytes",
                          "latency_ms",
                          "usage",
                          "usageMetadata",
                          "gpu_seconds",
                          "value_units",
                          "revenue",
                          "cost"};
  // Unknown keys of every length a field has, near misses of the fields' names among them; 30 of
  // them make an object Boost.JSON indexes by hash instead of scanning.
  std::string noise;
  for (const char* f : fields) {
    std::string near(f);
    near.back() = near.back() == 'x' ? 'y' : 'x';
    noise += "\"" + near + "\":[],";
  }
  for (int i = 0; i < 4; ++i) noise += "\"k" + std::to_string(i) + "\":{},";
  for (bool noisy : {false, true}) {
    for (const char* f : fields) {
      std::string body = "{" + std::string(noisy ? noise : "");
      for (const char* g : {"event_id", "feature", "provider", "model"})
        if (std::string(g) != f) body += "\"" + std::string(g) + "\":\"v\",";
      body += "\"" + std::string(f) + "\":[true]}";
      auto items = decode(body);
      INFO(body);
      REQUIRE(items.size() == 1);
      REQUIRE_FALSE(items[0].status.ok());
      // Found: refused for its type (a required field not found would be missing_field).
      CHECK(items[0].status.code_name() ==
            (std::string(f) == "ts" ? "invalid_timestamp" : "invalid_type"));
      CHECK(items[0].status.message().find("\"" + std::string(f) + "\"") != std::string::npos);
    }
  }
  // A near miss of each name, or the name with a byte more, is not the field: an event with a
  // wrong-typed value under it is valid.
  for (const char* f : fields) {
    std::string near(f);
    near.back() = near.back() == 'x' ? 'y' : 'x';
    for (const std::string& key : {near, std::string(f) + "_", "_" + std::string(f)}) {
      const std::string body =
          R"({"event_id":"e","feature":"f","provider":"p","model":"m",")" + key + R"(":[true]})";
      INFO(body);
      CHECK(decode(body)[0].status.ok());
    }
  }
  // Of duplicate keys the last one counts, as a lookup of the parsed object found it (Boost.JSON
  // keeps only the last; this holds whichever way the fields are found).
  auto items = decode(
      R"({"event_id":"e","feature":"a","provider":"p","model":"m","feature":"b","team":1,"team":"t"})");
  REQUIRE(items[0].status.ok());
  CHECK(items[0].event.feature == "b");
  CHECK(items[0].event.team == "t");
}

TEST_CASE(
    "strings: printable ASCII and valid UTF-8 pass, control characters and bad UTF-8 do not") {
  for (int b = 0; b < 256; ++b) {
    const std::string s(1, static_cast<char>(b));
    INFO(b);
    CHECK(check_text("f", s).ok() == (b >= 0x20 && b != 0x7f && b < 0x80));
    CHECK(check_text("f", "abc" + s + "def").ok() == (b >= 0x20 && b != 0x7f && b < 0x80));
  }
  CHECK(check_text("f", "caf\xc3\xa9").ok());
  CHECK(check_text("f", "\xe6\x88\x90\xe6\x9c\xac").ok());
  CHECK_FALSE(check_text("f", "caf\xc3").ok());
  CHECK_FALSE(check_text("f", "\xc3\xa9\x7f").ok());
  CHECK(check_text("tags.k", "a\x01").message() ==
        "field \"tags.k\" must not contain control characters (U+0000-U+001F, U+007F)");
  // A tag's value is named by its key.
  auto items = decode(
      R"({"event_id":"e","feature":"f","provider":"p","model":"m","tags":{"env":"a\u0007"}})");
  CHECK(items[0].status.message() ==
        "field \"tags.env\" must not contain control characters (U+0000-U+001F, U+007F)");
}

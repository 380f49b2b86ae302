// The providers' usage objects as their APIs return them (tests/fixtures/provider_usage.json),
// the string rules and the money limits of CONTRACT §3.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "metering/event_decoder.h"

using namespace tollgate;

namespace {

const EpochMs kNow = *parse_rfc3339("2026-11-21T12:00:00Z");

DecodedItem decode_one(const std::string& body,
                       Money max = Money::from_nanos(Money::kNanosPerUnit * 1'000'000)) {
  auto r = decode_usage_body(body, BodyFormat::kJson, kNow, kNow - 86'400'000, max);
  REQUIRE(r.ok());
  REQUIRE(r.value().size() == 1);
  return r.value()[0];
}

std::string code_of(const std::string& extra,
                    Money max = Money::from_nanos(Money::kNanosPerUnit * 1'000'000)) {
  auto item = decode_one(
      R"({"event_id":"e1","feature":"f","provider":"p","model":"m",)" + extra + "}", max);
  return item.status.ok() ? "ok" : std::string(item.status.code_name());
}

boost::json::object fixtures() {
  std::ifstream in(std::string(TOLLGATE_SOURCE_DIR) + "/tests/fixtures/provider_usage.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return boost::json::parse(ss.str()).as_object();
}

}  // namespace

TEST_CASE("each provider's usage object maps as CONTRACT §3 says") {
  for (const char* provider : {"openai", "anthropic", "gemini"}) {
    CAPTURE(provider);
    boost::json::object f = fixtures().at(provider).as_object();
    const boost::json::object expect = f.at("expect").as_object();
    f.erase("expect");
    boost::json::object event{
        {"event_id", "e"}, {"feature", "f"}, {"provider", provider}, {"model", "m"}};
    for (const auto& kv : f) event[kv.key()] = kv.value();
    DecodedItem item = decode_one(boost::json::serialize(event));
    REQUIRE(item.status.ok());
    const UsageEvent& e = item.event;
    CHECK(e.input_tokens == expect.at("input").as_int64());
    CHECK(e.cached_input_tokens == expect.at("cached").as_int64());
    CHECK(e.cache_write_tokens == expect.at("cache_write").as_int64());
    CHECK(e.output_tokens == expect.at("output").as_int64());
    CHECK(e.reasoning_tokens == expect.at("reasoning").as_int64());
  }
}

TEST_CASE("a usage object that mixes forms, or also gives token fields, conflicts") {
  CHECK(code_of(R"("usage": {"prompt_tokens": 5, "output_tokens": 1})") == "conflicting_fields");
  CHECK(code_of(R"("usage": {"promptTokenCount": 5, "input_tokens": 1})") == "conflicting_fields");
  CHECK(code_of(R"("usage": {"prompt_tokens": 5}, "usageMetadata": {"promptTokenCount": 5})") ==
        "conflicting_fields");
  CHECK(code_of(R"("usage": {"input_tokens": 5}, "reasoning_tokens": 1)") == "conflicting_fields");
  CHECK(code_of(R"("usage": {"total_tokens": 5})") == "invalid_usage");
  CHECK(code_of(R"("usageMetadata": {"promptTokenCount": 5, "cachedContentTokenCount": 6})") ==
        "invalid_usage");
  CHECK(
      code_of(
          R"("usage": {"completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 6}})") ==
      "invalid_usage");
}

TEST_CASE("reasoning tokens are part of the output tokens") {
  CHECK(code_of(R"("output_tokens": 10, "reasoning_tokens": 10)") == "ok");
  CHECK(code_of(R"("output_tokens": 10, "reasoning_tokens": 11)") == "invalid_count");
  CHECK(code_of(R"("reasoning_tokens": -1)") == "invalid_count");
}

TEST_CASE("control characters in any string are invalid_string; other text is kept as sent") {
  CHECK(code_of(R"("team": "a\u0001b")") == "invalid_string");
  CHECK(code_of(R"("feature": "\u0001{}")") == "invalid_string");
  CHECK(code_of(R"("region": "eu\u007f")") == "invalid_string");
  CHECK(code_of(R"("customer": "tab\there")") == "invalid_string");
  CHECK(code_of(R"("tags": {"k\n": "v"})") == "invalid_string");
  CHECK(code_of(R"("tags": {"k": "v\r"})") == "invalid_string");
  CHECK(code_of(R"("reservation_id": "\u0000")") == "invalid_string");
  auto item = decode_one(
      R"({"event_id":"e","feature":"=cmd|' /C calc'!A0","provider":"p","model":"m","team":"q\"b\\s\u2028 \ud83d\ude00"})");
  REQUIRE(item.status.ok());
  CHECK(item.event.feature == "=cmd|' /C calc'!A0");
  CHECK(item.event.team == "q\"b\\s\xe2\x80\xa8 \xf0\x9f\x98\x80");
}

TEST_CASE("cost and revenue above limits.max_event_cost are cost_out_of_range") {
  const Money ten = Money::from_nanos(10 * Money::kNanosPerUnit);
  CHECK(code_of(R"("cost": 10)", ten) == "ok");
  CHECK(code_of(R"("cost": 10.000000001)", ten) == "cost_out_of_range");
  CHECK(code_of(R"("revenue": "11")", ten) == "cost_out_of_range");
  CHECK(code_of(R"("cost": 9e9)") == "cost_out_of_range");      // the issue's wrapping events
  CHECK(code_of(R"("cost": 9223372037)") == "invalid_number");  // not even nanos in int64
}

// The JSON writer: numbers from exact decimal text, strings that can never change the shape.
#include "metering/json_text.h"

#include <doctest/doctest.h>

using namespace tollgate;

TEST_CASE("numbers are written from their decimal text, exactly") {
  JsonWriter w;
  w.begin_object().key("a").money(Money::from_nanos(9'000'000'000'000'000'000)).key("b");
  w.number("-0.000000001").key("c").number(int64_t{7}).key("d").number("1e3").end_object();
  CHECK(w.text() == R"({"a":9000000000,"b":-0.000000001,"c":7,"d":1e3})");
  // Text that is not a number is never written raw.
  CHECK(JsonWriter().number("{}").text() == "null");
  CHECK(JsonWriter().number("1.").text() == "null");
  CHECK(JsonWriter().number("01").text() == "null");
}

TEST_CASE("hostile strings stay strings") {
  const std::string hostile[] = {"\x01{}",
                                 "q\"uote",
                                 "back\\slash",
                                 "line\xe2\x80\xa8sep",
                                 "\xf0\x9f\x98\x80",
                                 "=cmd|' /C calc'!A0",
                                 "\x7f"};
  for (const auto& s : hostile) {
    CAPTURE(s);
    std::string text = JsonWriter().begin_object().key(s).string(s).end_object().take();
    auto v = boost::json::parse(text).as_object();
    REQUIRE(v.size() == 1);
    CHECK(v.begin()->key() == s);
    CHECK(v.begin()->value().as_string() == s);
    CHECK(text.find("\xe2\x80\xa8") == std::string::npos);  // U+2028 escaped
  }
  CHECK(JsonWriter().string("\x01{}").text() == R"("\u0001{}")");
}

TEST_CASE("serialize_json writes every string as a string; money goes through JsonWriter::money") {
  boost::json::object o{{"spend", "\x01" "400.12"},
                        {"reason", "\x01{}"},
                        {"n", 3},
                        {"list", boost::json::array{"a", nullptr, true}}};
  CHECK(serialize_json(o) ==
        R"({"spend":"\u0001400.12","reason":"\u0001{}","n":3,"list":["a",null,true]})");
  CHECK(JsonWriter().begin_object().key("spend").money(Money::from_nanos(400'120'000'000))
            .end_object().text() == R"({"spend":400.12})");
}

TEST_CASE("bytes that are not UTF-8 are written as U+FFFD: the document stays valid JSON") {
  const std::string bad = std::string("a\xb0") + "b\xe2\x80" + "\xf0\x9f\x98\x80" + "\xed\xa0\x80";
  const std::string text = JsonWriter().string(bad).take();
  CHECK(text == "\"a\\ufffdb\\ufffd\\ufffd\xf0\x9f\x98\x80\\ufffd\\ufffd\\ufffd\"");
  boost::system::error_code ec;
  (void)boost::json::parse(text, ec);
  CHECK_FALSE(ec);
}

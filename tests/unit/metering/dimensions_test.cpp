#include "metering/dimensions.h"

#include <doctest/doctest.h>

#include "policies/policy.h"

namespace tollgate {

namespace {

UsageEvent sample_event() {
  UsageEvent e;
  e.feature = "chat";
  e.team = "ml";
  e.customer = "acme";
  e.model = "qwen3-max";
  e.provider = "alibaba";
  e.region = "cn-beijing";
  e.priority = Priority::kBatch;
  e.tags = {{"env", "prod"}};
  return e;
}

}  // namespace

TEST_CASE("dimensions: one table, read by name") {
  const UsageEvent e = sample_event();
  const Dimensions d = Dimensions::of(e);
  for (const Dimension& dim : kDimensions) {
    CHECK(find_dimension(dim.name) == &dim);
    CHECK(value_of(dim, d) == value_of(dim, e));  // the event and its dimensions agree
  }
  CHECK(value_of(*find_dimension("priority"), d) == "batch");
  CHECK(value_of(*find_dimension("region"), d) == "cn-beijing");
  CHECK(find_dimension("tag:env") == nullptr);
  CHECK(find_dimension("colour") == nullptr);
  CHECK(tag_key("tag:env") == std::optional<std::string_view>("env"));
  CHECK_FALSE(tag_key("tag:"));
  CHECK(tag_value(d, "env") == std::optional<std::string_view>("prod"));
  CHECK_FALSE(tag_value(d, "cost_center"));
  CHECK(dimension_names() == "feature, team, customer, model, provider, region, priority");
}

TEST_CASE("dimensions: every dimension of the table can be matched by a budget") {
  const Dimensions d = Dimensions::of(sample_event());
  for (const Dimension& dim : kDimensions) {
    Matcher hit{std::string(dim.name), {std::string(value_of(dim, d))}};
    Matcher miss{std::string(dim.name), {"nope"}};
    CHECK(hit.matches(d));
    CHECK_FALSE(miss.matches(d));
  }
}

TEST_CASE("dimensions: keys are equal exactly when the dimensions are") {
  Dimensions a, b;
  a.feature = "x";
  a.tags = {{"k",
             "v\x1f"
             "a=b"}};
  b.feature = "x";
  b.tags = {{"k", "v"}, {"a", "b"}};
  std::string ka, kb;
  append_key(ka, a);
  append_key(kb, b);
  CHECK(ka != kb);  // no separator inside a value can make two sets collide
  Dimensions c = a;
  std::string kc;
  append_key(kc, c);
  CHECK(ka == kc);
  a.team = "t";
  ka.clear();
  append_key(ka, a);
  CHECK(ka != kc);
  std::string no_tags_a, no_tags_c;
  append_key(no_tags_a, b, false);
  b.tags.clear();
  append_key(no_tags_c, b, false);
  CHECK(no_tags_a == no_tags_c);
}

TEST_CASE("a dimension set's key decodes back to the set; a damaged key decodes to nothing") {
  Dimensions d;
  d.feature = "chat";
  d.team = std::string("t\0\x01", 3);  // any bytes: the parts are length-prefixed
  d.customer = "";
  d.model = "gpt-4o";
  d.provider = "openai";
  d.region = "eu|fr";
  d.priority = Priority::kBatch;
  d.tags = {{"env", "prod"}, {"k", ""}};
  std::string key;
  append_key(key, d);
  auto back = dimensions_of_key(key);
  REQUIRE(back.has_value());
  std::string again;
  append_key(again, *back);
  CHECK(again == key);
  CHECK(back->team == d.team);
  CHECK(back->priority == Priority::kBatch);
  CHECK(back->tags == d.tags);
  CHECK_FALSE(dimensions_of_key(key.substr(0, key.size() - 1)).has_value());
  CHECK_FALSE(dimensions_of_key("").has_value());
}

}  // namespace tollgate

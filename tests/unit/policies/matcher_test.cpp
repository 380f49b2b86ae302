// Matcher: exact values through its index, prefixes, tags, and the same answers unindexed.
#include <doctest/doctest.h>

#include "policies/policy.h"

using namespace tollgate;

TEST_CASE("a matcher's index answers as its patterns do") {
  Dimensions d;
  d.feature = "search-v2";
  d.customer = "acme";
  d.tags = {{"env", "prod"}};
  d.priority = Priority::kBatch;
  struct Case {
    const char* field;
    std::vector<std::string> patterns;
    bool expected;
  } cases[] = {
      {"feature", {"chat", "search-v2"}, true},
      {"feature", {"chat", "search"}, false},  // exact, not a prefix
      {"feature", {"chat", "search*"}, true},
      {"feature", {"*"}, true},
      {"customer", {"acm"}, false},
      {"customer", {"acme*"}, true},  // a prefix may be the whole value
      {"tag:env", {"prod"}, true},
      {"tag:team", {"*"}, false},  // an absent tag matches nothing
      {"priority", {"batch"}, true},
      {"priority", {"critical", "standard"}, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.field);
    Matcher indexed(c.field, c.patterns);
    Matcher plain;  // not indexed: the patterns scanned
    plain.field = c.field;
    plain.patterns = c.patterns;
    CHECK(indexed.matches(d) == c.expected);
    CHECK(plain.matches(d) == c.expected);
  }
}

#include "daemon/handler_guard.h"

#include <doctest/doctest.h>

#include <stdexcept>
#include <vector>

using namespace tollgate;

TEST_CASE("a throwing handler answers 500 once, is reported, and a normal one is untouched") {
  HttpRequest req;
  std::vector<HttpResponse> answers;
  std::vector<std::string> failures;
  auto respond = [&](HttpResponse r) { answers.push_back(std::move(r)); };
  auto failed = [&](const std::string& what) { failures.push_back(what); };

  call_guarded(
      [](HttpRequest&, Respond r) {
        r({200, "text/plain", "ok", {}});
      },
      req, respond, failed);
  call_guarded([](HttpRequest&, Respond) { throw std::runtime_error("boom"); }, req, respond,
               failed);
  call_guarded([](HttpRequest&, Respond) { throw 42; }, req, respond, failed);
  // Answered, then threw: the first answer stands, the failure is still reported.
  call_guarded(
      [](HttpRequest&, Respond r) {
        r({201, "text/plain", "", {}});
        throw std::logic_error("late");
      },
      req, respond, failed);

  REQUIRE(answers.size() == 4);
  CHECK(answers[0].status == 200);
  CHECK(answers[1].status == 500);
  CHECK(answers[1].body.find("\"internal\"") != std::string::npos);
  CHECK(answers[2].status == 500);
  CHECK(answers[3].status == 201);
  CHECK(failures == std::vector<std::string>{"boom", "unknown exception", "late"});
}

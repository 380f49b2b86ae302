#include "daemon/wait_command.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <thread>
#include <variant>

#include "daemon/alerts/http_client.h"

namespace tollgate {

namespace json = boost::json;

namespace {

using Clock = std::chrono::steady_clock;

// Re-asks at least this often while throttled: an override or a raised limit may come earlier
// than the Retry-After of a block (the end of the budget's period).
constexpr double kMaxPollS = 5;

struct Admission {
  std::string reservation_id, model;
};

json::object admit_body(const WaitOptions& o) {
  json::object b{{"feature", o.feature}, {"priority", o.priority}};
  for (auto [key, value] : {std::pair{"team", &o.team}, {"customer", &o.customer},
                            {"model", &o.model}, {"provider", &o.provider}, {"region", &o.region}})
    if (!value->empty()) b[key] = *value;
  if (o.estimated_cost) b["estimated_cost"] = *o.estimated_cost;
  return b;
}

std::vector<std::pair<std::string, std::string>> auth_headers(const WaitOptions& o) {
  if (o.token.empty()) return {};
  return {{"Authorization", "Bearer " + o.token}};
}

std::string string_field(const json::value& v, const char* key) {
  const json::value* f = v.is_object() ? v.get_object().if_contains(key) : nullptr;
  return f && f->is_string() ? std::string(f->get_string()) : "";
}

// Asks until admitted; the exit code on failure or timeout.
std::variant<Admission, int> wait_for_admission(HttpClient& client, const HttpUrl& url,
                                                const WaitOptions& o) {
  const std::string body = json::serialize(admit_body(o));
  const auto start = Clock::now();
  for (;;) {
    auto r = client.request("POST", url.path + "v1/admit", "application/json", body,
                            auth_headers(o));
    if (!r.ok()) {
      std::fprintf(stderr, "tollgate wait: cannot reach %s: %s\n", o.url.c_str(),
                   r.status().message().c_str());
      return kWaitUnavailable;
    }
    boost::system::error_code ec;
    json::value answer = json::parse(r->body, ec);
    if (r->status == 200)
      return Admission{string_field(answer, "reservation_id"), string_field(answer, "model")};
    if (r->status != 429) {
      std::fprintf(stderr, "tollgate wait: admission refused (%d): %s\n", r->status,
                   r->body.c_str());
      return kWaitUnavailable;
    }
    double retry_s = 1;
    if (const json::value* s = answer.is_object() ? answer.get_object().if_contains("retry_after_s")
                                                  : nullptr;
        s && s->is_number())
      retry_s = std::max(1.0, s->to_number<double>());
    double wait_s = std::min(retry_s, kMaxPollS);
    if (o.timeout_s) {
      const double left =
          *o.timeout_s - std::chrono::duration<double>(Clock::now() - start).count();
      if (left <= 0) {
        std::fprintf(stderr, "tollgate wait: still throttled after %gs; giving up\n",
                     *o.timeout_s);
        return kWaitTimedOut;
      }
      wait_s = std::min(wait_s, left);
    }
    std::fprintf(stderr, "tollgate wait: throttled by budget %s: %s; asking again in %.0fs\n",
                 string_field(answer, "budget").c_str(), string_field(answer, "reason").c_str(),
                 std::ceil(wait_s));
    std::this_thread::sleep_for(std::chrono::duration<double>(wait_s));
  }
}

// Runs the command with the admission in its environment; its exit code as a shell reports it.
int run(const std::vector<std::string>& command, const Admission& a) {
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("tollgate wait: fork");
    return kWaitCannotRun;
  }
  if (pid == 0) {
    if (!a.reservation_id.empty()) setenv("TOLLGATE_RESERVATION_ID", a.reservation_id.c_str(), 1);
    if (!a.model.empty()) setenv("TOLLGATE_MODEL", a.model.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "tollgate wait: cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(kWaitCannotRun);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace

int wait_and_run(const WaitOptions& o) {
  auto url = HttpUrl::parse(o.url);
  if (!url.ok()) {
    std::fprintf(stderr, "tollgate wait: --url: %s\n", url.status().message().c_str());
    return 1;
  }
  if (url->tls) {
    std::fprintf(stderr, "tollgate wait: --url: speaks http:// to the daemon, not https://\n");
    return 1;
  }
  if (url->path.empty() || url->path.back() != '/') url->path += '/';
  HttpClient client(url->host, url->port);
  auto admitted = wait_for_admission(client, url.value(), o);
  if (const int* code = std::get_if<int>(&admitted)) return *code;
  const Admission& a = std::get<Admission>(admitted);
  const int code = run(o.command, a);
  if (!a.reservation_id.empty()) {
    // What the job's usage did not settle goes back to the budget now, not at the TTL. A 404 is
    // a reservation its usage already settled.
    auto r = client.request("DELETE", url->path + "v1/reservations/" + a.reservation_id, "", "",
                            auth_headers(o));
    if (!r.ok() || (r->status != 204 && r->status != 404))
      std::fprintf(stderr, "tollgate wait: reservation %s not released (it expires by itself)\n",
                   a.reservation_id.c_str());
  }
  return code;
}

}  // namespace tollgate

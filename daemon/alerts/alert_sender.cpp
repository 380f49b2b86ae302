#include "daemon/alerts/alert_sender.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/alerts/http_client.h"

namespace tollgate {

AlertSender::AlertSender(std::vector<std::string> urls, int attempts, int first_backoff_ms)
    : urls_(std::move(urls)), attempts_(attempts), first_backoff_ms_(first_backoff_ms) {
  if (!urls_.empty()) thread_ = std::thread([this] { run(); });
}

AlertSender::~AlertSender() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (const Job& j : jobs_)
    spdlog::warn("alert not delivered to {} before shutdown: {}", urls_[j.url], j.summary);
}

void AlertSender::send(std::string json_body, std::string summary) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < urls_.size(); ++i)
    jobs_.push_back({json_body, summary, i, 0, std::chrono::steady_clock::now()});
  cv_.notify_all();
}

void AlertSender::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (jobs_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto next = std::min_element(jobs_.begin(), jobs_.end(),
                                 [](const Job& a, const Job& b) { return a.due < b.due; });
    if (next->due > std::chrono::steady_clock::now()) {
      cv_.wait_until(lock, next->due);
      continue;
    }
    Job job = *next;
    jobs_.erase(next);
    lock.unlock();
    auto url = HttpUrl::parse(urls_[job.url]);
    std::string error;
    if (!url.ok()) {
      error = url.status().message();
    } else {
      HttpClient client(url->host, url->port, 5000);
      auto r = client.request("POST", url->path, "application/json", job.body);
      if (r.ok() && r->status >= 200 && r->status < 300) {
        spdlog::info("alert delivered to {}: {}", urls_[job.url], job.summary);
      } else {
        error = r.ok() ? "HTTP " + std::to_string(r->status) : r.status().message();
      }
    }
    lock.lock();
    if (error.empty()) continue;
    if (++job.attempt >= attempts_) {
      ++failures_;
      spdlog::error("alert to {} failed {} times, giving up ({}): {}", urls_[job.url], job.attempt,
                    error, job.summary);
      continue;
    }
    const int delay = first_backoff_ms_ << (job.attempt - 1);
    spdlog::warn("alert to {} failed ({}); retry {} in {} ms", urls_[job.url], error, job.attempt,
                 delay);
    job.due = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay);
    jobs_.push_back(std::move(job));
  }
}

}  // namespace tollgate

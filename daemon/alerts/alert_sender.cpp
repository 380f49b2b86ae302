#include "daemon/alerts/alert_sender.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <functional>

namespace tollgate {

AlertSender::AlertSender(std::vector<std::string> urls, WebhookOptions options,
                         std::function<void(const std::string&)> on_failure, int attempts,
                         int first_backoff_ms)
    : urls_(std::move(urls)),
      options_(std::move(options)),
      on_failure_(std::move(on_failure)),
      attempts_(attempts),
      first_backoff_ms_(first_backoff_ms) {
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
    auto r = post_webhook(urls_[job.url], job.body, options_);
    std::string error;
    if (r.ok() && r.value() >= 200 && r.value() < 300) {
      spdlog::info("alert delivered to {}: {}", urls_[job.url], job.summary);
    } else {
      error = r.ok() ? "HTTP " + std::to_string(r.value()) : r.status().message();
      if (on_failure_)
        on_failure_(r.ok()                                    ? "status"
                    : r.status().code() == Code::kTlsFailed     ? "tls"
                    : r.status().code() == Code::kConnectFailed ? "connect"
                                                                : "request");
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

#pragma once
// AlertSender: delivers budget alerts (CONTRACT §4.9) to every configured webhook on its own
// thread, retrying with exponential backoff, so ingestion and admission never wait for a webhook.
// send() is thread-safe and only enqueues.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/alerts/webhook_client.h"

namespace tollgate {

class AlertSender {
 public:
  // `attempts` per webhook; backoff starts at `first_backoff_ms` and doubles. `on_failure` is
  // called (on the sender's thread) with a reason for every failed attempt: connect, tls,
  // request (no answer) or status (an answer other than 2xx).
  AlertSender(std::vector<std::string> urls, WebhookOptions options = {},
              std::function<void(const std::string& reason)> on_failure = nullptr,
              int attempts = 6, int first_backoff_ms = 500);
  ~AlertSender();  // stops; undelivered alerts are logged as dropped

  void send(std::string json_body, std::string summary);
  // Deliveries given up after every attempt failed (one per webhook and alert).
  uint64_t failures() const { return failures_.load(); }

 private:
  struct Job {
    std::string body, summary;
    size_t url = 0;
    int attempt = 0;
    std::chrono::steady_clock::time_point due;
  };
  void run();

  std::vector<std::string> urls_;
  WebhookOptions options_;
  std::function<void(const std::string&)> on_failure_;
  int attempts_, first_backoff_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::atomic<uint64_t> failures_{0};
  std::thread thread_;
};

}  // namespace tollgate

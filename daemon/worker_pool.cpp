#include "daemon/worker_pool.h"

#include <pthread.h>

namespace tollgate {

WorkerPool::WorkerPool(int threads, std::string name) {
  for (int i = 0; i < threads; ++i)
    threads_.emplace_back([this, name] {
      pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
      std::unique_lock lock(mu_);
      for (;;) {
        cv_.wait(lock, [this] { return stop_ || !work_.empty(); });
        if (work_.empty()) return;
        auto w = std::move(work_.front());
        work_.pop_front();
        lock.unlock();
        w();
        lock.lock();
      }
    });
}

WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::shutdown() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void WorkerPool::post(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    work_.push_back(std::move(work));
  }
  cv_.notify_one();
}

void WorkerPool::post_first(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    work_.push_front(std::move(work));
  }
  cv_.notify_one();
}

}  // namespace tollgate

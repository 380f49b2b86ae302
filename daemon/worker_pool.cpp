#include "daemon/worker_pool.h"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>

namespace tollgate {

WorkerPool::WorkerPool(int threads, std::string name, int niceness) {
  auto warned = std::make_shared<std::atomic<bool>>(false);
  for (int i = 0; i < threads; ++i)
    threads_.emplace_back([this, name, niceness, warned] {
      pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
      if (niceness != 0) {
        // Linux keeps a nice value per thread: PRIO_PROCESS with a thread id sets this one's.
        const auto tid = static_cast<id_t>(syscall(SYS_gettid));
        errno = 0;
        const int base = getpriority(PRIO_PROCESS, tid);
        if ((errno != 0 || setpriority(PRIO_PROCESS, tid, std::min(19, base + niceness)) != 0) &&
            !warned->exchange(true))
          spdlog::warn("{}: could not lower the threads' CPU priority: {}", name,
                       std::strerror(errno));
      }
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

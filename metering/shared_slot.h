#pragma once
// SharedSlot<T>: a shared_ptr that readers take a copy of while a writer swaps it (the price book,
// the throttle table). A mutex held for a reference-count increment, not std::atomic<shared_ptr>:
// libstdc++ 12 implements that with a lock bit inside the pointer, which ThreadSanitizer cannot
// see (every load/store pair reads as a race), and it is no faster. The old value is released
// outside the lock, so a reader never waits for a destructor. Thread-safe.

#include <memory>
#include <mutex>
#include <utility>

namespace tollgate {

template <typename T>
class SharedSlot {
 public:
  explicit SharedSlot(std::shared_ptr<T> value = nullptr) : value_(std::move(value)) {}
  std::shared_ptr<T> load() const {
    std::lock_guard lock(mu_);
    return value_;
  }
  void store(std::shared_ptr<T> value) {
    {
      std::lock_guard lock(mu_);
      value_.swap(value);
    }
    // `value` now holds the previous one: freed here, outside the lock.
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<T> value_;
};

}  // namespace tollgate

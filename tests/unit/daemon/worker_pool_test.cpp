#include "daemon/worker_pool.h"

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <future>

using namespace tollgate;

namespace {
// The nice value of the thread that calls it (Linux keeps one per thread).
int own_nice() { return getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))); }

// The nice value a pool's worker runs at.
int worker_nice(WorkerPool& pool) {
  std::promise<int> nice;
  pool.post([&nice] { nice.set_value(own_nice()); });
  return nice.get_future().get();
}
}  // namespace

TEST_CASE("worker pool: niceness lowers the workers' CPU priority, and only theirs") {
  const int base = own_nice();
  WorkerPool plain(1, "t-plain");
  CHECK(worker_nice(plain) == base);
  WorkerPool lowered(2, "t-lowered", kIngestNiceness);
  CHECK(worker_nice(lowered) == std::min(19, base + kIngestNiceness));
  CHECK(own_nice() == base);  // the thread that made the pool keeps its own
  WorkerPool past_19(1, "t-past", 40);
  CHECK(worker_nice(past_19) == 19);  // clamped where Linux ends
}

#pragma once
// WorkerPool: threads for blocking work (SQLite reads, file reads) so I/O threads never block.
// post() is thread-safe; shutdown() (or the destructor) finishes queued work, then joins; work
// posted after it is dropped.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tollgate {

// The ingest pool's niceness (daemon/serve.cpp). With CFS weights, a decoder at +10 gets about a
// tenth of a core the writer also wants: on two cores two decoders at +0 took the writer's core
// 13.5% of the time (bench/README.md, "A core for the writer").
constexpr int kIngestNiceness = 10;

class WorkerPool {
 public:
  // `name`: the threads' name as top -H and /proc show it (at most 15 bytes). `niceness`: added
  // to the threads' nice value (up to 19), lowering their CPU priority against the process's
  // other threads; a failure to set it is logged once per pool and changes nothing else.
  WorkerPool(int threads, std::string name, int niceness = 0);
  ~WorkerPool();
  void post(std::function<void()> work);
  // Ahead of the work already queued: short work that finishes a request (its answer), which
  // must not wait behind long work (decoding other batches).
  void post_first(std::function<void()> work);
  void shutdown();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> work_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tollgate

#pragma once
// WalCheckpointer: copies the ledger's WAL into the database file on a connection and a thread of
// its own, so the writer's commits seldom wait for a checkpoint. SQLite's automatic checkpoint
// runs inside the commit that passes 1,000 WAL pages: it copies every page the WAL holds and
// syncs the file, on the writer thread. Where commits touch pages all over a B-tree (random
// event ids: a page of the event_id index per event), that was nearly every commit, and most of
// the writer's time (bench/README.md, "Checkpoints off the writer").
//
// The writer's commit hook (sqlite3_wal_hook, which replaces the automatic checkpoint) wakes the
// thread once the WAL passes kWakeFrames; the thread checkpoints PASSIVE (never waiting on the
// writer or readers). A WAL rewinds only at a commit that finds all of it copied, which under
// back-to-back commits the thread's checkpoints rarely leave: past kRewindFrames the hook copies
// what is left itself, as the automatic checkpoint did, so the WAL stays bounded (a reader on an
// old snapshot still holds the rewind back, as before). Thread-safety: started before the writer
// thread commits and destroyed after it has stopped; the hook runs on the writer thread.

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "metering/status.h"

namespace tollgate {

class WalCheckpointer {
 public:
  // 16 and 64 MiB of 4 KiB pages. A page dirtied by several commits between two checkpoints is
  // copied once: waking at 4,096 rather than SQLite's 1,000 copied less with random event ids
  // (bench/README.md); the WAL's file then grows to about 70-90 MiB under load.
  static constexpr int kWakeFrames = 4096;
  static constexpr int kSqliteAutoCheckpointFrames = 1000;  // SQLite's default, restored at the end
  static constexpr int kRewindFrames = 16384;

  // Opens `path` again for the checkpoints and hooks `writer`'s commits.
  static Result<std::unique_ptr<WalCheckpointer>> start(const std::string& path, sqlite3* writer);
  ~WalCheckpointer();  // stops the thread; the writer's automatic checkpoint is back

  uint64_t checkpoints() const { return checkpoints_.load(); }  // the thread's, done
  uint64_t writer_checkpoints() const { return writer_checkpoints_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  WalCheckpointer(sqlite3* own, sqlite3* writer) : db_(own), writer_(writer) {}
  static int on_commit(void* self, sqlite3* db, const char* name, int frames);
  void failed(sqlite3* db);
  void run();

  sqlite3* db_;      // its own connection
  sqlite3* writer_;  // hooked
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;  // under mu_: a commit left the WAL past kWakeFrames
  bool stop_ = false;
  std::atomic<uint64_t> checkpoints_{0}, writer_checkpoints_{0}, failures_{0};
  std::thread thread_;
};

}  // namespace tollgate

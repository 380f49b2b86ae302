#include "storage/wal_checkpointer.h"

#include <pthread.h>

#include <spdlog/spdlog.h>

namespace tollgate {

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::start(const std::string& path,
                                                                sqlite3* writer) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    const std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return Status::error(Code::kStorageError, "cannot open " + path + " to checkpoint: " + msg);
  }
  std::unique_ptr<WalCheckpointer> c(new WalCheckpointer(db, writer));
  c->thread_ = std::thread([p = c.get()] { p->run(); });
  sqlite3_wal_hook(writer, &WalCheckpointer::on_commit, c.get());
  return c;
}

WalCheckpointer::~WalCheckpointer() {
  sqlite3_wal_autocheckpoint(writer_, kSqliteAutoCheckpointFrames);  // replaces the hook
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  sqlite3_close_v2(db_);
}

int WalCheckpointer::on_commit(void* self, sqlite3* db, const char* name, int frames) {
  auto* c = static_cast<WalCheckpointer*>(self);
  if (frames < kWakeFrames) return SQLITE_OK;
  if (frames >= kRewindFrames) {
    // What the thread has not copied yet, with no commit adding to it meanwhile: the next
    // commit then finds the WAL copied and rewinds it. BUSY: the thread is copying; next time.
    const int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc == SQLITE_OK) c->writer_checkpoints_.fetch_add(1);
    else if (rc != SQLITE_BUSY) c->failed(db);
    return SQLITE_OK;
  }
  {
    std::lock_guard lock(c->mu_);
    c->wake_ = true;
  }
  c->cv_.notify_one();
  return SQLITE_OK;
}

void WalCheckpointer::failed(sqlite3* db) {
  if (failures_.fetch_add(1) % 100 == 0)  // a failing disk: a line per hundred, not per commit
    spdlog::warn("WAL checkpoint failed (tried again after the next commits): {}",
                 sqlite3_errmsg(db));
}

void WalCheckpointer::run() {
  pthread_setname_np(pthread_self(), "tg-checkpoint");
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || wake_; });
    if (stop_) return;
    wake_ = false;
    lock.unlock();
    const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                             nullptr);
    if (rc == SQLITE_OK) checkpoints_.fetch_add(1);
    else if (rc != SQLITE_BUSY) failed(db_);  // BUSY: the writer's own is copying
    lock.lock();
  }
}

}  // namespace tollgate

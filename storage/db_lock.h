#pragma once
// DbLock: the advisory lock that keeps a second daemon off a database (CONTRACT §1). An flock on
// "<database>.lock" holding the owner's pid; SQLite itself stays in normal locking mode so readers
// (report, export, backup, the sqlite3 shell) keep working beside the daemon. The lock goes with
// the process, so a crash never leaves a stale lock behind.

#include <memory>
#include <string>

#include "metering/status.h"

namespace tollgate {

class DbLock {
 public:
  // Fails with "database is locked by pid N" when another process holds it.
  static Result<std::unique_ptr<DbLock>> acquire(const std::string& db_path);
  ~DbLock();
  DbLock(const DbLock&) = delete;
  DbLock& operator=(const DbLock&) = delete;

 private:
  explicit DbLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace tollgate

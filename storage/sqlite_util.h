#pragma once
// Thin RAII helpers over the SQLite C API. Not thread-safe: one connection, one thread.

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "metering/status.h"

namespace tollgate {

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(Statement&& o) noexcept : stmt_(o.stmt_), error_(std::move(o.error_)) {
    o.stmt_ = nullptr;
  }
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  const std::string& error() const { return error_; }
  Statement& bind(int i, int64_t v);
  Statement& bind(int i, std::string_view v);  // v must outlive step()
  int step();                                  // SQLITE_ROW, SQLITE_DONE or an error code
  void reset();
  int64_t column_int(int i) const { return sqlite3_column_int64(stmt_, i); }
  std::string column_text(int i) const;
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  std::string error_;
};

// Process-wide SQLite settings, before any connection opens: no memory statistics (they take a
// global mutex on every allocation). Call once from main(); harmless if too late.
void configure_sqlite();

// Runs SQL without results; the error names what failed.
Status exec_sql(sqlite3* db, const std::string& sql);

}  // namespace tollgate

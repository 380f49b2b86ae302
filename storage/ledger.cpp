#include "storage/ledger.h"

#include <spdlog/spdlog.h>

#include <pthread.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <limits>
#include <map>
#include <tuple>

#include "metering/charges.h"
#include "storage/report.h"
#include "storage/rollup_buffer.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"

namespace tollgate {

namespace {

// The most events a recovery flush rolls up in one transaction (fewer with a smaller
// limits.max_pending_rollup_rows).
constexpr int64_t kRecoveryChunkEvents = 10'000;

constexpr EpochMs kPruneEveryMs = 10 * 60 * 1000;
constexpr int64_t kPruneChunk = 5000;

// The strings are dim_values ids (schema 11; the view `events` shows them as text); those of few
// values are one dim_sets id (schema 17). Cache writes, egress, value units and revenue are a row
// of event_extras, only for an event that sets one (schema 18).
const char* kInsertEvent = R"sql(
INSERT OR IGNORE INTO event_rows (event_id, ts_ms, day_offset, set_id, customer_id, tags_id,
  input_tokens, cached_input_tokens, output_tokens, requests, gpu_micros, latency_ms, cost_nanos,
  reservation_id, received_offset_ms, reasoning_tokens, listed)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17))sql";
// OR REPLACE: a row left by an event removed by hand without the trigger is not this event's.
const char* kInsertEventExtras =
    "INSERT OR REPLACE INTO event_extras (event_rowid, cache_write_tokens, egress_bytes, "
    "value_units_nanos, revenue_nanos) VALUES (?1, ?2, ?3, ?4, ?5)";

// A commit's charge lines, one row beside its events until the flush that passes them sums them
// (schema 20, rollup_buffer.h). OR REPLACE: a row naming the same last event is of events
// renumbered or removed by hand (rowids only grow while the daemon writes).
const char* kInsertChargeLines =
    "INSERT OR REPLACE INTO event_charge_lines (last_rowid, first_rowid, lines) "
    "VALUES (?1, ?2, ?3)";

// A row of event_charge_lines holds the lines of the events that fill about this many bytes, and
// one line is at most this many.
constexpr size_t kChargeLinesRowBytes = 16 * 1024;
constexpr size_t kMaxChargeLineBytes = 4 * 21 + 6;

// Appends a charge line to a commit's JSON array of them (event_charge_lines.lines, without the
// brackets): [event rowid, charge_prices id, quantity, cost_nanos].
void append_charge_line(std::string& lines, int64_t rowid, int64_t price_id, int64_t quantity,
                        int64_t cost_nanos) {
  char buf[kMaxChargeLineBytes];
  char* p = buf;
  *p++ = lines.empty() ? '[' : ',';
  const int64_t values[] = {rowid, price_id, quantity, cost_nanos};
  for (size_t i = 0; i < std::size(values); ++i) {
    *p++ = i == 0 ? '[' : ',';
    p = std::to_chars(p, buf + sizeof buf, values[i]).ptr;
  }
  *p++ = ']';
  lines.append(buf, p);
}

// A local day's sums over every rollup row of that day, saturated at int64's edge (a ledger
// written before sums were checked may hold more). Every rollup row, report and export sum of the
// day is a part of it, so while it fits in int64 none of those can wrap.
Result<RollupSums> read_day_total(sqlite3* db, const std::string& day) {
  Statement st(db,
               "SELECT events, requests, input_tokens, cached_input_tokens, cache_write_tokens, "
               "output_tokens, gpu_micros, egress_bytes, cost_nanos, value_units_nanos, "
               "revenue_nanos FROM rollup_daily WHERE day_local = ?1");
  if (!st.ok()) return Status::error(Code::kStorageError, st.error());
  st.bind(1, day);
  __int128 sums[11] = {};
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    for (int i = 0; i < 11; ++i) sums[i] += st.column_int(i);
  if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db));
  RollupSums t;
  int64_t* fields[] = {&t.events, &t.requests, &t.input, &t.cached,      &t.cache_write, &t.output,
                       &t.gpu,    &t.egress,   &t.cost,  &t.value_units, &t.revenue};
  for (int i = 0; i < 11; ++i)
    *fields[i] =
        static_cast<int64_t>(std::min<__int128>(sums[i], std::numeric_limits<int64_t>::max()));
  return t;
}

// What PRAGMA quick_check said: `damage` is what SQLite found wrong ("" if nothing); `finished`
// whether it checked the whole file; `error` why it stopped early, if not told to.
struct CheckResult {
  std::string damage;
  bool finished = false;
  std::string error;
};

// PRAGMA quick_check on `db`, stopped when `stop` says so (a deadline, a stopping ledger). A
// watchdog asks `stop` every 20 ms and interrupts the statement: SQLite's progress handler is not
// called while it walks a B-tree, which is most of the check on a large file.
CheckResult quick_check(sqlite3* db, const std::function<bool()>& stop) {
  std::mutex m;
  std::condition_variable cv;
  bool over = false;
  std::thread watchdog([&] {
    std::unique_lock lock(m);
    while (!over) {
      if (stop()) {
        sqlite3_interrupt(db);  // a late one is harmless: SQLite clears it at the next statement
        return;
      }
      cv.wait_for(lock, std::chrono::milliseconds(20));
    }
  });
  CheckResult r;
  int rc = SQLITE_ERROR;
  {
    Statement st(db, "PRAGMA quick_check(5)");
    if (st.ok()) {
      while ((rc = st.step()) == SQLITE_ROW) {
        std::string line = st.column_text(0);
        if (line != "ok") r.damage += (r.damage.empty() ? "" : "; ") + line;
      }
    } else {
      rc = sqlite3_errcode(db);  // a schema SQLite cannot read fails here
    }
    if (rc != SQLITE_DONE) r.error = sqlite3_errmsg(db);
  }
  {
    std::lock_guard lock(m);
    over = true;
  }
  cv.notify_one();
  watchdog.join();
  r.finished = rc == SQLITE_DONE;
  if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) r.damage = r.error;
  return r;
}

}  // namespace

Result<std::unique_ptr<Ledger>> Ledger::open(LedgerOptions options, Clock clock) {
  std::unique_ptr<Ledger> ledger(new Ledger(std::move(options), std::move(clock)));
  Status s = ledger->init();
  if (!s.ok()) return s;
  auto checkpointer = WalCheckpointer::start(ledger->options_.path, ledger->db_);
  if (!checkpointer.ok()) return checkpointer.status();
  ledger->checkpointer_ = std::move(checkpointer.value());
  ledger->writer_ = std::thread([l = ledger.get()] { l->run(); });
  ledger->expirer_ = std::thread([l = ledger.get()] { l->expire_loop(); });
  if (ledger->check_pending_) {
    ledger->checking_.store(true);
    ledger->checker_ = std::thread([l = ledger.get()] { l->check_in_background(); });
  }
  return ledger;
}

Status Ledger::init() {
  if (options_.take_lock) {
    auto lock = DbLock::acquire(options_.path);
    if (!lock.ok()) return lock.status();
    lock_ = std::move(lock.value());
  }
  if (sqlite3_open_v2(options_.path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    return Status::error(Code::kStorageError, "cannot open " + options_.path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  // WAL: readers never block the writer. NORMAL survives process crashes (a power loss may drop
  // the last commits); FULL also survives power loss. See README, "Durability".
  Status s = exec_sql(db_, "PRAGMA journal_mode=WAL");
  if (s.ok())
    s = exec_sql(
        db_, std::string("PRAGMA synchronous=") + (options_.synchronous_full ? "FULL" : "NORMAL"));
  if (s.ok()) s = exec_sql(db_, "PRAGMA foreign_keys=ON");
  if (s.ok() && options_.quick_check_at_open_ms == 0) check_pending_ = options_.quick_check_in_background;
  if (s.ok() && options_.quick_check_at_open_ms > 0) {
    // A damaged file is refused before anything is acknowledged into it.
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::milliseconds(options_.quick_check_at_open_ms);
    const CheckResult check =
        quick_check(db_, [deadline] { return std::chrono::steady_clock::now() > deadline; });
    const std::string& damage = check.damage;
    const bool finished = check.finished;
    if (!damage.empty())
      return Status::error(Code::kStorageError,
                           options_.path + " is damaged (SQLite's quick_check: " + damage +
                               "); nothing was changed. Restore the last copy made by `tollgate "
                               "backup`, or recover what is readable with `sqlite3 " +
                               options_.path + " .recover`");
    check_pending_ = !finished && options_.quick_check_in_background;
    if (!finished)
      spdlog::info("{}: quick_check stopped after {} ms at start ({}){}", options_.path,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count(),
                   check.error,
                   check_pending_ ? "; the whole file is checked in the background" : "");
    else
      spdlog::info("{}: quick_check ok in {} ms", options_.path,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count());
  }
  if (s.ok()) {
    // A migration runs once per new version, before the daemon listens: say so, it can be long.
    Statement version(db_, "PRAGMA user_version");
    const int64_t from = version.ok() && version.step() == SQLITE_ROW ? version.column_int(0) : 0;
    version = Statement();
    const auto start = std::chrono::steady_clock::now();
    if (from > 0 && from < kSchemaVersion)
      spdlog::info("{}: migrating the ledger from schema {} to {} (once; minutes on a large ledger)",
                   options_.path, from, kSchemaVersion);
    s = migrate(db_);
    if (s.ok() && from > 0 && from < kSchemaVersion)
      spdlog::info("{}: migrated to schema {} in {} ms", options_.path, kSchemaVersion,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count());
  }
  if (s.ok()) {
    // Events committed after the last rollup flush (a crash, a kill) are rolled up by the writer
    // once the daemon is up, a chunk between commits, so a long tail does not hold the start; the
    // views add them meanwhile, so every reader sees them at once. Here the watermark is checked
    // (no chunk is rolled up) and what waits is counted.
    auto checked = roll_up_past_watermark(db_, dictionary_, options_.max_pending_rollup_rows, 0);
    if (!checked.ok()) {
      s = checked.status();
    } else if (checked.value().left > 0) {
      rollups_lost_ = true;
      recovery_backlog_.store(static_cast<uint64_t>(checked.value().left));
      spdlog::info("{}: up to {} events were stored after the last rollup flush (the daemon had "
                   "stopped without flushing); they are rolled up in the background, and the "
                   "views include them meanwhile",
                   options_.path, checked.value().left);
    }
  }
  if (s.ok()) s = write_meta(db_, {options_.currency, options_.timezone->name()});
  if (!s.ok()) return Status::error(s.code(), options_.path + ": " + s.message());
  files_intact();  // remembers which files are ours
  return {};
}

std::string Ledger::unhealthy_reason() const {
  if (!unhealthy_.load()) return "";
  std::lock_guard lock(mu_);
  return unhealthy_reason_;
}

void Ledger::mark_unhealthy(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (unhealthy_.load()) return;
    unhealthy_reason_ = why;
    unhealthy_.store(true);
  }
  spdlog::error("ledger refuses writes from now on: {}", why);  // once
}

bool Ledger::files_intact() {
  if (unhealthy_.load()) return false;
  auto id_of = [](const std::string& path) -> std::optional<FileId> {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return FileId{static_cast<unsigned long long>(st.st_dev),
                  static_cast<unsigned long long>(st.st_ino)};
  };
  const std::string wal = options_.path + "-wal";
  const auto db = id_of(options_.path), w = id_of(wal);
  if (!db_file_) db_file_ = db;
  if (!wal_file_) wal_file_ = w;  // SQLite creates the WAL at the first write
  std::string why;
  if (!db || !(*db == *db_file_))
    why = options_.path + (db ? " was replaced" : " was removed");
  else if (wal_file_ && !(w && *w == *wal_file_))
    why = wal + (w ? " was replaced" : " was removed");
  if (why.empty()) return true;
  mark_unhealthy(why + " under the running daemon: what it would acknowledge now could not be "
                       "read back after a restart. Restart the daemon (it reopens the files; "
                       "restore from `tollgate backup` if the database itself is gone)");
  return false;
}

Ledger::~Ledger() {
  stop();
  if (db_) sqlite3_close_v2(db_);
}

void Ledger::set_commit_observer(std::function<void(const CommitInfo&)> observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

void Ledger::submit(std::vector<UsageEvent> events, Done done,
                    std::chrono::steady_clock::time_point since) {
  {
    std::unique_lock lock(mu_);
    if (!stopping_ && unhealthy_.load()) {
      const std::string why = unhealthy_reason_;
      lock.unlock();
      return done(Status::error(Code::kStorageUnavailable, why), {}, std::move(events));
    }
    if (!stopping_ &&
        std::chrono::steady_clock::now() - since >
            std::chrono::milliseconds(options_.request_timeout_ms)) {
      lock.unlock();  // out of time before the ledger saw it (a long wait to be decoded)
      return done(too_late(), {}, std::move(events));
    }
    if (!stopping_) {
      // An empty queue always takes a request, however large (max_items_per_request bounds it).
      if (queued_events_ > 0 && queued_events_ + events.size() > options_.max_queued_events) {
        lock.unlock();
        return done(Status::error(Code::kOverloaded,
                                  "more than limits.max_queued_events (" +
                                      std::to_string(options_.max_queued_events) +
                                      ") events are waiting for the ledger; retry shortly"),
                    {}, std::move(events));
      }
      queued_events_ += events.size();
      queue_.push_back({std::move(events), std::make_shared<Done>(std::move(done)), since,
                        std::make_shared<std::atomic<bool>>(false)});
      cv_.notify_one();
      return;
    }
  }
  done(Status::error(Code::kStorageUnavailable, "the ledger is shutting down"), {},
       std::move(events));
}

void Ledger::run_on_writer(std::function<void(sqlite3*)> op) {
  {
    std::lock_guard lock(mu_);
    if (!stopped_) {
      ops_.push_back(std::move(op));
      cv_.notify_one();
      return;
    }
  }
  std::lock_guard lock(after_stop_mu_);
  op(db_);
}

void Ledger::run_ops(std::unique_lock<std::mutex>& lock) {
  while (!ops_.empty()) {
    auto op = std::move(ops_.front());
    ops_.pop_front();
    lock.unlock();
    op(db_);
    lock.lock();
  }
}

// The whole file's quick_check on a read connection of its own (WAL: the writer goes on). Its
// read transaction keeps checkpoints from passing its snapshot while it runs (seconds per ten
// million events), so the WAL may grow meanwhile.
void Ledger::check_in_background() {
  sqlite3* db = nullptr;
  const auto start = std::chrono::steady_clock::now();
  if (sqlite3_open_v2(options_.path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    spdlog::warn("{}: the background quick_check could not open the file: {}", options_.path,
                 db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close_v2(db);
    checking_.store(false);
    return;
  }
  sqlite3_busy_timeout(db, 5000);
  const CheckResult check = quick_check(db, [this] { return checker_stop_.load(); });
  sqlite3_close_v2(db);
  const std::string& damage = check.damage;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  if (!damage.empty())
    mark_unhealthy(options_.path + " is damaged (SQLite's quick_check, in the background: " + damage +
                   "). Restore the last copy made by `tollgate backup`, or recover what is "
                   "readable with `sqlite3 " + options_.path + " .recover`");
  else if (check.finished)
    spdlog::info("{}: quick_check ok in {} ms (in the background)", options_.path, ms);
  else if (checker_stop_.load())
    spdlog::info("{}: the background quick_check was stopped after {} ms, unfinished", options_.path, ms);
  else
    spdlog::warn("{}: the background quick_check could not finish: {}; the file was checked only "
                 "in part (restart to check it again)", options_.path, check.error);
  checking_.store(false);  // after marking: never "done" and "healthy" before the damage is known
}

void Ledger::stop() {
  checker_stop_.store(true);
  {
    std::lock_guard lock(checker_mu_);  // stop() may be called from two threads
    if (checker_.joinable()) checker_.join();
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_one();
    expirer_cv_.notify_one();
  }
  if (writer_.joinable()) writer_.join();
  if (expirer_.joinable()) expirer_.join();
  std::unique_lock lock(mu_);
  run_ops(lock);  // anything that raced with the writer's exit
  stopped_ = true;
  checkpointer_.reset();  // the connection's own automatic checkpoint from now on
}

void Ledger::run() {
  pthread_setname_np(pthread_self(), "tg-writer");  // top -H, perf and the benchmarks find it
  const auto window = std::chrono::milliseconds(options_.commit_interval_ms);
  std::unique_lock lock(mu_);
  bool busy = false;  // the last round committed: whatever queued meanwhile goes at once
  for (;;) {
    cv_.wait_for(lock, until_flush_due(),
                 [&] { return stopping_ || !queue_.empty() || !ops_.empty(); });
    run_ops(lock);
    if (queue_.empty()) {
      busy = false;
      const bool stop = stopping_ && ops_.empty();
      lock.unlock();
      flush_rollups_if_due(stop);
      if (stop) return;
      files_intact();
      prune_if_due();
      lock.lock();
      continue;
    }
    // Group commit. Coming from idle, wait out the window from the first arrival so concurrent
    // requests share the transaction; under load, everything that queued during the previous
    // commit is the next group, with no added wait (the writer never idles while work waits).
    if (!busy && !stopping_ && window.count() > 0)
      cv_.wait_for(lock, window, [&] { return stopping_; });
    busy = true;
    std::vector<Pending> batch(std::make_move_iterator(queue_.begin()),
                               std::make_move_iterator(queue_.end()));
    queue_.clear();
    queued_events_ = 0;
    in_commit_ = &batch;
    commit_since_ = std::chrono::steady_clock::now();
    lock.unlock();
    commit(batch);
    lock.lock();
    in_commit_ = nullptr;
    lock.unlock();
    // Under sustained load the writer is never idle: flush and prune between commits too.
    flush_rollups_if_due(false);
    prune_if_due();
    lock.lock();
  }
}

void Ledger::commit(std::vector<Pending>& batch) {
  std::vector<std::vector<Stored>> outcomes(batch.size());
  CommitInfo info;
  auto start = std::chrono::steady_clock::now();
  Status s = files_intact() ? write(batch, outcomes, info)
                            : Status::error(Code::kStorageUnavailable, unhealthy_reason());
  if (!s.ok()) {
    const int rc = last_write_error_ & 0xff;
    last_write_error_ = SQLITE_OK;
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
      mark_unhealthy("SQLite found " + options_.path + " corrupt (" + s.message() +
                     "); restore from `tollgate backup`");
  }
  info.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (s.ok()) {
    std::function<void(const CommitInfo&)> observer;
    {
      std::lock_guard lock(mu_);
      observer = observer_;
    }
    if (observer) observer(info);
  } else {
    ++commit_failures_;
    spdlog::error("ledger commit of {} events failed: {}", info.events, s.message());
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].answered->exchange(true)) continue;  // timed out meanwhile: already answered
    if (s.ok()) {
      (*batch[i].done)(s, std::move(outcomes[i]), std::move(batch[i].events));
    } else {
      (*batch[i].done)(Status::error(Code::kStorageUnavailable,
                                  "the ledger could not commit (" + s.message() +
                                      "); nothing of this request was stored, retry later"),
                    {}, std::move(batch[i].events));
    }
  }
}

Status Ledger::write(std::vector<Pending>& batch, std::vector<std::vector<Stored>>& outcomes,
                     CommitInfo& info) {
  Status s = exec_sql(db_, "BEGIN IMMEDIATE");
  if (!s.ok()) {
    last_write_error_ = sqlite3_errcode(db_);
    return s;
  }
  Statement insert(db_, kInsertEvent);
  Statement insert_lines(db_, kInsertChargeLines);
  Statement remove(db_, "DELETE FROM event_rows WHERE rowid = ?1");
  Statement insert_extras(db_, kInsertEventExtras);
  if (!insert.ok() || !insert_lines.ok() || !remove.ok() || !insert_extras.ok()) {
    last_write_error_ = sqlite3_errcode(db_);
    exec_sql(db_, "ROLLBACK");
    return Status::error(Code::kStorageError, insert.error() + insert_lines.error() +
                                                  remove.error() + insert_extras.error());
  }
  // The commit's charge lines (event_charge_lines), and the first and last event they name: a
  // row once they pass kChargeLinesRowBytes (an event's lines stay in one row). Small rows keep
  // SQLite's record buffers and this one off malloc's large-chunk path, whose holes grew the
  // daemon's RSS when a commit's lines were one row of up to a megabyte.
  std::string lines;
  lines.reserve(kChargeLinesRowBytes + 4 * kMaxChargeLineBytes);
  int64_t first_lines_rowid = 0, last_lines_rowid = 0;
  auto write_lines = [&]() -> Status {
    lines += ']';
    insert_lines.bind(1, last_lines_rowid).bind(2, first_lines_rowid).bind(3, lines);
    const int rc = insert_lines.step();
    insert_lines.reset();
    lines.clear();
    if (rc != SQLITE_DONE) return Status::error(Code::kStorageError, sqlite3_errmsg(db_));
    return {};
  };
  // The totals of the days this batch touches, taken from day_totals_ and put back once the
  // commit lands.
  std::map<std::string, RollupSums> day_totals;
  const int64_t received_ms = clock_();
  RollupBuffer& rollups = *pending_rollups_;
  if (rollups.empty() && !rollups_lost_) pending_since_ = std::chrono::steady_clock::now();
  int64_t cached_day = std::numeric_limits<int64_t>::min();
  std::string day;
  ChargeLines event_lines;  // an event's, its buffers reused by the next
  std::string tags;         // an event's tags_json, the same
  // The last event's strings and their dim_values ids: most of an event's strings (currency,
  // status, priced_by, often region, priority, model) are the last one's, and comparing them
  // costs less than hashing them. Valid within this transaction (its ids may be rolled back).
  std::string last_strings[12];
  int64_t last_ids[12] = {};
  DimDictionary::Set last_set_ids{};
  int64_t last_set_id = 0;
  bool have_last = false;
  for (size_t b = 0; b < batch.size() && s.ok(); ++b) {
    auto& events = batch[b].events;
    outcomes[b].assign(events.size(), Stored::kNew);
    for (size_t i = 0; i < events.size(); ++i) {
      UsageEvent& e = events[i];
      ++info.events;
      const int64_t day_number = options_.timezone->local_day(e.ts_ms);
      if (day_number != cached_day) {  // events of one batch nearly always share their day
        cached_day = day_number;
        day = format_date(day_number);
      }
      e.write_tags_json(tags);
      const std::string_view priority = to_string(e.priority);
      const std::string_view status = e.status_ok ? "ok" : "error";
      const std::string_view priced_by = to_string(e.priced_by);
      // The day's total before this event's row exists: read later, it would count the row.
      auto total = day_totals.find(day);
      if (total == day_totals.end()) {
        auto cached_total = day_totals_.find(day);
        if (cached_total != day_totals_.end()) {
          total = day_totals.emplace(day, cached_total->second).first;
        } else {
          auto loaded = read_day_total(db_, day);
          if (!loaded.ok()) {
            s = loaded.status();
            break;
          }
          total = day_totals.emplace(day, loaded.value()).first;
        }
      }
      // The strings as dim_values ids: customer and tags in the row (?5, ?6), the others as one
      // dim_sets id (?4), in its columns' order.
      const std::string_view strings[] = {e.feature,  e.team,   e.customer, tags,
                                          e.provider, e.model,  e.region,   priority,
                                          status,     options_.currency, priced_by, e.price_ref};
      int64_t ids[std::size(strings)] = {};
      static_assert(std::size(strings) == std::size(last_ids));
      for (size_t k = 0; k < std::size(strings) && s.ok(); ++k) {
        if (have_last && strings[k] == last_strings[k]) {
          ids[k] = last_ids[k];
          continue;
        }
        auto id = dictionary_.id(db_, strings[k]);
        if (id.ok()) ids[k] = id.value();
        else s = id.status();
      }
      if (!s.ok()) break;
      const DimDictionary::Set set_ids{ids[0], ids[1], ids[4], ids[5],  ids[6],
                                       ids[7], ids[8], ids[9], ids[10], ids[11]};
      if (!have_last || set_ids != last_set_ids) {
        auto set = dictionary_.set_id(db_, set_ids);
        if (!set.ok()) {
          s = set.status();
          break;
        }
        last_set_id = set.value();
        last_set_ids = set_ids;
      }
      for (size_t k = 0; k < std::size(strings); ++k)
        if (ids[k] != last_ids[k] || !have_last) last_strings[k].assign(strings[k]);
      std::copy(std::begin(ids), std::end(ids), last_ids);
      have_last = true;
      insert.bind(4, last_set_id).bind(5, ids[2]).bind(6, ids[3]);
      // The first event under a daily key no recent event had is listed: its row stands for its
      // rollup rows (schema 14). The key: the day and every id but price_ref's.
      const bool listed =
          rollups.claim_listing(RollupBuffer::listing_key(day, ids, std::size(ids) - 1));
      insert.bind(17, int64_t{listed});
      // The day and the receive time as offsets from ts_ms where they fit (schema 15).
      const int64_t day_offset = day_number - day_of_ms(e.ts_ms);
      if (day_offset >= -1 && day_offset <= 1 && day_number >= kFirstSqlDay &&
          day_number <= kLastSqlDay)
        insert.bind(3, day_offset);
      else
        insert.bind(3, day);
      int64_t received_offset = 0;
      std::string received_text;
      if (__builtin_sub_overflow(received_ms, e.ts_ms, &received_offset)) {
        received_text = std::to_string(received_ms);
        insert.bind(15, received_text);
      } else {
        insert.bind(15, received_offset);
      }
      insert.bind(1, e.event_id).bind(2, e.ts_ms).bind(7, e.input_tokens);
      insert.bind(8, e.cached_input_tokens).bind(9, e.output_tokens).bind(10, e.requests);
      insert.bind(11, e.gpu_micros).bind(12, e.latency_ms).bind(13, e.cost.nanos());
      insert.bind(14, e.reservation_id).bind(16, e.reasoning_tokens);
      int rc = insert.step();
      insert.reset();
      if (rc != SQLITE_DONE) {
        s = Status::error(Code::kStorageError, sqlite3_errmsg(db_));
        break;
      }
      if (sqlite3_changes(db_) == 0) {
        outcomes[b][i] = Stored::kDuplicate;  // first write wins
        continue;
      }
      const int64_t rowid = sqlite3_last_insert_rowid(db_);
      if (!total->second.add(e)) {
        // The day's sums would pass int64: refuse this event rather than wrap any total.
        remove.bind(1, rowid);
        rc = remove.step();
        remove.reset();
        if (rc != SQLITE_DONE) {
          s = Status::error(Code::kStorageError, sqlite3_errmsg(db_));
          break;
        }
        outcomes[b][i] = Stored::kOutOfRange;
        continue;
      }
      if (e.cache_write_tokens != 0 || e.egress_bytes != 0 || e.value_units.nanos() != 0 ||
          e.revenue.nanos() != 0) {
        insert_extras.bind(1, rowid).bind(2, e.cache_write_tokens).bind(3, e.egress_bytes);
        insert_extras.bind(4, e.value_units.nanos()).bind(5, e.revenue.nanos());
        rc = insert_extras.step();
        insert_extras.reset();
        if (rc != SQLITE_DONE) {
          s = Status::error(Code::kStorageError, sqlite3_errmsg(db_));
          break;
        }
      }
      info.accepted.push_back(&e);
      const RollupBuffer::Dims dims{day,      e.feature, e.team,   e.customer, tags,     e.provider,
                                    e.model,  e.region,  priority, status,     priced_by};
      // While the buffer misses events (a failed commit, a recovery under way) the raw events
      // past the watermark are rolled up from the ledger instead, this one with them.
      const bool buffered = !rollups_lost_;
      RollupBuffer::Interned interned;
      const RollupBuffer::StoredIds stored{ids[0], ids[1], ids[2], ids[3], ids[4],
                                           ids[5], ids[6], ids[7], ids[8], ids[10]};
      if (buffered)
        interned = rollups.add(dims, e, rowid, listed, &stored);
      else ++recovery_backlog_added_;
      charge_lines(e, options_.currency, event_lines);
      for (const ChargeLine& line : event_lines) {
        auto price = price_id(line);
        if (!price.ok()) {
          s = price.status();
          break;
        }
        if (lines.empty()) first_lines_rowid = rowid;
        last_lines_rowid = rowid;
        append_charge_line(lines, rowid, price.value(), line.quantity, line.cost_nanos);
        if (buffered) rollups.add_charge(interned, price.value(), line.quantity, line.cost_nanos);
      }
      if (s.ok() && lines.size() >= kChargeLinesRowBytes) s = write_lines();
      if (!s.ok()) break;
    }
  }
  if (s.ok() && !lines.empty()) s = write_lines();
  if (s.ok()) s = exec_sql(db_, "COMMIT");
  if (!s.ok()) {
    last_write_error_ = sqlite3_errcode(db_);  // before ROLLBACK resets it
    exec_sql(db_, "ROLLBACK");
    info.accepted.clear();
    for (const std::string& k : new_prices_) price_ids_.erase(k);  // rolled back with the commit
    new_prices_.clear();
    dictionary_.forget();  // so were the strings it added
    // The buffer holds rows of events that were not stored: the next flush rolls the raw events
    // past the watermark up from the ledger instead. It must go in any case: it interns strings
    // by dim_values id, and the ids rolled back are handed to the next new strings.
    drop_pending_rollups();
    return s;
  }
  new_prices_.clear();
  // Landed: the rollups wait for the next flush (the views show them meanwhile), the day totals
  // stay known. A ledger written over years would keep every day: past a year of them, start over.
  pending_rows_.store(rollups.rows());
  if (day_totals_.size() > 400) day_totals_.clear();
  for (auto& [d, total] : day_totals) day_totals_[d] = total;
  return s;
}

Status Ledger::too_late() const {
  return Status::error(Code::kOverloaded,
                       "the request waited more than limits.request_timeout_s (" +
                           std::to_string(options_.request_timeout_ms / 1000) +
                           " s) for the ledger; nothing of it was acknowledged, retry");
}

// Answers overloaded to every request waiting longer than request_timeout_ms: queued ones leave
// the queue unwritten; those of a commit under way are answered now and their outcome dropped.

void Ledger::expire_loop() {
  const auto timeout = std::chrono::milliseconds(options_.request_timeout_ms);
  const Status late = too_late();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    expirer_cv_.wait_for(lock, std::chrono::milliseconds(100));
    const auto now = std::chrono::steady_clock::now();
    // Collected under the lock, answered outside it: a `done` may call back into the ledger.
    std::vector<Pending> queued;
    std::vector<std::shared_ptr<Done>> committing;
    // The whole queue: requests are queued in the order their decoding ended, not the order
    // they arrived (`since`), so an expired one may wait behind a younger one.
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (now - it->since <= timeout) {
        ++it;
        continue;
      }
      queued_events_ -= it->events.size();
      queued.push_back(std::move(*it));
      it = queue_.erase(it);
    }
    if (in_commit_ && now - commit_since_ > timeout)
      for (Pending& p : *in_commit_)
        if (now - p.since > timeout && !p.answered->exchange(true)) committing.push_back(p.done);
    if (queued.empty() && committing.empty()) continue;
    lock.unlock();
    for (Pending& p : queued)
      if (!p.answered->exchange(true)) (*p.done)(late, {}, std::move(p.events));
    for (auto& done : committing) (*done)(late, {}, {});
    queued.clear();
    committing.clear();
    lock.lock();
  }
}

Result<int64_t> Ledger::price_id(const ChargeLine& line) {
  // Each string after its length, the numbers as their bytes: no two prices share a key.
  price_key_.clear();
  for (const std::string_view text :
       {line.component, std::string_view(line.sku_price_id),
        std::string_view(line.pricing_currency)}) {
    const uint64_t size = text.size();
    price_key_.append(reinterpret_cast<const char*>(&size), sizeof size).append(text);
  }
  for (const int64_t v :
       {line.fx_nanos, line.list_rate, line.contracted_rate, line.discount_nano_percent})
    price_key_.append(reinterpret_cast<const char*>(&v), sizeof v);
  if (auto it = price_ids_.find(std::string_view(price_key_)); it != price_ids_.end())
    return it->second;
  const char* where =
      "component = ?1 AND sku_price_id = ?2 AND pricing_currency = ?3 AND fx_nanos = ?4 AND "
      "list_rate_nanos = ?5 AND contracted_rate_nanos = ?6 AND discount_nano_percent = ?7";
  Statement insert(db_,
                   "INSERT INTO charge_prices (component, sku_price_id, pricing_currency, "
                   "fx_nanos, list_rate_nanos, contracted_rate_nanos, discount_nano_percent) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING");
  Statement select(db_, std::string("SELECT id FROM charge_prices WHERE ") + where);
  for (Statement* st : {&insert, &select}) {
    if (!st->ok()) return Status::error(Code::kStorageError, st->error());
    st->bind(1, line.component).bind(2, line.sku_price_id).bind(3, line.pricing_currency);
    st->bind(4, line.fx_nanos).bind(5, line.list_rate).bind(6, line.contracted_rate);
    st->bind(7, line.discount_nano_percent);
  }
  if (insert.step() != SQLITE_DONE || select.step() != SQLITE_ROW)
    return Status::error(Code::kStorageError, sqlite3_errmsg(db_));
  const int64_t id = select.column_int(0);
  new_prices_.push_back(price_key_);
  price_ids_.emplace(price_key_, id);
  return id;
}

Ledger::RollupFlushes Ledger::rollup_flushes() const {
  return {flushes_interval_.load(), flushes_rows_.load(), flushes_stop_.load(),
          flushes_read_.load(), flush_failures_.load(), flushes_recovery_.load()};
}

std::chrono::milliseconds Ledger::until_flush_due() const {
  using namespace std::chrono;
  if (pending_rollups_->empty() && !rollups_lost_) return seconds(1);
  if (rollups_lost_ && recovery_held_.load()) return seconds(1);  // release_recovery() wakes it
  // A recovery goes on at once, a chunk between commits, until it reaches the last event.
  const auto due =
      rollups_lost_ ? flush_retry_at_
                    : std::max(pending_since_ + milliseconds(options_.rollup_flush_interval_ms),
                               flush_retry_at_);
  return std::clamp(duration_cast<milliseconds>(due - steady_clock::now()), milliseconds(0),
                    milliseconds(1000));
}

void Ledger::release_recovery() {
  recovery_held_.store(false);
  run_on_writer([](sqlite3*) {});  // wakes the writer, which then goes on with the recovery
}

void Ledger::flush_rollups_if_due(bool stopping) {
  if (pending_rollups_->empty() && !rollups_lost_) return;
  if (!stopping && rollups_lost_ && recovery_held_.load()) return;
  const auto now = std::chrono::steady_clock::now();
  std::atomic<uint64_t>* reason = &flushes_stop_;
  if (!stopping) {
    if (now < flush_retry_at_) return;
    if (rollups_lost_)
      reason = &flushes_recovery_;
    else if (pending_rollups_->rows() >= options_.max_pending_rollup_rows)
      reason = &flushes_rows_;
    else if (now - pending_since_ >= std::chrono::milliseconds(options_.rollup_flush_interval_ms))
      reason = &flushes_interval_;
    else
      return;
  }
  flush_rollups(*reason);
}

void Ledger::flush_rollups_before_read() {
  // A recovery under way goes on a chunk at a time: the read sees its events through the views.
  if (pending_rollups_->empty() || rollups_lost_) return;
  // A failing disk: the retry pause holds here too (the read then sees the raw events).
  if (std::chrono::steady_clock::now() < flush_retry_at_) return;
  flush_rollups(flushes_read_);
}

void Ledger::flush_rollups(std::atomic<uint64_t>& reason) {
  const auto now = std::chrono::steady_clock::now();
  // The raw events past the watermark are already durable: a failed flush loses nothing, its
  // rows stay pending and the views still show them.
  Status s;
  if (!files_intact()) {
    s = Status::error(Code::kStorageUnavailable, unhealthy_reason());
  } else if (rollups_lost_) {
    // The buffer misses events (an unclean stop, a failed commit): the raw events past the
    // watermark are rolled up from the ledger, one chunk (all of them at a stop).
    // Small chunks: a commit or a writer op (a budget rebuild at start) waits for one at most.
    // As many more as the commits since the last call added, so that the tail shrinks by a
    // chunk each time however fast events arrive.
    const int64_t chunk =
        std::min<int64_t>(kRecoveryChunkEvents, int64_t(options_.max_pending_rollup_rows));
    const int64_t chunks = 1 + (recovery_backlog_added_ + chunk - 1) / chunk;
    auto rolled = roll_up_past_watermark(db_, dictionary_, chunk,
                                         &reason == &flushes_stop_ ? INT64_MAX : chunks);
    if (rolled.ok()) recovery_backlog_added_ = 0;
    s = rolled.status();
    if (s.ok() && rolled.value().caught_up) {
      pending_rollups_->clear();  // whatever committed since is in what was rolled up
      rollups_lost_ = false;
      recovery_backlog_.store(0);
    } else if (s.ok()) {
      recovery_backlog_.store(static_cast<uint64_t>(rolled.value().left));
    }
  } else {
    s = pending_rollups_->flush(db_, options_.currency, dictionary_);
  }
  if (s.ok()) {
    ++reason;
    pending_rows_.store(0);
    // The dictionary's cache is bounded like the buffer: a stream of new customers or tags
    // costs memory only until here.
    if (dictionary_.size() > options_.max_pending_rollup_rows) dictionary_.forget();
    return;
  }
  dictionary_.forget();  // the strings the flush added were rolled back with it
  flush_retry_at_ = now + std::chrono::seconds(1);
  if (flush_failures_++ % 100 == 0)  // a failing disk: a line per hundred tries, not per second
    spdlog::error("rollup flush of {} rows failed (the raw events have them; retried): {}",
                  pending_rollups_->rows(), s.message());
  // Still failing at twice the bound: the buffer goes (the raw events hold every row of it) and
  // the next flush that works rolls them up from the ledger instead; memory stays bounded.
  if (pending_rollups_->rows() >= 2 * options_.max_pending_rollup_rows) drop_pending_rollups();
}

void Ledger::drop_pending_rollups() {
  pending_rollups_->clear();
  rollups_lost_ = true;
  pending_rows_.store(0);
}

void Ledger::prune_if_due() {
  // A small chunk at a time, so retention holds without stalling ingest; again at once while
  // there is more, else every kPruneEveryMs.
  if (clock_() < next_prune_ms_) return;
  int64_t n = prune_chunk(kPruneChunk);
  next_prune_ms_ = n == kPruneChunk ? 0 : clock_() + kPruneEveryMs;
}

int64_t Ledger::prune_chunk(int64_t limit) {
  const EpochMs cutoff = clock_() - static_cast<int64_t>(options_.raw_retention_days) * 86'400'000;
  // One transaction: the batch's listed events (their own rollup rows, schema 14) are rolled up
  // into the stored rollups, then the batch goes, and the ranges it emptied.
  Status s = exec_sql(db_, "CREATE TEMP TABLE IF NOT EXISTS prune_batch (rowid INTEGER PRIMARY KEY)");
  if (s.ok()) s = exec_sql(db_, "BEGIN IMMEDIATE");
  const bool began = s.ok();
  if (s.ok()) s = exec_sql(db_, "DELETE FROM temp.prune_batch");
  if (s.ok()) {
    // The events before the cutoff, in the blocks of rowids (event_ts_blocks, schema 16) that
    // hold any, oldest rowids first; every event at or below the watermark lies within its
    // block's times.
    Statement batch(db_,
                    "INSERT INTO temp.prune_batch SELECT e.rowid FROM event_ts_blocks b "
                    "CROSS JOIN event_rows e ON e.rowid BETWEEN " TOLLGATE_BLOCK_FIRST_ROWID(
                        "b") " AND " TOLLGATE_BLOCK_LAST_ROWID("b") " WHERE b.min_ts_ms < ?1 "
                    "AND e.ts_ms < ?1 AND e.rowid <= (SELECT through_rowid FROM "
                    "rollup_watermark) AND e.rowid <= ?3 AND e.rowid < (SELECT MAX(rowid) FROM "
                    "event_rows) ORDER BY b.block LIMIT ?2");
    if (batch.ok()) batch.bind(1, cutoff).bind(2, limit).bind(3, prune_through_.load());
    if (!batch.ok() || batch.step() != SQLITE_DONE)
      s = Status::error(Code::kStorageError, batch.ok() ? sqlite3_errmsg(db_) : batch.error());
  }
  if (s.ok()) s = roll_up_listed_in_prune_batch(db_);
  int64_t n = 0;
  if (s.ok()) {
    s = exec_sql(db_, "DELETE FROM event_rows WHERE rowid IN (SELECT rowid FROM temp.prune_batch)");
    n = sqlite3_changes(db_);
  }
  if (s.ok()) s = drop_emptied_ranges(db_);
  if (s.ok()) s = narrow_pruned_ts_blocks(db_);
  if (s.ok()) s = exec_sql(db_, "COMMIT");
  if (!s.ok()) {
    if (began) exec_sql(db_, "ROLLBACK");
    ++prune_failures_;
    spdlog::warn("retention prune failed: {}", s.message());
    return 0;
  }
  if (n > 0)
    spdlog::info("pruned {} raw events older than {} days", n, options_.raw_retention_days);
  return n;
}

}  // namespace tollgate

#pragma once
// Ledger: the SQLite unit-economics ledger and its single writer thread.
//
// submit() queues events; the writer commits everything that arrived within commit_interval_ms in
// one transaction (group commit): raw events (event_id dedup, first write wins) and the day's
// itemised charges. Only after COMMIT returns is `done` called, so a caller can acknowledge
// exactly what is durable. The 15-minute and daily rollups of those events wait in memory and are
// flushed every rollup_flush_interval_ms (see rollup_buffer.h: readers see them at once through
// the views, and a crash loses none). Raw events older than the retention are pruned in small
// chunks between commits, only once rolled up.
//
// Thread-safety: submit() from any thread. Callbacks run on the writer thread and must not block.
// stop() commits everything already submitted, then closes the database.

#include <sqlite3.h>

#include <atomic>
#include <boost/unordered/unordered_flat_map.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "metering/status.h"
#include "metering/string_hash.h"
#include "metering/time_util.h"
#include "metering/time_zone.h"
#include "metering/usage_event.h"
#include "storage/db_lock.h"
#include "storage/dim_dictionary.h"
#include "storage/rollup_buffer.h"
#include "storage/wal_checkpointer.h"

namespace tollgate {

struct ChargeLine;  // metering/charges.h

struct LedgerOptions {
  std::string path;
  bool synchronous_full = false;
  int commit_interval_ms = 5;
  int raw_retention_days = 35;
  std::string currency = "USD";  // recorded in the ledger's meta table with the zone's name
  std::shared_ptr<const TimeZone> timezone = TimeZone::utc();
  bool take_lock = true;  // the daemon's advisory lock (CONTRACT §1)
  // Bounds (CONTRACT §2.1 limits): events waiting for the writer, and how long a request may wait
  // for its commit. Past either, `done` gets overloaded and nothing of the request is acknowledged.
  uint64_t max_queued_events = 200'000;
  // PRAGMA quick_check at open, stopped after this long on a large ledger (a damaged file is then
  // refused before anything is acknowledged into it); 0: none at open (tools).
  int quick_check_at_open_ms = 0;
  // What open did not get to check is checked again, whole, on a read connection of its own
  // while the ledger serves; damage found then marks the ledger unhealthy.
  bool quick_check_in_background = false;
  int request_timeout_ms = 30'000;
  // Rollups wait in memory this long after the first event a flush has not written yet (0: a
  // flush after every commit), or until this many 15-minute rows wait (the bound, counted).
  int rollup_flush_interval_ms = 2000;
  uint64_t max_pending_rollup_rows = 100'000;
  // Retention prunes nothing until hold_prune_after() says how far it may (the daemon: once the
  // budget spend checkpoints are read); false: no hold until one is set (tools, tests).
  bool prune_held_at_open = false;
  // The events an unclean stop left past the rollup watermark are rolled up only once
  // release_recovery() is called (the daemon: once its start-up reads on the writer are done,
  // which would each wait behind a chunk); false: at once. A stop rolls them up either way.
  bool recovery_held_at_open = false;
};

// What one commit did, for metrics and the spend book.
struct CommitInfo {
  double duration_s = 0;
  size_t events = 0;                        // events in the transaction, duplicates included
  std::vector<const UsageEvent*> accepted;  // valid only during the callback
};

// What became of one submitted event.
enum class Stored {
  kNew,
  kDuplicate,   // its event_id was stored before: first write wins
  kOutOfRange,  // refused: a sum of its day would pass int64 (CONTRACT §3 cost_out_of_range)
};

class Ledger {
 public:
  // The events come back to the caller with the outcome, so it can report on them.
  using Done = std::function<void(Status status, std::vector<Stored> stored,
                                  std::vector<UsageEvent> events)>;

  static Result<std::unique_ptr<Ledger>> open(LedgerOptions options, Clock clock = system_now_ms);
  ~Ledger();  // stop()s

  // Queues events for the next group commit. `done` gets ok and, per event, whether it was
  // stored, a duplicate or refused; or an error status when the transaction failed (nothing of it
  // was stored). After stop() it fails at once with storage_unavailable. With more than
  // max_queued_events already waiting it fails at once with overloaded; a request still unanswered
  // after request_timeout_ms gets overloaded then (from the expiry thread, never under the
  // ledger's lock): if it was still queued it is never written; if its commit was under way and
  // lands, a retry finds duplicates (and the budget counts the events: the ledger has them; only
  // the ingest metrics of that request are not counted, as its answer said "not acknowledged").
  // `since`: when the request arrived, where the timeout starts (a caller that queued it before,
  // e.g. for a decoding pool, passes that time; the default is now).
  void submit(std::vector<UsageEvent> events, Done done,
              std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now());
  // Called on the writer thread after each successful commit, before the `done` callbacks.
  void set_commit_observer(std::function<void(const CommitInfo&)> observer);
  // Runs `op` on the writer thread with the read-write connection, between group commits: for
  // the few other writes (audit, overrides) and for work that must not interleave with a commit
  // and its observer. `op` runs its own transaction if it needs one. After stop() it runs at once
  // on the caller's thread.
  void run_on_writer(std::function<void(sqlite3*)> op);
  // Only inside a run_on_writer op: writes the pending rollups now, so that a read of the rollup
  // views that follows (a budget rebuild) reads compact rollup rows, not every raw event past the
  // watermark (up to rollup_flush_interval_ms of ingest, each joined to its strings). A failure
  // is a failed flush: the rows stay pending and the views still show them.
  void flush_rollups_before_read();
  // Retention prunes no event after `rowid`: the budget spend checkpoints count through it, and
  // a start reads the events after it (events it pruned would be lost to that read). No hold
  // until called.
  void hold_prune_after(int64_t rowid) { prune_through_.store(rowid); }
  // Lets a recovery held at open (LedgerOptions::recovery_held_at_open) begin.
  void release_recovery();
  void stop();

  const LedgerOptions& options() const { return options_; }
  // Degraded modes, counted for metrics: group commits that failed (their requests got 503), and
  // retention prunes that failed (raw events outlive the retention until one succeeds).
  uint64_t commit_failures() const { return commit_failures_.load(); }
  // Why the ledger refuses every write from now on ("" while it is healthy): its database or WAL
  // file was removed or replaced under the daemon (writes would go to a file nobody can open
  // again), or SQLite found it corrupt. Checked before every commit and every second; logged once.
  std::string unhealthy_reason() const;
  // The whole file's quick_check is still running in the background (writes are acknowledged
  // meanwhile; damage it finds then marks the ledger unhealthy).
  bool checking() const { return checking_.load(); }
  uint64_t prune_failures() const { return prune_failures_.load(); }
  // Rollup flushes, by why they ran (the interval, the pending-rows bound, a stop, a read that
  // follows: a budget rebuild) and those that failed (their rows stay pending and are written by
  // a later flush).
  struct RollupFlushes {
    uint64_t interval = 0, pending_rows = 0, stop = 0, read = 0, failures = 0, recovery = 0;
  };
  RollupFlushes rollup_flushes() const;
  uint64_t pending_rollup_rows() const { return pending_rows_.load(); }
  // Raw events past the rollup watermark that a recovery (after an unclean stop or a failed
  // commit) has yet to roll up, about (the rowid distance, read after each of its flushes); 0 when
  // none runs.
  uint64_t recovery_backlog_events() const { return recovery_backlog_.load(); }

 private:
  struct Pending {
    std::vector<UsageEvent> events;
    std::shared_ptr<Done> done;  // shared: the expiry thread may call it outside mu_
    std::chrono::steady_clock::time_point since;
    std::shared_ptr<std::atomic<bool>> answered;  // done is called once, by whoever sets this
  };
  Ledger(LedgerOptions options, Clock clock)
      : options_(std::move(options)), clock_(std::move(clock)) {
    if (options_.prune_held_at_open) prune_through_.store(0);
    recovery_held_.store(options_.recovery_held_at_open);
  }
  Status init();
  void run();
  // The buffered rollups go (a failed commit, a flush failing past twice the bound): the raw
  // events past the watermark are rolled up from the ledger instead.
  void drop_pending_rollups();
  Status too_late() const;  // the answer past request_timeout_ms
  void run_ops(std::unique_lock<std::mutex>& lock);
  void commit(std::vector<Pending>& batch);
  Status write(std::vector<Pending>& batch, std::vector<std::vector<Stored>>& outcomes,
               CommitInfo& info);
  int64_t prune_chunk(int64_t limit);
  void prune_if_due();
  // Writer thread: the charge_prices id of a charge line's price, added if new.
  Result<int64_t> price_id(const ChargeLine& line);
  // Writer thread: flushes the pending rollups when due (or at once when stopping).
  void flush_rollups_if_due(bool stopping);
  // Writer thread: flushes them now, counted under `reason`.
  void flush_rollups(std::atomic<uint64_t>& reason);
  // Writer thread: how long the writer may sleep before a flush is due.
  std::chrono::milliseconds until_flush_due() const;
  void expire_loop();
  void check_in_background();
  // Writer thread: false (and the ledger marked unhealthy) when a file is gone or replaced.
  bool files_intact();
  void mark_unhealthy(const std::string& why);

  LedgerOptions options_;
  Clock clock_;
  std::unique_ptr<DbLock> lock_;
  sqlite3* db_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::deque<std::function<void(sqlite3*)>> ops_;
  std::mutex after_stop_mu_;  // serialises run_on_writer() calls once the writer is gone
  bool stopping_ = false;
  bool stopped_ = false;
  std::function<void(const CommitInfo&)> observer_;
  std::atomic<uint64_t> commit_failures_{0}, prune_failures_{0};
  int last_write_error_ = SQLITE_OK;  // writer thread: SQLite's code where write() failed
  std::thread writer_;
  std::unique_ptr<WalCheckpointer> checkpointer_;  // started before writer_, gone after it
  std::thread expirer_;
  std::thread checker_;  // the background quick_check, when open could not finish it
  std::atomic<bool> checker_stop_{false};
  std::atomic<bool> checking_{false};  // the background quick_check is running
  std::mutex checker_mu_;              // joins the checker once
  bool check_pending_ = false;  // set by init(): open did not check the whole file
  struct FileId {
    unsigned long long dev = 0, ino = 0;
    bool operator==(const FileId& o) const { return dev == o.dev && ino == o.ino; }
  };
  std::optional<FileId> db_file_, wal_file_;  // writer thread
  std::atomic<bool> unhealthy_{false};
  std::string unhealthy_reason_;  // under mu_
  std::condition_variable expirer_cv_;
  uint64_t queued_events_ = 0;              // under mu_: events in queue_
  std::vector<Pending>* in_commit_ = nullptr;  // under mu_: the batch being written
  std::chrono::steady_clock::time_point commit_since_;
  EpochMs next_prune_ms_ = 0;
  // Writer thread: rollups committed but not flushed, since when, and the known totals of days
  // (every sum of a day is a part of its total: it is checked against int64 per event).
  std::unique_ptr<RollupBuffer> pending_rollups_ = std::make_unique<RollupBuffer>();
  std::chrono::steady_clock::time_point pending_since_, flush_retry_at_;
  std::map<std::string, RollupSums> day_totals_;
  // Writer thread: charge_prices ids known (component, SKU price id, currency, fx, list rate,
  // contracted rate, discount), and those added by the commit under way.
  // Keyed by the seven fields in one string (price_key()): a lookup per charge line builds it in
  // a reused buffer and hashes it once, where a map of tuples allocated three strings and
  // compared them field by field.
  boost::unordered_flat_map<std::string, int64_t, StringHash, std::equal_to<>> price_ids_;
  std::vector<std::string> new_prices_;
  std::string price_key_;  // the buffer
  DimDictionary dictionary_;   // writer thread: dim_values ids of the strings seen lately
  // The buffer misses events (an unclean stop before this start, a failed commit): flushes roll up
  // the raw events past the watermark from the ledger instead, a chunk at a time, until caught up.
  bool rollups_lost_ = false;
  int64_t recovery_backlog_added_ = 0;  // events committed since the last recovery flush
  std::atomic<uint64_t> pending_rows_{0};
  std::atomic<uint64_t> recovery_backlog_{0};
  std::atomic<int64_t> prune_through_{std::numeric_limits<int64_t>::max()};
  std::atomic<bool> recovery_held_{false};
  std::atomic<uint64_t> flushes_interval_{0}, flushes_rows_{0}, flushes_stop_{0},
      flushes_read_{0}, flush_failures_{0}, flushes_recovery_{0};
};

}  // namespace tollgate

#include "daemon/reservation_journal.h"

#include "storage/policy_store.h"
#include "storage/sqlite_util.h"

namespace tollgate {

void ReservationJournal::opened(const StoredReservation& r) {
  std::lock_guard lock(mu_);
  pending_[r.id] = r;
}

void ReservationJournal::closed(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it != pending_.end() && it->second)
    pending_.erase(it);  // never written: nothing to delete
  else
    pending_[id] = std::nullopt;
}

bool ReservationJournal::empty() const {
  std::lock_guard lock(mu_);
  return pending_.empty();
}

Status ReservationJournal::flush(sqlite3* db) {
  std::map<std::string, std::optional<StoredReservation>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_);
  }
  if (batch.empty()) return {};
  Status s = exec_sql(db, "SAVEPOINT reservations");
  for (auto it = batch.begin(); s.ok() && it != batch.end(); ++it)
    s = it->second ? insert_reservation(db, *it->second) : delete_reservation(db, it->first);
  if (s.ok()) s = exec_sql(db, "RELEASE reservations");
  if (s.ok()) return s;
  exec_sql(db, "ROLLBACK TO reservations");
  exec_sql(db, "RELEASE reservations");
  std::lock_guard lock(mu_);
  // What changed meanwhile is newer than the batch that failed.
  for (auto& [id, row] : batch) pending_.try_emplace(id, std::move(row));
  return s;
}

}  // namespace tollgate

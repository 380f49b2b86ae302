#pragma once
// ReservationJournal: open reservations on their way to the ledger. Admission only appends here;
// the engine's ticker has flush() write everything pending once a second, in one transaction on
// the ledger's writer thread: an admission never costs a transaction, let alone an fsync, and a
// reservation opened and closed within the second (the usual case: its usage event settles it)
// is never written at all. Kept out of the group commit on purpose: rows keyed by random ids
// dirty pages all over their table, and once a second each such page is written once, where
// every group commit would write it again. A crash loses the reservations of the last second.
//
// Thread-safety: opened() and closed() from any thread; flush() on the ledger's writer thread.

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "policies/records.h"

namespace tollgate {

class ReservationJournal {
 public:
  void opened(const StoredReservation& r);
  void closed(const std::string& id);
  bool empty() const;
  // Writes what is pending within a SAVEPOINT (its own transaction, or part of one in
  // progress); on failure everything stays pending for the next flush and the error is returned.
  Status flush(sqlite3* db);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::optional<StoredReservation>> pending_;  // id → row, or delete
};

}  // namespace tollgate

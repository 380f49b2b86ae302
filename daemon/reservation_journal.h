#pragma once
// ReservationJournal: open reservations on their way to the ledger. Admission only appends here;
// flush() writes everything pending in one go, inside the ledger's group commit (or, when no
// ingest is committing, from the engine's ticker once a second), so an admission never costs a
// transaction, let alone an fsync. A reservation opened and closed before a flush is never
// written. A crash loses at most the reservations of the last second, and a group commit that
// fails at COMMIT loses those it carried (from the ledger only: the engine still holds them).
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
  // Writes what is pending within a SAVEPOINT (so it joins a transaction in progress, or is its
  // own); on failure everything stays pending for the next flush and the error is returned.
  Status flush(sqlite3* db);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::optional<StoredReservation>> pending_;  // id → row, or delete
};

}  // namespace tollgate

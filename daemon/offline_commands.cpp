#include "daemon/offline_commands.h"

#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "daemon/config/config.h"
#include "daemon/finance/litellm_import.h"
#include "metering/money.h"
#include "metering/time_util.h"
#include "storage/policy_store.h"
#include "storage/report.h"

namespace tollgate {

namespace {

// Where to read the ledger and how to report it: from --config, or from the ledgers' own meta
// tables with --db (the settings the daemon recorded), which must agree when there are several.
std::optional<ReportSettings> report_settings(const LedgerSource& from) {
  ReportSettings s;
  if (!from.config_path.empty()) {
    LoadErrors errors;
    Config c = load_config(from.config_path, errors);
    for (const auto& l : errors.lines) std::cerr << l << "\n";
    if (!errors.ok()) return std::nullopt;
    s.db_paths = {c.storage.path};
    s.currency = c.reporting.currency;
    s.tz = c.reporting.tz;
  } else {
    s.db_paths = from.db_paths;
  }
  // The same file twice would be counted twice, every event of it.
  for (size_t i = 0; i < s.db_paths.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      std::error_code ec;
      if (std::filesystem::equivalent(s.db_paths[i], s.db_paths[j], ec)) {
        std::fprintf(stderr, "tollgate: %s and %s are the same ledger: give each once\n",
                     s.db_paths[j].c_str(), s.db_paths[i].c_str());
        return std::nullopt;
      }
    }
  std::optional<LedgerMeta> first;
  for (const auto& path : s.db_paths) {
    auto conn = open_read_only(path);
    if (!conn.ok()) {
      std::fprintf(stderr, "tollgate: %s\n", conn.status().message().c_str());
      return std::nullopt;
    }
    const LedgerMeta meta = read_meta(conn.value());
    sqlite3_close(conn.value());
    if (!from.config_path.empty()) break;
    if (!first) {
      first = meta;
      s.currency = meta.currency;
      auto tz = TimeZone::load(meta.timezone);
      if (tz.ok()) s.tz = tz.value();
    } else if (meta.currency != first->currency || meta.timezone != first->timezone) {
      std::fprintf(stderr,
                   "tollgate: %s reports in %s, %s but %s in %s, %s: ledgers of different "
                   "currencies or time zones cannot be merged exactly; report each alone\n",
                   s.db_paths.front().c_str(), first->currency.c_str(), first->timezone.c_str(),
                   path.c_str(), meta.currency.c_str(), meta.timezone.c_str());
      return std::nullopt;
    }
  }
  return s;
}

// Several ledgers: says on stderr how many events of the days are in more than one of them (a
// client that sent one event to two instances), since the merge counts each copy. False when
// the ledgers cannot be read.
bool warn_of_shared_events(const ReportSettings& s, int64_t from_day, int64_t to_day) {
  if (s.db_paths.size() < 2) return true;
  auto shared = find_shared_events(s, from_day, to_day);
  if (!shared.ok()) {
    std::fprintf(stderr, "tollgate: %s\n", shared.status().message().c_str());
    return false;
  }
  if (shared->events != 0)
    std::fprintf(stderr,
                 "tollgate: warning: %lld events of %s..%s are in more than one of these "
                 "ledgers (the same event_id, acknowledged by two instances); the merge counts "
                 "each copy: %s %s more than once\n",
                 static_cast<long long>(shared->events), format_date(from_day).c_str(),
                 format_date(to_day).c_str(), decimal_string(shared->cost_nanos, 9).c_str(),
                 s.currency.c_str());
  return true;
}

int print_or_fail(const Result<Rendered>& r) {
  if (!r.ok()) {
    std::fprintf(stderr, "tollgate: %s\n", r.status().message().c_str());
    return 1;
  }
  std::fwrite(r->body.data(), 1, r->body.size(), stdout);
  return 0;
}

}  // namespace

int report_daily(const LedgerSource& from, const ReportQuery& q) {
  auto s = report_settings(from);
  if (!s) return 1;
  const EpochMs now = system_now_ms();
  const int code = print_or_fail(render_daily_report(*s, q, now));
  if (code != 0) return code;
  // The day reported and the seven before it (its comparison columns).
  const int64_t day = q.date ? *parse_date(*q.date) : s->tz->local_day(now) - 1;
  return warn_of_shared_events(*s, day - 7, day) ? 0 : 1;
}

int export_focus(const LedgerSource& from, const std::string& first_day,
                 const std::string& last_day) {
  auto s = report_settings(from);
  if (!s) return 1;
  const int code = print_or_fail(render_focus_export(*s, first_day, last_day));
  if (code != 0) return code;
  return warn_of_shared_events(*s, *parse_date(first_day), *parse_date(last_day)) ? 0 : 1;
}

int backup(const LedgerSource& from, const std::string& out) {
  auto s = report_settings(from);
  if (!s) return 1;
  if (s->db_paths.size() != 1) {
    std::fprintf(stderr, "tollgate backup: it copies one ledger; give one --db\n");
    return 1;
  }
  const std::string& db_path = s->db_paths.front();
  Status st = backup_database(db_path, out);
  if (!st.ok()) {
    std::fprintf(stderr, "tollgate backup: %s\n", st.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "backed up %s to %s (integrity_check ok)\n", db_path.c_str(),
               out.c_str());
  return 0;
}

int prices_import(const std::string& litellm_path, const std::string& out) {
  std::ifstream file(litellm_path);
  if (!file) {
    std::fprintf(stderr, "tollgate: cannot read %s\n", litellm_path.c_str());
    return 1;
  }
  std::stringstream text;
  text << file.rdbuf();
  auto result = import_litellm(text.str(), litellm_path);
  if (!result.ok()) {
    std::fprintf(stderr, "tollgate: %s\n", result.status().message().c_str());
    return 1;
  }
  if (out.empty()) {
    std::fwrite(result->yaml.data(), 1, result->yaml.size(), stdout);
  } else {
    std::ofstream(out) << result->yaml;
  }
  std::fprintf(stderr, "imported %zu prices from %s\n", result->imported, litellm_path.c_str());
  for (const auto& [reason, n] : result->skipped)
    std::fprintf(stderr, "skipped %zu: %s\n", n, reason.c_str());
  for (const auto& conflict : result->conflicts) std::fprintf(stderr, "note: %s\n", conflict.c_str());
  return 0;
}

}  // namespace tollgate

#include "daemon/offline_commands.h"

#include <sqlite3.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "daemon/config/config.h"
#include "daemon/finance/litellm_import.h"
#include "storage/policy_store.h"
#include "storage/report.h"

namespace tollgate {

namespace {

// Where to read the ledger and how to report it: from --config, or from the ledger's own meta
// table with --db (the settings the daemon recorded).
std::optional<ReportSettings> report_settings(const LedgerSource& from) {
  ReportSettings s;
  if (!from.config_path.empty()) {
    LoadErrors errors;
    Config c = load_config(from.config_path, errors);
    for (const auto& l : errors.lines) std::cerr << l << "\n";
    if (!errors.ok()) return std::nullopt;
    s.db_path = c.storage.path;
    s.currency = c.reporting.currency;
    s.tz = c.reporting.tz;
  } else {
    s.db_path = from.db_path;
  }
  auto conn = open_read_only(s.db_path);
  if (!conn.ok()) {
    std::fprintf(stderr, "tollgate: %s\n", conn.status().message().c_str());
    return std::nullopt;
  }
  if (from.config_path.empty()) {
    LedgerMeta meta = read_meta(conn.value());
    s.currency = meta.currency;
    auto tz = TimeZone::load(meta.timezone);
    if (tz.ok()) s.tz = tz.value();
  }
  sqlite3_close(conn.value());
  return s;
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
  return print_or_fail(render_daily_report(*s, q, system_now_ms()));
}

int export_focus(const LedgerSource& from, const std::string& first_day,
                 const std::string& last_day) {
  auto s = report_settings(from);
  if (!s) return 1;
  return print_or_fail(render_focus_export(*s, first_day, last_day));
}

int backup(const LedgerSource& from, const std::string& out) {
  auto s = report_settings(from);
  if (!s) return 1;
  Status st = backup_database(s->db_path, out);
  if (!st.ok()) {
    std::fprintf(stderr, "tollgate backup: %s\n", st.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "backed up %s to %s (integrity_check ok)\n", s->db_path.c_str(),
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

#include "daemon/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "daemon/finance/reports.h"
#include "daemon/logging.h"
#include "daemon/offline_commands.h"
#include "daemon/serve.h"
#include "daemon/wait_command.h"
#include "storage/sqlite_util.h"

namespace tollgate {

namespace {

// An empty FILE or DATE is a slip (an unset shell variable), never a wish for the default: with
// `--db ""` SQLite would open an empty temporary database and report nothing, successfully.
const CLI::Validator kNotEmpty(
    [](std::string& value) { return value.empty() ? std::string("must not be empty") : ""; }, "",
    "not empty");

// A subcommand: `summary` lists it in its parent's help and heads its own; `details` follow its
// flags. CLI11 2.1 does not wrap help text, so both come wrapped by hand under 80 columns.
CLI::App* add_command(CLI::App* parent, const std::string& name, const std::string& summary,
                      const std::string& details = "") {
  CLI::App* cmd = parent->add_subcommand(name, summary);
  // Fallthrough makes the global flags work after the command; say so where users look.
  cmd->footer((details.empty() ? "" : details + "\n\n") +
              "--log-format and --log-level (tollgate --help) work before or after the command.");
  return cmd;
}

CLI::Option* add_file(CLI::App* cmd, const std::string& name, std::string& into,
                      const std::string& description) {
  return cmd->add_option(name, into, description)->type_name("FILE")->check(kNotEmpty);
}

// --config FILE | --db FILE..., exactly one of the two: an option group requiring one option
// names both flags in its error, whether neither or both are given. `merges`: --db may be given
// several times (one ledger per instance or region), merged exactly.
void add_ledger_source(CLI::App* cmd, LedgerSource& from, bool merges) {
  CLI::Option_group* ledger = cmd->add_option_group("ledger", "The ledger to read");
  add_file(ledger, "--config", from.config_path,
           "The ledger this configuration names, in its currency and time zone");
  CLI::Option* db =
      ledger->add_option("--db", from.db_paths,
                         merges ? "This ledger file, in the currency and time zone the daemon\n"
                                  "recorded; repeat it to merge the ledgers of several instances\n"
                                  "or regions exactly (same currency and zone)"
                                : "This ledger file, in the currency and time zone the daemon recorded")
          ->type_name("FILE")
          ->check(kNotEmpty);
  if (!merges) db->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  ledger->require_option(1);
}

}  // namespace

int run_cli(int argc, char** argv) {
  configure_sqlite();
  CLI::App app("Tollgate, a FinOps daemon for AI inference: exact cost ledger, metrics, budgets.",
               "tollgate");
  // Set before the subcommands exist, so they inherit both: an option a command does not know
  // goes up to its parent (the global flags work after the command), and a command takes at most
  // one subcommand (`tollgate check serve` is an error, not two commands).
  app.fallthrough();
  app.require_subcommand(0, 1);
  // CLI11's message names the offending flag; the prefix says which program is speaking.
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    return "tollgate: " + CLI::FailureMessage::simple(a, e);
  });
  app.set_version_flag("--version", "tollgate " TOLLGATE_VERSION, "Print the version and exit");
  app.footer("Run tollgate COMMAND --help for a command's flags.");

  std::string log_format = "text", log_level = "info";
  app.add_option("--log-format", log_format,
                 "Log lines on stderr as text, or as JSON lines for log shippers")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "Least severe log lines to print")
      ->type_name("LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();

  std::string config_path;  // serve and check
  CLI::App* serve_cmd = add_command(
      &app, "serve", "Run the daemon in the foreground",
      "Logs go to stderr. SIGTERM or SIGINT drains (stops accepting, commits every\n"
      "acknowledged event, closes the ledger) and exits 0; SIGHUP reloads prices and\n"
      "policies. A startup failure exits 1 with a one-line reason (check lists them all).");
  add_file(serve_cmd, "--config", config_path, "Main configuration file (YAML)")->required();
  CLI::App* check_cmd =
      add_command(&app, "check", "Validate the configuration and the files it names",
                  "Reads the main file and the prices and policies files it names, without\n"
                  "starting anything. Exits 0 with a summary, or 1 with one line per error:\n"
                  "FILE:LINE:COL: message.");
  add_file(check_cmd, "--config", config_path, "Main configuration file (YAML)")->required();

  CLI::App* report_cmd = add_command(&app, "report", "Reports read from the ledger");
  CLI::App* daily_cmd = add_command(
      report_cmd, "daily", "The daily unit-economics report",
      "Read straight from the ledger, so it works beside a running daemon. Money is\n"
      "exact: decimal text rounded once to 9 decimals, and the total is the sum of the\n"
      "rows to the nano. csv and json print exactly the HTTP API's bodies. A CSV cell\n"
      "that starts with = + - @ (and is not a plain number) gets a leading apostrophe so\n"
      "a spreadsheet shows it instead of running it.\n"
      "DIMS: comma-separated, among feature, team, customer, model, provider, region,\n"
      "priority and tag:KEY.");
  LedgerSource report_from;
  add_ledger_source(daily_cmd, report_from, true);
  std::string date, group_by, format = "table";
  CLI::Option* date_opt =
      daily_cmd
          ->add_option("--date", date,
                       "Day to report, in the reporting time zone (default: yesterday)")
          ->type_name("YYYY-MM-DD")
          ->check(kNotEmpty);
  CLI::Option* group_by_opt =
      daily_cmd->add_option("--group-by", group_by, "One row per group of these (default: feature)")
          ->type_name("DIMS")
          ->check(kNotEmpty);
  daily_cmd->add_option("--format", format, "An aligned table for people, or csv or json")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();

  CLI::App* export_cmd = add_command(&app, "export", "Exports of the ledger for FinOps tools");
  CLI::App* focus_cmd =
      add_command(export_cmd, "focus", "FOCUS 1.2 CSV of the ledger's charges, on stdout",
                  "Rows are charges as a cloud bill has them: one per local day, provider, model,\n"
                  "region, feature, team, SKU component (input, cached input, cache write,\n"
                  "output, reasoning tokens; requests; GPU hours; egress GB) and price (tier,\n"
                  "batch, price version). BilledCost per day adds up to the ledger to the nano;\n"
                  "ListUnitPrice x PricingQuantity = ListCost exactly. At most 366 days at a time.");
  LedgerSource export_from;
  add_ledger_source(focus_cmd, export_from, true);
  std::string first_day, last_day;
  focus_cmd->add_option("--from", first_day, "First day, in the reporting time zone")
      ->type_name("DATE")
      ->check(kNotEmpty)
      ->required();
  focus_cmd->add_option("--to", last_day, "Last day, inclusive")
      ->type_name("DATE")
      ->check(kNotEmpty)
      ->required();

  CLI::App* backup_cmd =
      add_command(&app, "backup", "Consistent copy of the ledger, safe while the daemon runs",
                  "One read transaction through SQLite's backup API: the copy holds every event\n"
                  "committed before it started. It is checked with PRAGMA integrity_check, then\n"
                  "renamed into place.");
  LedgerSource backup_from;
  add_ledger_source(backup_cmd, backup_from, false);
  std::string backup_out;
  add_file(backup_cmd, "--out", backup_out, "Where to write the copy")->required();

  CLI::App* prices_cmd = add_command(&app, "prices", "Price file tools");
  CLI::App* import_cmd = add_command(
      prices_cmd, "import", "Convert LiteLLM's price list into a Tollgate prices file",
      "Keeps input, output, cache read and write, reasoning and per-request prices,\n"
      "context-length tiers and batch prices (one discount when every batch price is the\n"
      "same percentage off, else a batch: price per component). Prices stay exact\n"
      "decimals; float noise past 9 decimals per 1M tokens is rounded away. Entries it\n"
      "cannot represent are skipped and counted per reason on stderr, and a model listed\n"
      "twice with different prices is named there. Provider names stay LiteLLM's\n"
      "(dashscope, not alibaba): edit them to match what your events say.");
  std::string litellm_path, prices_out;
  add_file(import_cmd, "--litellm", litellm_path, "LiteLLM's model_prices_and_context_window.json")
      ->required();
  add_file(import_cmd, "--out", prices_out, "Write the prices file here instead of stdout");

  CLI::App* wait_cmd = add_command(
      &app, "wait", "Ask for admission, wait out throttles, then run COMMAND",
      "Usage: tollgate wait --feature F [--priority batch] [--estimated-cost X] -- COMMAND...\n"
      "While throttled it prints why and asks again after Retry-After (at most every 5 s).\n"
      "COMMAND runs with TOLLGATE_RESERVATION_ID (when --estimated-cost reserved) and\n"
      "TOLLGATE_MODEL (when a budget reroutes) in its environment; usage it posts with that\n"
      "reservation_id settles the reservation, and what is left is released when it ends.\n"
      "Exit: COMMAND's own code (128+N if signal N ended it); 75 when --timeout passed while\n"
      "throttled; 69 when Tollgate cannot be reached or refuses; 127 when COMMAND cannot run.");
  WaitOptions wait;
  wait_cmd->add_option("--url", wait.url, "The daemon (default http://127.0.0.1:9470)");
  wait_cmd->add_option("--token", wait.token,
                       "Bearer token with the admit role (default: $TOLLGATE_TOKEN)")
      ->envname("TOLLGATE_TOKEN");
  wait_cmd->add_option("--feature", wait.feature, "The feature the job belongs to")
      ->required()
      ->check(kNotEmpty);
  wait_cmd->add_option("--priority", wait.priority, "critical, standard or batch (default batch)")
      ->check(CLI::IsMember({"critical", "standard", "batch"}));
  for (auto [flag, into] : {std::pair{"--team", &wait.team}, {"--customer", &wait.customer},
                            {"--model", &wait.model}, {"--provider", &wait.provider},
                            {"--region", &wait.region}})
    wait_cmd->add_option(flag, *into, std::string("The job's ") + (flag + 2) + ", for budgets on it");
  wait_cmd->add_option("--estimated-cost", wait.estimated_cost,
                       "Reserve this much (reporting currency) for the job's budgets");
  wait_cmd->add_option("--timeout", wait.timeout_s, "Give up after waiting this many seconds")
      ->check(CLI::PositiveNumber);
  wait_cmd->add_option("command", wait.command, "The command to run, after --")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints help and the version on stdout (exit 0) and errors on stderr. Its exit codes
    // for errors are 100 and up; every usage error is 1 here (CONTRACT §1).
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (!setup_logging(log_format, log_level)) {  // IsMember let only known values through
    std::fprintf(stderr, "tollgate: cannot set up logging (%s, %s)\n", log_format.c_str(),
                 log_level.c_str());
    return 1;
  }

  if (*serve_cmd) return serve(config_path);
  if (*check_cmd) return check(config_path);
  if (*daily_cmd) {
    ReportQuery q;
    if (*date_opt) q.date = date;
    if (*group_by_opt) q.group_by = group_by;
    q.format = format;
    return report_daily(report_from, q);
  }
  if (*focus_cmd) return export_focus(export_from, first_day, last_day);
  if (*backup_cmd) return backup(backup_from, backup_out);
  if (*import_cmd) return prices_import(litellm_path, prices_out);
  if (*wait_cmd) return wait_and_run(wait);
  // No command, or a group without one ("tollgate report"): the usage of what was given, on
  // stderr since it answers a mistake. help() follows the subcommands given.
  std::cerr << app.help();
  return 1;
}

}  // namespace tollgate

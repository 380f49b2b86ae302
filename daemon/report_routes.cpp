// The finance routes of the Api (CONTRACT §4.6, §4.7, GET /): reports and the FOCUS export run on
// the worker pool with their own read-only connections; the page is served from the binary.

#include "daemon/api.h"
#include "daemon/http/query.h"
#include "metering/json_text.h"
#include "daemon/finance/reports.h"
#include "daemon/web_assets.h"

namespace tollgate {

namespace {

HttpResponse from_result(const Result<Rendered>& r) {
  if (r.ok()) return {200, r->content_type, r->body, {}};
  return error_response(r.status());
}

ReportSettings settings(const Config& c) {
  return {{c.storage.path}, c.reporting.currency, c.reporting.tz, c.limits.max_report_rows};
}

}  // namespace

void Api::daily_report(const HttpRequest& req, Respond respond) {
  ReportQuery q;
  for (auto& [k, v] : parse_query(req.query)) {
    if (k == "date")
      q.date = v;
    else if (k == "group_by")
      q.group_by = v;
    else if (k == "format")
      q.format = v;
  }
  if (q.format != "json" && q.format != "csv")  // "table" is for the terminal only
    return respond(error_response(Code::kInvalidFormat, "format must be json or csv, got \"" + q.format + "\""));
  const ReportSettings s = settings(config_);
  const EpochMs now = clock_();
  workers_.post([this, s, q, now, respond = std::move(respond)]() mutable {
    auto rendered = render_daily_report(s, q, now);
    if (!rendered.ok() && rendered.status().code() == Code::kTooManyRows)
      metrics_.record_limit_hit("max_report_rows");
    HttpResponse r = from_result(rendered);
    post_([respond = std::move(respond), r = std::move(r)]() mutable { respond(std::move(r)); });
  });
}

void Api::focus_export(const HttpRequest& req, Respond respond) {
  std::string from, to;
  for (auto& [k, v] : parse_query(req.query)) {
    if (k == "from")
      from = v;
    else if (k == "to")
      to = v;
  }
  if (from.empty() || to.empty())
    return respond(error_response(Code::kMissingField, "from and to are required (YYYY-MM-DD, to inclusive)"));
  const ReportSettings s = settings(config_);
  workers_.post([this, s, from, to, respond = std::move(respond)]() mutable {
    auto rendered = render_focus_export(s, from, to);
    if (!rendered.ok() && rendered.status().code() == Code::kTooManyRows)
      metrics_.record_limit_hit("max_report_rows");
    HttpResponse r = from_result(rendered);
    if (r.status == 200)
      r.headers.emplace_back("Content-Disposition",
                             "attachment; filename=\"focus-" + from + "-" + to + ".csv\"");
    post_([respond = std::move(respond), r = std::move(r)]() mutable { respond(std::move(r)); });
  });
}

void Api::page(const HttpRequest&, Respond respond) {
  HttpResponse r{200, "text/html; charset=utf-8", std::string(kIndexHtml), {}};
  // Everything the page needs is in it: no request may leave the machine.
  r.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
      "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'");
  r.headers.emplace_back("Cache-Control", "no-cache");
  respond(std::move(r));
}

}  // namespace tollgate

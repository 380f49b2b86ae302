// The budget routes of the Api (CONTRACT §4.2–§4.5): admission, throttles, budgets, overrides,
// audit. Admission reads the published ThrottleTable; nothing here touches SQLite on an I/O
// thread (overrides are committed by the ledger's writer, audit reads run on the worker pool).

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cctype>

#include "daemon/api.h"
#include "daemon/http/query.h"
#include "metering/json_text.h"
#include "metering/text_rules.h"
#include "storage/policy_store.h"

namespace tollgate {

namespace json = boost::json;

namespace {

constexpr size_t kMaxString = 128;

HttpResponse json_response(int status, const json::value& body) {
  return {status, "application/json", serialize_json(body), {}};
}

// One admission field, borrowed from where it was read: a JSON body's member (`json`), or a
// query parameter or header, which is always a string (`json` null, `text`).
struct AdmitField {
  std::string_view key;
  const json::value* json = nullptr;
  std::string_view text;
};

// Fills `d` and `estimate` from the admission fields; an error response when invalid.
std::optional<HttpResponse> read_admit_fields(const std::vector<AdmitField>& fields, Dimensions& d,
                                              std::optional<Money>& estimate, bool allow_estimate,
                                              Money max_event_cost) {
  static const json::value kText = json::string();  // what a query or header value is: a string
  bool have_feature = false, have_priority = false;
  for (const AdmitField& field : fields) {
    const std::string_view k = field.key;
    const json::value& v = field.json ? *field.json : kText;
    auto bad = [k](const std::string& what) {
      return error_response(Code::kInvalidAdmission, "field \"" + std::string(k) + "\" " + what);
    };
    std::string text;
    if (v.is_string()) {
      if (field.json)
        text.assign(v.get_string().data(), v.get_string().size());
      else
        text.assign(field.text);
      if (text.size() > kMaxString) return bad("is longer than 128 bytes");
      // A GET's query string may decode to anything: these become label values and keys.
      if (Status st = check_text(k, text); !st.ok()) return error_response(st);
    }
    if (Status st = check_text(k, k); !st.ok()) return error_response(st);
    if (k == "estimated_cost") {
      if (!allow_estimate)
        return bad("is only accepted by POST /v1/admit (a GET makes no reservation)");
      std::optional<Money> m;
      if (v.is_double())
        m = Money::from_double(v.get_double());
      else if (v.is_int64())
        m = Money::parse(std::to_string(v.get_int64()));
      else if (v.is_uint64())
        m = Money::parse(std::to_string(v.get_uint64()));
      else if (v.is_string())
        m = Money::parse(text);
      else if (v.is_null())
        continue;
      if (!m || m->nanos() < 0) return bad("must be a non-negative number with at most 9 decimals");
      if (*m > max_event_cost)
        return error_response(Code::kCostOutOfRange,
                              "field \"estimated_cost\" is " + m->to_string() +
                                  ", above limits.max_event_cost (" + max_event_cost.to_string() + ")");
      estimate = m;
      continue;
    }
    if (k == "tags") {
      if (v.is_null()) continue;
      if (!v.is_object()) return bad("must be an object of strings");
      for (const auto& kv : v.get_object()) {
        if (!kv.value().is_string()) return bad("must be an object of strings");
        for (std::string_view t : {std::string_view(kv.key()), std::string_view(kv.value().get_string())})
          if (Status st = check_text("tags", t); !st.ok()) return error_response(st);
        d.tags.emplace_back(std::string(kv.key()), std::string(kv.value().get_string()));
      }
      continue;
    }
    if (auto tag = tag_key(k); tag && v.is_string()) {
      d.tags.emplace_back(std::string(*tag), text);
      continue;
    }
    const Dimension* dim = find_dimension(k);
    std::string* target = dim && dim->field ? &(d.*dim->field) : nullptr;
    if (k == "priority") {
      auto p = v.is_string() ? parse_priority(text) : std::nullopt;
      if (!p) return bad("must be critical, standard or batch");
      d.priority = *p;
      have_priority = true;
    } else if (target) {
      if (v.is_null()) continue;
      if (!v.is_string()) return bad("must be a string");
      *target = text;
      have_feature = have_feature || k == "feature";
    }
  }
  if (!have_feature || d.feature.empty())
    return error_response(Code::kMissingField, "field \"feature\" is required");
  if (!have_priority)
    return error_response(Code::kMissingField, "field \"priority\" is required (critical, standard or batch)");
  std::sort(d.tags.begin(), d.tags.end());
  return std::nullopt;
}

json::array priorities_json(unsigned mask) {
  json::array a;
  for (Priority p : {Priority::kCritical, Priority::kStandard, Priority::kBatch})
    if (mask & priority_bit(p)) a.emplace_back(std::string(to_string(p)));
  return a;
}

json::value override_json(const Override& o) {
  return json::object{{"id", o.id},
                      {"budget", o.budget},
                      {"action", o.action},
                      {"until", format_utc_ms(o.until)},
                      {"reason", o.reason},
                      {"actor", o.actor},
                      {"created", format_utc_ms(o.created)}};
}

}  // namespace

void Api::admit(const HttpRequest& req, Respond respond) {
  std::vector<AdmitField> fields;
  std::vector<std::pair<std::string, std::string>> query;  // what `fields` borrow from
  json::value body;
  if (req.method == "GET") {
    query = parse_query(req.query);
    fields.reserve(query.size());
    for (const auto& [k, v] : query) fields.push_back({k, nullptr, v});
  } else {
    boost::system::error_code ec;
    body = json::parse(req.body, ec);
    if (ec || !body.is_object())
      return respond(error_response(Code::kInvalidJson, "the body must be a JSON object with feature and priority"));
    for (const auto& kv : body.get_object()) fields.push_back({kv.key(), &kv.value(), {}});
  }
  Dimensions d;
  std::optional<Money> estimate;
  if (auto bad = read_admit_fields(fields, d, estimate, req.method == "POST",
                                   config_.limits.max_event_cost))
    return respond(std::move(*bad));
  if (auto full = reservations_full(estimate)) return respond(std::move(*full));

  const AdmitDecision decision = decide(d, estimate);
  HttpResponse r;
  if (decision.decision == Decision::kAllow && decision.reservation_id.empty()) {
    r.body = R"({"decision":"allow"})";  // the common answer, without building JSON
    return respond(std::move(r));
  }
  // Written directly (a throttle is a tenth of the answers in a hot budget): the same fields in
  // the same order as the Boost.JSON object before; strings as JsonWriter writes them (bytes
  // that are not UTF-8 as U+FFFD, U+2028/2029 escaped).
  JsonWriter w;
  w.begin_object();
  if (decision.decision == Decision::kThrottle) {
    w.key("decision").string("throttle").key("budget").string(decision.budget);
    w.key("action").string(decision.action).key("reason").string(decision.reason);
    w.key("retry_after_s").number(decision.retry_after_s);
    r.status = 429;
    r.headers.emplace_back("Retry-After", std::to_string(decision.retry_after_s));
  } else if (decision.decision == Decision::kReroute) {
    w.key("decision").string("reroute").key("model").string(decision.model);
    w.key("budget").string(decision.budget);
  } else {
    w.key("decision").string("allow");
  }
  if (!decision.reservation_id.empty()) w.key("reservation_id").string(decision.reservation_id);
  w.end_object();
  r.body = w.take();
  respond(std::move(r));
}

// 503 overloaded when an admission would open a reservation past limits.max_open_reservations.
std::optional<HttpResponse> Api::reservations_full(const std::optional<Money>& estimate) {
  if (!estimate || budgets_.engine().open_reservations() < config_.limits.max_open_reservations)
    return std::nullopt;
  metrics_.record_limit_hit("max_open_reservations");
  auto r = error_response(Code::kOverloaded,
                          "limits.max_open_reservations (" +
                              std::to_string(config_.limits.max_open_reservations) +
                              ") reservations are open; report usage or release reservations "
                              "(DELETE /v1/reservations/{id}), or retry once they expire");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

AdmitDecision Api::decide(const Dimensions& d, std::optional<Money> estimate) {
  AdmitDecision decision = budgets_.engine().admit(d, estimate);
  budgets_.count_decision(d.feature, d.priority, decision.decision);
  if (decision.dry_run) {
    spdlog::debug("dry run: would {} {} {} ({})", to_string(decision.decision), d.feature,
                  to_string(d.priority), decision.reason);
    decision.decision = Decision::kAllow;
  }
  return decision;
}

void Api::authz(const HttpRequest& req, Respond respond) {
  // nginx's auth_request denies on 401/403 only (anything else is its own error), so a proxy may
  // ask for the status it needs; 429 by default (Envoy returns it to the client as it is).
  int deny_status = 429;
  for (const auto& [k, v] : parse_query(req.query)) {
    if (k != "deny_status") continue;
    deny_status = v.size() == 3 && v[0] == '4' && std::isdigit(static_cast<unsigned char>(v[1])) &&
                          std::isdigit(static_cast<unsigned char>(v[2]))
                      ? std::stoi(v)
                      : 0;
    if (deny_status == 0)
      return respond(error_response(Code::kInvalidAdmission,
                                    "deny_status must be a 4xx status like 403 or 429"));
  }
  std::vector<AdmitField> fields;
  for (const auto& [field, header] : config_.authz.headers) {
    std::string_view value = req.header(header);
    if (!value.empty()) fields.push_back({field, nullptr, value});
  }
  Dimensions d;
  std::optional<Money> estimate;
  if (auto bad = read_admit_fields(fields, d, estimate, /*allow_estimate=*/true,
                                   config_.limits.max_event_cost))
    return respond(std::move(*bad));
  if (auto full = reservations_full(estimate)) return respond(std::move(*full));
  const AdmitDecision decision = decide(d, estimate);
  HttpResponse r;
  r.content_type = "text/plain; charset=utf-8";
  r.headers.emplace_back("X-Tollgate-Decision", std::string(to_string(decision.decision)));
  if (!decision.reservation_id.empty())
    r.headers.emplace_back("X-Tollgate-Reservation-Id", decision.reservation_id);
  if (decision.decision == Decision::kThrottle) {
    r.status = deny_status;
    r.headers.emplace_back("Retry-After", std::to_string(decision.retry_after_s));
    r.headers.emplace_back("X-Tollgate-Budget", decision.budget);
    r.body = "throttled by budget " + decision.budget + ": " + decision.reason + "\n";
  } else if (decision.decision == Decision::kReroute) {
    r.headers.emplace_back("X-Tollgate-Model", decision.model);
    r.headers.emplace_back("X-Tollgate-Budget", decision.budget);
  }
  respond(std::move(r));
}

void Api::cancel_reservation(const HttpRequest& req, Respond respond) {
  const std::string id = req.path.substr(std::string("/v1/reservations/").size());
  if (!budgets_.engine().cancel_reservation(id))
    return respond(error_response(Code::kUnknownReservation,
                                  "no open reservation \"" + id + "\" (settled or expired)"));
  respond({204, "application/json", "", {}});
}

void Api::throttles(const HttpRequest& req, Respond respond) {
  auto table = budgets_.engine().table();
  const std::string etag = "\"" + std::to_string(table->generation) + "\"";
  if (req.if_none_match == etag) return respond({304, "application/json", "", {{"ETag", etag}}});
  json::array list;
  for (const ActiveThrottle& t : table->throttles) {
    json::object o{
        {"budget", t.budget},
        {"action", std::string(to_string(t.action))},
        {"priorities", priorities_json(t.priorities)},
        {"rps", t.action == Action::kLimitRps ? json::value(t.rps) : json::value(nullptr)},
        {"model", t.model.empty() ? json::value(nullptr) : json::value(t.model)},
        {"since", format_utc_ms(t.since)},
        {"reason", t.reason}};
    list.push_back(std::move(o));
  }
  json::object body{{"generation", table->generation}, {"throttles", std::move(list)}};
  if (table->dry_run) body["dry_run"] = true;
  HttpResponse r = json_response(200, body);
  r.headers.emplace_back("ETag", etag);
  respond(std::move(r));
}

void Api::budgets(const HttpRequest&, Respond respond) {
  JsonWriter w;
  w.begin_object().key("budgets").begin_array();
  for (const BudgetStatus& b : budgets_.engine().status()) {
    w.begin_object();
    w.key("name").string(b.name);
    w.key("period").string(to_string(b.period));
    w.key("period_start").string(format_utc_ms(b.period_start));
    w.key("period_end").string(format_utc_ms(b.period_end));
    w.key("limit").money(b.limit);
    w.key("spend").money(b.spend);
    w.key("reserved").money(b.reserved);
    w.key("utilization").value(b.utilization);
    w.key("forecast").money(b.forecast);
    w.key("state").string(b.state);
    w.key("active_rules").begin_array();
    for (const auto& r : b.active_rules) w.string(r);
    w.end_array();
    w.key("burn_rates").begin_object();
    for (const auto& [window, rate] : b.burn_rates) w.key(window).value(rate);
    w.end_object();
    w.key("override").value(b.override_ ? override_json(*b.override_) : json::value(nullptr));
    w.key("scope").string(to_string(b.scope));
    if (b.scope == Scope::kGlobal) {
      // spend above is every instance's; these are this instance's part of it.
      w.key("local_spend").money(b.local_spend);
      w.key("grant").money(b.grant);
      w.key("coordination").string(b.coordinated ? "ok" : "degraded");
    }
    w.end_object();
  }
  w.end_array().key("currency").string(config_.reporting.currency).end_object();
  respond({200, "application/json", w.take(), {}});
}

// Override answers come from the ledger's writer; they are posted back to an I/O thread.
void Api::list_overrides(const HttpRequest&, Respond respond) {
  json::array list;
  for (const Override& o : budgets_.engine().overrides()) list.push_back(override_json(o));
  respond(json_response(200, json::object{{"overrides", std::move(list)}}));
}

void Api::delete_override(const HttpRequest& req, Respond respond) {
  auto reply = [this, respond](HttpResponse r) mutable {
    post_([respond = std::move(respond), r = std::move(r)]() mutable { respond(std::move(r)); });
  };
  const std::string id = req.path.substr(std::string("/v1/overrides/").size());
  budgets_.delete_override(id, actor_of(req), [reply, id](Result<bool> r) mutable {
    if (!r.ok()) return reply(error_response(r.status()));
    if (!r.value())
      return reply(
          error_response(Code::kUnknownOverride, "no active override with id \"" + id + "\""));
    reply({204, "application/json", "", {}});
  });
}

void Api::create_override(const HttpRequest& req, Respond respond) {
  auto reply = [this, respond](HttpResponse r) mutable {
    post_([respond = std::move(respond), r = std::move(r)]() mutable { respond(std::move(r)); });
  };
  boost::system::error_code ec;
  json::value body = json::parse(req.body, ec);
  if (ec || !body.is_object())
    return respond(
        error_response(Code::kInvalidJson, "send {\"budget\", \"action\": \"suspend\", \"duration_s\", \"reason\"}"));
  const json::object& o = body.get_object();
  auto str = [&](const char* k) -> std::string {
    const json::value* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : "";
  };
  const std::string budget = str("budget"), action = str("action"), reason = str("reason");
  const json::value* dur = o.if_contains("duration_s");
  if (budget.empty())
    return respond(error_response(Code::kMissingField, "field \"budget\" is required"));
  if (action != "suspend")
    return respond(error_response(Code::kInvalidOverride, "field \"action\" must be \"suspend\""));
  if (reason.empty())
    return respond(error_response(Code::kMissingField, "field \"reason\" is required: say why the budget is overridden"));
  // The reason is echoed by /v1/overrides and the audit log: same string rules as usage events.
  for (auto [field, text] : {std::pair{"budget", &budget}, {"reason", &reason}})
    if (Status st = check_text(field, *text); !st.ok()) return respond(error_response(st));
  if (reason.size() > 1024)
    return respond(error_response(Code::kInvalidOverride, "field \"reason\" is longer than 1024 bytes"));
  if (!dur || !dur->is_int64() || dur->get_int64() <= 0 || dur->get_int64() > 30 * 86400)
    return respond(error_response(Code::kInvalidOverride, "field \"duration_s\" must be a whole number of seconds from 1 to 2592000 (30 days)"));
  budgets_.create_override(
      budget, dur->get_int64(), reason, actor_of(req), [reply](Result<Override> r) mutable {
        if (!r.ok()) {
          return reply(error_response(r.status()));
        }
        reply(json_response(201, json::object{{"id", r->id}, {"until", format_utc_ms(r->until)}}));
      });
}

void Api::audit(const HttpRequest& req, Respond respond) {
  EpochMs since = clock_() - 86'400'000;
  for (const auto& [k, v] : parse_query(req.query)) {
    if (k != "since") continue;
    auto ts = parse_rfc3339(v);
    if (!ts)
      return respond(error_response(Code::kInvalidSince, "since must be RFC 3339, like 2026-11-21T00:00:00Z"));
    since = *ts;
  }
  workers_.post([this, since, respond = std::move(respond)]() mutable {
    HttpResponse r;
    auto db = open_read_only(config_.storage.path);
    if (!db.ok()) {
      r = error_response(Code::kStorageUnavailable, db.status().message());
    } else {
      auto rows = read_audit(db.value(), since, 10000);
      sqlite3_close(db.value());
      if (!rows.ok()) {
        r = error_response(Code::kStorageUnavailable, rows.status().message());
      } else {
        json::array entries;
        for (const AuditEntry& a : rows.value())
          entries.push_back(json::object{{"ts", format_utc_ms(a.ts)},
                                         {"kind", a.kind},
                                         {"budget", a.budget},
                                         {"actor", a.actor},
                                         {"detail", a.detail}});
        r = json_response(200, json::object{{"entries", std::move(entries)}});
      }
    }
    post_([respond = std::move(respond), r = std::move(r)]() mutable { respond(std::move(r)); });
  });
}

}  // namespace tollgate

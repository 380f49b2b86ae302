#include "daemon/config/policies_file.h"

#include <regex>
#include <set>

#include "daemon/config/yaml_reader.h"
#include "metering/dimensions.h"

namespace tollgate {

namespace {

constexpr int64_t kMaxBurnWindowMs = 7LL * 86'400'000;

bool valid_name(const std::string& s) {
  static const std::regex kName("[a-z0-9_.-]{1,64}");
  return std::regex_match(s, kName);
}

void read_match(YamlReader& r, const YAML::Node& n, Budget& b) {
  if (!n || n.IsNull()) return;
  if (!n.IsMap()) {
    r.error(n, "match must be a mapping of field: value or [values]");
    return;
  }
  for (const auto& kv : n) {
    Matcher m;
    m.field = kv.first.Scalar();
    if (!find_dimension(m.field) && !tag_key(m.field)) {
      r.error(kv.first, "unknown match field \"" + m.field + "\" (" + dimension_names() +
                            ", tag:<key>)");
      continue;
    }
    std::vector<YAML::Node> values;
    if (kv.second.IsSequence()) {
      for (const auto& v : kv.second) values.push_back(v);
    } else {
      values.push_back(kv.second);
    }
    for (const auto& v : values) {
      if (!v.IsScalar() || v.Scalar().empty()) {
        r.error(v, "match values must be non-empty strings");
        continue;
      }
      const std::string& p = v.Scalar();
      if (p.find('*') != std::string::npos && p.find('*') != p.size() - 1) {
        r.error(v, "\"*\" is allowed only at the end of a match value, got \"" + p + "\"");
        continue;
      }
      if (m.field == "priority" && p.back() != '*' && !parse_priority(p)) {
        r.error(v, "priority must be critical, standard or batch, got \"" + p + "\"");
        continue;
      }
      m.patterns.push_back(p);
    }
    if (!m.patterns.empty()) {
      m.index();
      b.match.push_back(std::move(m));
    }
  }
}

void read_rule(YamlReader& r, const YAML::Node& n, Budget& b) {
  if (!r.expect_map(n, "a rule",
                    {"at_percent", "burn_rate", "action", "priorities", "rps", "model"}))
    return;
  Rule rule;
  const std::string action = r.string(n, "action").value_or("");
  if (action == "alert")
    rule.action = Action::kAlert;
  else if (action == "block")
    rule.action = Action::kBlock;
  else if (action == "limit_rps")
    rule.action = Action::kLimitRps;
  else if (action == "reroute")
    rule.action = Action::kReroute;
  else {
    r.error(n["action"] ? n["action"] : n,
            "action must be alert, block, limit_rps or reroute, got \"" + action + "\"");
    return;
  }
  const bool has_pct = n["at_percent"] && !n["at_percent"].IsNull();
  const bool has_burn = n["burn_rate"] && !n["burn_rate"].IsNull();
  if (has_pct == has_burn) {
    r.error(n, "a rule needs exactly one of at_percent or burn_rate");
    return;
  }
  if (has_pct) {
    auto pct = r.decimal(n, "at_percent");
    if (!pct) return;
    if (pct->nanos() <= 0) {
      r.error(n["at_percent"], "at_percent must be positive");
      return;
    }
    rule.at_nano_percent = pct->nanos();
  } else {
    const YAML::Node& bn = n["burn_rate"];
    if (!r.expect_map(bn, "burn_rate", {"long", "short", "factor"})) return;
    BurnRate burn;
    burn.long_text = r.string(bn, "long").value_or("");
    burn.short_text = r.string(bn, "short").value_or("");
    auto lw = parse_duration(burn.long_text), sw = parse_duration(burn.short_text);
    auto factor = r.decimal(bn, "factor");
    if (!lw || !sw || *lw > kMaxBurnWindowMs || *sw > kMaxBurnWindowMs) {
      r.error(bn, "burn_rate long and short must be durations like 1h, 5m, 30s or 1d, at most 7d");
      return;
    }
    if (*sw >= *lw) {
      r.error(bn["short"], "burn_rate short window must be shorter than the long one");
      return;
    }
    if (!factor || factor->nanos() <= 0) {
      if (factor)
        r.error(bn["factor"], "burn_rate factor must be positive");
      else if (!bn["factor"])
        r.error(bn, "burn_rate factor is required");
      return;
    }
    burn.long_ms = *lw;
    burn.short_ms = *sw;
    burn.factor = factor->to_double();
    rule.burn = burn;
  }
  if (const YAML::Node& pr = n["priorities"]; pr && !pr.IsNull()) {
    if (!pr.IsSequence()) {
      r.error(pr, "priorities must be a list of critical, standard, batch");
    } else {
      for (const auto& p : pr) {
        auto prio = parse_priority(p.Scalar());
        if (!prio)
          r.error(p, "unknown priority \"" + p.Scalar() + "\" (critical, standard, batch)");
        else
          rule.priorities |= priority_bit(*prio);
      }
    }
  } else if (rule.action != Action::kAlert) {
    // Nothing is throttled implicitly: an enforcing rule names whom it affects.
    r.error(n, "a " + action + " rule must list the priorities it affects");
  }
  if (rule.action == Action::kLimitRps) {
    auto rps = r.decimal(n, "rps");
    if (!rps || rps->nanos() <= 0) {
      r.error(n["rps"] ? n["rps"] : n, "limit_rps needs rps, a positive number");
      return;
    }
    rule.rps = rps->to_double();
  } else if (n["rps"]) {
    r.error(n["rps"], "rps applies only to limit_rps rules");
  }
  if (rule.action == Action::kReroute) {
    rule.model = r.string(n, "model").value_or("");
    if (rule.model.empty()) {
      r.error(n, "reroute needs model, the cheaper model to suggest");
      return;
    }
  } else if (n["model"]) {
    r.error(n["model"], "model applies only to reroute rules");
  }
  b.rules.push_back(std::move(rule));
}

}  // namespace

std::shared_ptr<const PolicySet> load_policies(const std::string& path, LoadErrors& errors,
                                               bool coordinated) {
  auto set = std::make_shared<PolicySet>();
  YamlReader r(path, errors);
  auto loaded = r.load();
  if (!loaded) return set;
  const YAML::Node& root = *loaded;
  if (!r.expect_map(root, "the policies file", {"budgets", "dry_run", "reservation_ttl_s"}))
    return set;
  if (auto v = r.boolean(root, "dry_run")) set->dry_run = *v;
  if (auto v = r.integer(root, "reservation_ttl_s", 1, 86400)) set->reservation_ttl_ms = *v * 1000;
  const YAML::Node& budgets = root["budgets"];
  if (!budgets || budgets.IsNull()) return set;
  if (!budgets.IsSequence()) {
    r.error(budgets, "budgets must be a list");
    return set;
  }
  std::set<std::string> names;
  for (const auto& bn : budgets) {
    if (!r.expect_map(bn, "a budget",
                      {"name", "match", "period", "limit", "rules", "scope", "on_coordination_loss"}))
      continue;
    Budget b;
    b.name = r.string(bn, "name").value_or("");
    if (!valid_name(b.name)) {
      r.error(bn["name"] ? bn["name"] : bn,
              "budget name must match [a-z0-9_.-]{1,64}, got \"" + b.name + "\"");
    } else if (!names.insert(b.name).second) {
      r.error(bn["name"], "duplicate budget name \"" + b.name + "\"");
    }
    read_match(r, bn["match"], b);
    const std::string period = r.string(bn, "period").value_or("day");
    if (period == "day")
      b.period = Period::kDay;
    else if (period == "week")
      b.period = Period::kWeek;
    else if (period == "month")
      b.period = Period::kMonth;
    else
      r.error(bn["period"], "period must be day, week or month, got \"" + period + "\"");
    if (auto limit = r.decimal(bn, "limit")) {
      if (limit->nanos() <= 0) r.error(bn["limit"], "limit must be positive");
      b.limit = *limit;
    } else if (!bn["limit"]) {
      r.error(bn, "limit is required (in the reporting currency)");
    }
    if (auto scope = r.string(bn, "scope")) {
      if (*scope == "global")
        b.scope = Scope::kGlobal;
      else if (*scope != "local")
        r.error(bn["scope"], "scope must be local or global, got \"" + *scope + "\"");
      if (b.scope == Scope::kGlobal && !coordinated)
        r.error(bn["scope"], "scope: global needs the main file's coordination block "
                             "(coordination.etcd.endpoints)");
    }
    if (auto loss = r.string(bn, "on_coordination_loss")) {
      if (*loss == "local_share")
        b.on_coordination_loss = CoordinationLoss::kLocalShare;
      else if (*loss != "block_listed")
        r.error(bn["on_coordination_loss"],
                "on_coordination_loss must be block_listed or local_share, got \"" + *loss + "\"");
      if (b.scope != Scope::kGlobal)
        r.error(bn["on_coordination_loss"], "on_coordination_loss applies to scope: global only");
    }
    if (const YAML::Node& rules = bn["rules"]; rules && !rules.IsNull()) {
      if (!rules.IsSequence())
        r.error(rules, "rules must be a list");
      else
        for (const auto& rn : rules) read_rule(r, rn, b);
    }
    set->budgets.push_back(std::move(b));
  }
  return set;
}

}  // namespace tollgate

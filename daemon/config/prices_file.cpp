#include "daemon/config/prices_file.h"

#include <array>
#include <set>

#include "daemon/config/yaml_reader.h"
#include "metering/time_util.h"

namespace tollgate {

namespace {

// The price keys of CONTRACT §2.2, one per priced component.
struct Key {
  const char* name;
  Component component;
};
constexpr Key kKeys[] = {{"per_1m_input_tokens", Component::kInput},
                         {"per_1m_cached_input_tokens", Component::kCachedInput},
                         {"per_1m_cache_write_tokens", Component::kCacheWrite},
                         {"per_1m_output_tokens", Component::kOutput},
                         {"per_1m_reasoning_tokens", Component::kReasoning},
                         {"per_request", Component::kRequests},
                         {"per_gpu_hour", Component::kGpuHours},
                         {"per_gb_egress", Component::kEgressGb}};

// Reads the per_1m_* / per_* keys present in `n` over `rates`. A price that is not given and
// defaults to another (cache reads and writes to input, reasoning to output) follows that price,
// also inside a tier that changes it.
void read_rates(YamlReader& r, const YAML::Node& n, Rates& rates,
                std::array<bool, kComponentCount>& given) {
  for (const Key& k : kKeys)
    if (auto m = r.decimal(n, k.name)) {
      rates[k.component] = m->nanos();
      given[static_cast<size_t>(k.component)] = true;
    }
  auto follow = [&](Component c, Component source) {
    if (!given[static_cast<size_t>(c)]) rates[c] = rates[source];
  };
  follow(Component::kCachedInput, Component::kInput);
  follow(Component::kCacheWrite, Component::kInput);
  follow(Component::kReasoning, Component::kOutput);
}

void read_batch(YamlReader& r, const YAML::Node& n, BatchRates& batch) {
  if (!n || n.IsNull()) return;
  if (!r.expect_map(n, "batch",
                    {"per_1m_input_tokens", "per_1m_cached_input_tokens",
                     "per_1m_cache_write_tokens", "per_1m_output_tokens", "per_1m_reasoning_tokens",
                     "per_request", "per_gpu_hour", "per_gb_egress"}))
    return;
  for (const Key& k : kKeys)
    if (auto m = r.decimal(n, k.name)) batch[static_cast<size_t>(k.component)] = m->nanos();
}

}  // namespace

std::shared_ptr<const PriceBook> load_prices(const std::string& path, const Config& config,
                                             LoadErrors& errors) {
  auto book = std::make_shared<PriceBook>();
  book->set_max_event_cost(config.limits.max_event_cost);
  YamlReader r(path, errors);
  auto loaded = r.load();
  if (!loaded) return book;
  const YAML::Node& root = *loaded;
  if (!r.expect_map(root, "the prices file", {"prices"})) return book;
  YAML::Node prices = root["prices"];
  if (!prices || !prices.IsSequence()) {
    r.error(prices ? prices : root, "prices must be a list of price entries");
    return book;
  }
  std::set<std::tuple<std::string, std::string, std::string, EpochMs>> seen;
  for (const auto& p : prices) {
    if (!r.expect_map(
            p, "a price entry",
            {"provider", "model", "region", "currency", "effective_from", "batch_discount_percent",
             "batch", "tiers", "per_1m_input_tokens", "per_1m_cached_input_tokens",
             "per_1m_cache_write_tokens", "per_1m_output_tokens", "per_1m_reasoning_tokens",
             "per_request", "per_gpu_hour", "per_gb_egress"}))
      continue;
    PriceEntry e;
    e.provider = r.string(p, "provider").value_or("");
    e.model = r.string(p, "model").value_or("");
    if (e.provider.empty()) r.error(p, "provider is required");
    if (e.model.empty()) r.error(p, "model is required");
    e.region = r.string(p, "region").value_or("*");
    e.currency = r.string(p, "currency").value_or(config.reporting.currency);
    if (e.currency != config.reporting.currency) {
      auto fx = config.reporting.fx.find(e.currency);
      if (fx == config.reporting.fx.end()) {
        r.error(p["currency"], "currency " + e.currency + " differs from reporting currency " +
                                   config.reporting.currency +
                                   " and reporting.fx has no rate for it");
      } else {
        e.fx_nanos = fx->second.nanos;
      }
    }
    std::string from = "always";
    if (auto d = r.string(p, "effective_from")) {
      if (auto day = parse_date(*d)) {
        // A price takes effect at local midnight of its date in the reporting time zone.
        e.effective_from = config.reporting.tz->day_start(*day);
        from = *d;
      } else {
        r.error(p["effective_from"],
                "effective_from must be a date YYYY-MM-DD, got \"" + *d + "\"");
      }
    }
    std::array<bool, kComponentCount> given{};
    read_rates(r, p, e.base, given);
    read_batch(r, p["batch"], e.batch);
    if (auto d = r.decimal(p, "batch_discount_percent")) {
      if (d->nanos() > 100 * Money::kNanosPerUnit)
        r.error(p["batch_discount_percent"], "batch_discount_percent must be between 0 and 100");
      else
        e.batch_discount_nano_percent = d->nanos();
    }
    if (YAML::Node tiers = p["tiers"]; tiers && !tiers.IsNull()) {
      if (!tiers.IsSequence()) {
        r.error(tiers, "tiers must be a list");
      } else {
        for (const auto& t : tiers) {
          if (!r.expect_map(
                  t, "a tier",
                  {"above_input_tokens", "per_1m_input_tokens", "per_1m_cached_input_tokens",
                   "per_1m_cache_write_tokens", "per_1m_output_tokens", "per_1m_reasoning_tokens",
                   "per_request", "per_gpu_hour", "per_gb_egress"}))
            continue;
          PriceTier tier;
          auto above = r.integer(t, "above_input_tokens", 0, int64_t(1) << 50);
          if (!above) {
            if (!t["above_input_tokens"]) r.error(t, "above_input_tokens is required");
            continue;
          }
          tier.above_input_tokens = *above;
          tier.rates = e.base;
          std::array<bool, kComponentCount> tier_given = given;
          read_rates(r, t, tier.rates, tier_given);
          if (!e.tiers.empty() && e.tiers.back().above_input_tokens >= tier.above_input_tokens)
            r.error(t["above_input_tokens"],
                    "tiers must be in increasing above_input_tokens order");
          e.tiers.push_back(tier);
        }
      }
    }
    e.ref = e.provider + "/" + e.model + "/" + e.region + "@" + from;
    if (!seen.insert({e.provider, e.model, e.region, e.effective_from}).second)
      r.error(p, "duplicate price for " + e.provider + "/" + e.model + " region " + e.region +
                     " effective " + from);
    book->add(std::move(e));
  }
  return book;
}

}  // namespace tollgate

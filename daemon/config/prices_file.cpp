#include "daemon/config/prices_file.h"

#include <set>

#include "daemon/config/yaml_reader.h"
#include "metering/time_util.h"

namespace tollgate {

namespace {

// Reads the per_1m_* / per_* keys present in `n` over `rates`.
void read_rates(YamlReader& r, const YAML::Node& n, Rates& rates) {
  struct Key {
    const char* name;
    int64_t Rates::*field;
  };
  static const Key kKeys[] = {{"per_1m_input_tokens", &Rates::per_1m_input},
                              {"per_1m_output_tokens", &Rates::per_1m_output},
                              {"per_1m_cached_input_tokens", &Rates::per_1m_cached_input},
                              {"per_1m_cache_write_tokens", &Rates::per_1m_cache_write},
                              {"per_request", &Rates::per_request},
                              {"per_gpu_hour", &Rates::per_gpu_hour},
                              {"per_gb_egress", &Rates::per_gb_egress}};
  for (const Key& k : kKeys)
    if (auto m = r.decimal(n, k.name)) rates.*(k.field) = m->nanos();
}

}  // namespace

std::shared_ptr<const PriceBook> load_prices(const std::string& path, const Config& config,
                                             LoadErrors& errors) {
  auto book = std::make_shared<PriceBook>();
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
            {"provider", "model", "region", "currency", "effective_from", "per_1m_input_tokens",
             "per_1m_output_tokens", "per_1m_cached_input_tokens", "per_1m_cache_write_tokens",
             "per_request", "per_gpu_hour", "per_gb_egress", "batch_discount_percent", "tiers"}))
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
    read_rates(r, p, e.base);
    // Cache prices default to the input price (CONTRACT §2.2).
    if (!p["per_1m_cached_input_tokens"]) e.base.per_1m_cached_input = e.base.per_1m_input;
    if (!p["per_1m_cache_write_tokens"]) e.base.per_1m_cache_write = e.base.per_1m_input;
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
          if (!r.expect_map(t, "a tier",
                            {"above_input_tokens", "per_1m_input_tokens", "per_1m_output_tokens",
                             "per_1m_cached_input_tokens", "per_1m_cache_write_tokens",
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
          read_rates(r, t, tier.rates);
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

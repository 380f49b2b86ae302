#include "daemon/finance/focus_export.h"

#include <boost/json.hpp>

#include "daemon/finance/exact_decimal.h"
#include "daemon/finance/report_format.h"
#include "metering/json_text.h"
#include "metering/money.h"

namespace tollgate {

namespace json = boost::json;

namespace {

std::string utc_iso(EpochMs ms) {
  std::string s = format_utc_ms(ms);
  return s.substr(0, 19) + "Z";  // FOCUS: ISO 8601 in UTC, seconds precision
}

ExactDecimal nanos(__int128 v) { return ExactDecimal::scaled(v, 9); }

// How a component is priced and consumed: the pricing quantity (in the price list's unit) and the
// consumed quantity (in the unit the usage is measured in), from the ledger's quantity.
struct Quantities {
  ExactDecimal pricing, consumed;
  std::string pricing_unit, consumed_unit;
};

Quantities quantities_of(const FocusRow& r) {
  const int64_t q = r.quantity;
  if (r.component == "requests")
    return {ExactDecimal::scaled(q, 0), ExactDecimal::scaled(q, 0), "Requests", "Requests"};
  if (r.component == "gpu-hours") {
    // Microseconds in hours is not a finite decimal: 15 places (rounded), and the list and
    // contracted costs are computed from what is written, so the products stay exact.
    ExactDecimal hours = ExactDecimal::ratio(q, 3'600'000'000LL, 15);
    return {hours, hours, "GPU-Hours", "GPU-Hours"};
  }
  if (r.component == "egress-gb") {
    ExactDecimal gb = ExactDecimal::scaled(q, 9);
    return {gb, gb, "GB", "GB"};
  }
  // Tokens: priced per 1M (as price lists are), consumed one by one.
  return {ExactDecimal::scaled(q, 6), ExactDecimal::scaled(q, 0), "1M Tokens", "Tokens"};
}

const char* const kColumns[] = {
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory",
    "ServiceName", "RegionId", "ResourceId", "Tags",
    // Beyond the columns above (kept in their order for existing readers): what a provider that
    // measures usage, prices in one currency and bills in another, and has regions adds.
    "ChargeFrequency", "ConsumedQuantity", "ConsumedUnit", "RegionName", "ResourceName",
    "ServiceSubcategory", "ContractedUnitPrice", "ListUnitPrice", "PricingCategory",
    "PricingCurrency", "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice", "ResourceType", "SkuId", "SkuMeter", "SkuPriceId",
    // Tollgate's own dimensions.
    "x_Feature", "x_Team", "x_Customer", "x_Priority"};

}  // namespace

std::string focus_csv(const std::vector<FocusRow>& rows, const std::string& currency,
                      const TimeZone& tz) {
  std::string out;
  for (size_t i = 0; i < std::size(kColumns); ++i) out += std::string(i ? "," : "") + kColumns[i];
  out += "\r\n";
  for (const FocusRow& r : rows) {
    const int64_t day = *parse_date(r.day_local);
    int y;
    unsigned m, d;
    civil_from_days(day, y, m, d);
    const int64_t month = days_from_civil(y, m, 1);
    const int64_t next_month =
        m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1);
    const ExactDecimal billed = nanos(r.cost_nanos);

    // Unit prices in the pricing currency, then through the exchange rate into the billing
    // currency; costs are unit price × pricing quantity as written, exactly.
    Quantities q;
    ExactDecimal list_pc, contracted_pc, fx = ExactDecimal::scaled(1, 0);
    std::string pricing_currency = r.pricing_currency, category = "Standard", sku_price_id,
                component = r.component, what;
    const bool itemised_price = r.priced_by == "price_book" || r.priced_by == "unpriced";
    if (itemised_price) {
      q = quantities_of(r);
      list_pc = nanos(r.list_rate);
      const __int128 hundred = __int128(100) * Money::kNanosPerUnit;
      contracted_pc = ExactDecimal::scaled(
          __int128(r.contracted_rate) * (hundred - r.discount_nano_percent), 20);
      fx = nanos(r.fx_nanos);
      sku_price_id = r.sku_price_id;
      what = component + (r.priced_by == "unpriced" ? " (no price in the price list)" : "");
    } else {
      // Caller-priced, or cost stored before charges were itemised: the amount itself is the
      // pricing quantity, at a unit price of 1 in the billing currency.
      q.pricing = billed;
      q.pricing_unit = "Units";
      if (r.priced_by == "caller") {
        q.consumed = ExactDecimal::scaled(r.quantity, 0);
        q.consumed_unit = "Requests";
        sku_price_id = r.sku_price_id;
        what = "usage priced by the caller";
      } else {
        q.consumed = billed;
        q.consumed_unit = "Units";
        component = "usage";
        sku_price_id = "ledger/unitemised";
        what = "usage recorded before charges were itemised";
      }
      list_pc = contracted_pc = ExactDecimal::scaled(1, 0);
      pricing_currency = currency;
      category = "Other";
    }
    const ExactDecimal list_unit = list_pc * fx, contracted_unit = contracted_pc * fx;

    json::object tags;
    if (r.tags_json) {
      boost::system::error_code ec;
      json::value t = json::parse(*r.tags_json, ec);
      if (!ec && t.is_object()) tags = t.get_object();
    }
    if (r.customer && !r.customer->empty()) tags["customer"] = *r.customer;
    if (r.priority && !r.priority->empty()) tags["priority"] = *r.priority;
    const std::string description = r.feature + ": " + what + ", " + r.model + " (" +
                                    r.provider + (r.region.empty() ? "" : ", " + r.region) + ")";
    const std::string sku = r.provider + "/" + r.model + "/" + component;
    const std::string fields[] = {billed.to_string(),
                                  "tollgate",
                                  "Tollgate ledger",
                                  currency,
                                  utc_iso(tz.day_start(next_month)),
                                  utc_iso(tz.day_start(month)),
                                  "Usage",
                                  "",
                                  description,
                                  utc_iso(tz.day_start(day + 1)),
                                  utc_iso(tz.day_start(day)),
                                  (contracted_unit * q.pricing).to_string(),
                                  billed.to_string(),
                                  r.provider,
                                  (list_unit * q.pricing).to_string(),
                                  q.pricing.to_string(),
                                  q.pricing_unit,
                                  r.provider,
                                  r.provider,
                                  "AI and Machine Learning",
                                  "LLM Inference",
                                  r.region,
                                  r.model,
                                  serialize_json(tags),
                                  "Usage-Based",
                                  q.consumed.to_string(),
                                  q.consumed_unit,
                                  r.region,
                                  r.model,
                                  "Generative AI",
                                  contracted_unit.to_string(),
                                  list_unit.to_string(),
                                  category,
                                  pricing_currency,
                                  contracted_pc.to_string(),
                                  (contracted_pc * q.pricing).to_string(),
                                  list_pc.to_string(),
                                  "Model",
                                  sku,
                                  component,
                                  sku_price_id,
                                  r.feature,
                                  r.team,
                                  r.customer.value_or(""),
                                  r.priority.value_or("")};
    static_assert(sizeof(fields) / sizeof(fields[0]) == std::size(kColumns));
    for (size_t i = 0; i < std::size(fields); ++i) {
      if (i) out += ',';
      append_csv_field(out, fields[i]);
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace tollgate

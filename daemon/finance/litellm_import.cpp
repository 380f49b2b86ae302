#include "daemon/finance/litellm_import.h"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <regex>
#include <set>
#include <vector>

#include "metering/money.h"
#include "metering/text_rules.h"

namespace tollgate {

namespace json = boost::json;

namespace {

// Our per-1M key for each LiteLLM per-token key.
const std::pair<const char*, const char*> kKeys[] = {
    {"input_cost_per_token", "per_1m_input_tokens"},
    {"output_cost_per_token", "per_1m_output_tokens"},
    {"cache_read_input_token_cost", "per_1m_cached_input_tokens"},
    {"cache_creation_input_token_cost", "per_1m_cache_write_tokens"},
    {"output_cost_per_reasoning_token", "per_1m_reasoning_tokens"},
    {"input_cost_per_request", "per_request"},
};

// LiteLLM's per-request price is per request already; the others are per token.
int shift_of(std::string_view our_key) { return our_key == "per_request" ? 0 : 6; }

struct Unrepresentable {
  std::string reason;
};

// value × 10^shift as exact decimal text: the shortest decimal of the double (what the file
// says), with its exponent shifted. A price with float noise past 9 decimals
// (2.9999900000000002e-06) is rounded to 9; one that rounding would change by more than a
// billionth of itself throws Unrepresentable.
std::optional<std::string> per_million(const json::value& v, int shift = 6) {
  double d;
  if (v.is_double())
    d = v.get_double();
  else if (v.is_int64())
    d = double(v.get_int64());
  else if (v.is_uint64())
    d = double(v.get_uint64());
  else if (v.is_string()) {
    const json::string& s = v.get_string();
    char* end = nullptr;
    std::string text(s.data(), s.size());
    d = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(d) || d < 0) throw Unrepresentable{"negative or non-finite price"};
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, end);
  size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  int exp10 = std::atoi(sci.c_str() + e + 1) - int(digits.size() - 1) + shift;
  std::string text;
  if (exp10 >= 0) {
    text = digits + std::string(exp10, '0');
  } else {
    size_t frac = size_t(-exp10);
    if (digits.size() <= frac) digits.insert(0, frac - digits.size() + 1, '0');
    text = digits.substr(0, digits.size() - frac) + "." + digits.substr(digits.size() - frac);
  }
  if (auto m = Money::parse(text)) return m->to_string();
  // More than 9 decimals: round half up to 9, kept only when that changes a billionth or less.
  const size_t dot = text.find('.');
  auto kept = dot == std::string::npos ? std::nullopt : Money::parse(text.substr(0, dot + 10));
  if (!kept) throw Unrepresentable{"price too large"};
  const int64_t nanos = kept->nanos() + (text[dot + 10] >= '5' ? 1 : 0);
  const double exact = std::strtod(text.c_str(), nullptr);
  if (exact <= 0 || std::fabs(double(nanos) / 1e9 - exact) > exact * 1e-9)
    throw Unrepresentable{"price needs more than 9 decimals per 1M tokens"};
  return Money::from_nanos(nanos).to_string();
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

using Rates = std::map<std::string, std::string>;  // our key → per-1M decimal

void read_rates(const json::object& o, Rates& rates, std::string_view suffix = "") {
  for (auto [from, to] : kKeys)
    if (const json::value* v = o.if_contains(std::string(from) + std::string(suffix));
        v && !v->is_null())
      if (auto p = per_million(*v, shift_of(to))) rates[to] = *p;
}

// Batch prices (the `_batches` keys): one discount when every component given has the same
// exact percentage off (so cache prices get it too), else each component its own batch price.
std::string batch_yaml(const Rates& base, const Rates& batch) {
  std::optional<__int128> common;  // nano-percent
  bool same = true;
  for (const auto& [k, v] : batch) {
    auto it = base.find(k);
    if (it == base.end()) {
      same = false;
      break;
    }
    const __int128 regular = Money::parse(it->second)->nanos(), cheap = Money::parse(v)->nanos();
    const __int128 off = (regular - cheap) * 100 * Money::kNanosPerUnit;
    if (regular <= 0 || cheap > regular || off % regular != 0 ||
        (common && *common != off / regular)) {
      same = false;
      break;
    }
    common = off / regular;
  }
  if (same && common) return "    batch_discount_percent: " + decimal_string(*common, 9) + "\n";
  std::string out = "    batch:\n";
  for (const auto& [k, v] : batch) out += "      " + k + ": " + v + "\n";
  return out;
}

}  // namespace

Result<LitellmImport> import_litellm(const std::string& json_text, const std::string& source_name) {
  boost::system::error_code ec;
  json::value root = json::parse(json_text, ec);
  if (ec || !root.is_object())
    return Status::error(Code::kInvalidJson,
                         source_name + " is not a LiteLLM price map (a JSON object of models)");
  static const std::regex kAbove(
      "(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_"
      "input_token_cost)_above_(\\d+)k_tokens");
  LitellmImport out;
  out.yaml = "# Imported from " + source_name +
             " (LiteLLM format) by `tollgate prices import`.\n"
             "# Per-token prices are shown per 1M tokens, in USD.\nprices:\n";
  std::map<std::pair<std::string, std::string>, Rates> seen;
  for (const auto& kv : root.get_object()) {
    const std::string name(kv.key());
    if (name == "sample_spec") continue;  // the file's own documentation entry
    auto skip = [&](const std::string& reason) { ++out.skipped[reason]; };
    if (!kv.value().is_object()) {
      skip("entry is not an object");
      continue;
    }
    const json::object& o = kv.value().get_object();
    const json::value* prov = o.if_contains("litellm_provider");
    if (!prov || !prov->is_string() || prov->get_string().empty()) {
      skip("no litellm_provider");
      continue;
    }
    const std::string provider(prov->get_string());
    std::string model = name;
    if (model.rfind(provider + "/", 0) == 0) model = model.substr(provider.size() + 1);
    // Names events could never carry (CONTRACT §3: non-empty, valid UTF-8, no control
    // characters, at most 128 bytes) would make a prices file the daemon refuses.
    if (model.empty() || model.size() > 128 || provider.size() > 128 ||
        !check_text("model", model).ok() || !check_text("provider", provider).ok()) {
      skip("a provider or model name no usage event can carry");
      continue;
    }
    try {
      Rates base;
      read_rates(o, base);
      std::map<int64_t, Rates> tiers;  // above_input_tokens → overrides
      if (const json::value* tp = o.if_contains("tiered_pricing"); tp && tp->is_array()) {
        for (const json::value& t : tp->get_array()) {
          if (!t.is_object()) continue;
          const json::object& to = t.get_object();
          int64_t start = 0;
          if (const json::value* r = to.if_contains("range");
              r && r->is_array() && !r->get_array().empty()) {
            const json::value& s = r->get_array()[0];
            // A bracket start is a token count: past 10^12 (or not finite) no context has it.
            const double v = s.is_int64()    ? double(s.get_int64())
                             : s.is_uint64() ? double(s.get_uint64())
                             : s.is_double() ? s.get_double()
                                             : 0.0;
            if (!std::isfinite(v) || v < 0 || v > 1e12) {
              skip("(one tier, the entry kept) a tiered_pricing range outside 0 to 10^12 tokens");
              continue;
            }
            start = int64_t(v);
          }
          Rates rates;
          read_rates(to, rates);
          if (start <= 0) {
            for (auto& [k, v] : rates) base[k] = v;  // the first bracket is the base price
          } else {
            tiers[start] = rates;
          }
        }
      }
      for (const auto& field : o) {
        std::smatch m;
        std::string key(field.key());
        if (!std::regex_match(key, m, kAbove)) continue;
        // N in _above_Nk_tokens: an integer of thousands, at most 10^12 tokens (any larger is
        // no context window); anything else skips the key, never aborts the import.
        int64_t thousands = 0;
        const std::string digits = m[2];
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), thousands);
        if (ec != std::errc() || end != digits.data() + digits.size() || thousands <= 0 ||
            thousands > 1'000'000'000) {
          skip("(one price key, the entry kept) a context threshold that is not a whole number of "
               "thousands up to 10^12");
          continue;
        }
        for (auto [from, to] : kKeys)
          if (m[1] == from)
            if (auto p = per_million(field.value(), shift_of(to)))
              tiers[thousands * 1000][to] = *p;
      }
      if (!base.count("per_1m_input_tokens") && !base.count("per_1m_output_tokens")) {
        if (o.contains("input_cost_per_second") || o.contains("output_cost_per_second"))
          skip("priced per second, not per token");
        else if (o.contains("output_cost_per_image") || o.contains("input_cost_per_image") ||
                 o.contains("input_cost_per_pixel"))
          skip("priced per image, not per token");
        else
          skip("no per-token price");
        continue;
      }
      if (auto [it, fresh] = seen.emplace(std::pair{provider, model}, base); !fresh) {
        // The first entry in the file is kept; a different price is named so it can be checked.
        if (it->second != base)
          out.conflicts.push_back(name + " prices " + provider + "/" + model +
                                  " differently from an earlier entry; the earlier one is kept");
        skip("same provider and model as an earlier entry");
        continue;
      }
      std::string entry = "  - provider: " + quoted(provider) + "\n    model: " + quoted(model) +
                          "\n    currency: USD\n";
      for (auto [from, to] : kKeys)
        if (base.count(to)) entry += std::string("    ") + to + ": " + base[to] + "\n";
      Rates batch;
      read_rates(o, batch, "_batches");
      if (!batch.empty()) entry += batch_yaml(base, batch);
      if (!tiers.empty()) {
        entry += "    tiers:\n";
        for (const auto& [above, rates] : tiers) {
          entry += "      - above_input_tokens: " + std::to_string(above) + "\n";
          for (const auto& [k, v] : rates) entry += "        " + k + ": " + v + "\n";
        }
      }
      out.yaml += entry;
      ++out.imported;
    } catch (const Unrepresentable& u) {
      skip(u.reason);
    }
  }
  if (out.imported == 0) out.yaml += "  []\n";
  return out;
}

}  // namespace tollgate

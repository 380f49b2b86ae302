#include "daemon/finance/report_format.h"

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <optional>

#include "metering/json_text.h"
#include "metering/money.h"

namespace tollgate {

namespace json = boost::json;

namespace {

// One report row's values in CONTRACT §4.6 order; money as exact decimal text, nullopt = null.
struct Cell {
  std::optional<std::string> text;
};

std::optional<std::string> ratio_money(int64_t numerator_nanos, __int128 scale,
                                       __int128 denominator) {
  if (denominator == 0) return std::nullopt;
  return decimal_string(divide_rounded(numerator_nanos * scale, denominator), 9);
}

// Every token the row counts; 128 bits, as four day-sized sums may pass int64 together.
__int128 token_sum(const ReportSums& s) {
  return __int128(s.input_tokens) + s.cached_input_tokens + s.cache_write_tokens + s.output_tokens;
}

std::optional<std::string> percent_change(int64_t now, __int128 before_times_n, int64_t n) {
  // (now - before/n) / (before/n) × 100 = (now·n - before) / before × 100
  if (before_times_n == 0) return std::nullopt;
  double pct = (double(now) * n - double(before_times_n)) / double(before_times_n) * 100.0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", std::round(pct * 100) / 100);
  std::string s = buf;
  if (s == "-0.00") s = "0.00";
  return s;
}

const char* kFields[] = {"requests",
                         "input_tokens",
                         "cached_input_tokens",
                         "output_tokens",
                         "gpu_seconds",
                         "cost",
                         "unpriced_requests",
                         "cost_per_request",
                         "cost_per_1k_tokens",
                         "value_units",
                         "cost_per_value_unit",
                         "revenue",
                         "margin",
                         "change_vs_prev_day_pct",
                         "change_vs_7d_avg_pct"};

std::vector<Cell> cells(const ReportRow& row) {
  const ReportSums& s = row.sums;
  const __int128 tokens = token_sum(s);
  return {
      {std::to_string(s.requests)},
      {std::to_string(s.input_tokens)},
      {std::to_string(s.cached_input_tokens)},
      {std::to_string(s.output_tokens)},
      {decimal_string(s.gpu_micros, 6)},
      {Money::from_nanos(s.cost_nanos).to_string()},
      {std::to_string(s.unpriced_requests)},
      {ratio_money(s.cost_nanos, 1, s.requests)},
      {ratio_money(s.cost_nanos, 1000, tokens)},
      {Money::from_nanos(s.value_units_nanos).to_string()},
      {ratio_money(s.cost_nanos, Money::kNanosPerUnit, s.value_units_nanos)},
      {Money::from_nanos(s.revenue_nanos).to_string()},
      {decimal_string(__int128(s.revenue_nanos) - s.cost_nanos, 9)},
      {percent_change(s.cost_nanos, row.prev_day_cost_nanos, 1)},
      {percent_change(s.cost_nanos, row.prev_7d_cost_nanos, 7)},
  };
}

void write_row(JsonWriter& w, const std::vector<std::string>& group_by, const ReportRow& row) {
  w.begin_object();
  for (size_t i = 0; i < group_by.size(); ++i) {
    w.key(group_by[i]);
    if (row.dims[i])
      w.string(*row.dims[i]);
    else
      w.null();
  }
  auto values = cells(row);
  for (size_t i = 0; i < values.size(); ++i) {
    w.key(kFields[i]);
    if (values[i].text)
      w.number(*values[i].text);  // exact decimal text as a JSON number
    else
      w.null();
  }
  w.end_object();
}

}  // namespace

void append_csv_field(std::string& out, std::string_view v) {
  // Spreadsheets run a cell starting with = + - @ (or a tab or CR before one) as a formula: such a
  // cell gets a leading apostrophe, unless it is a plain number (-3.5 stays a number).
  const bool formula = !v.empty() &&
                       std::string_view("=+-@\t\r").find(v.front()) != std::string_view::npos &&
                       !is_json_number(v);
  if (!formula && v.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(v);
    return;
  }
  out += '"';
  if (formula) out += '\'';
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::string report_json(const DailyReport& r) {
  JsonWriter w;
  w.begin_object().key("date").string(r.date).key("currency").string(r.currency);
  w.key("group_by").begin_array();
  for (const auto& g : r.group_by) w.string(g);
  w.end_array().key("rows").begin_array();
  for (const ReportRow& row : r.rows) write_row(w, r.group_by, row);
  w.end_array().key("total");
  write_row(w, {}, r.total);
  return w.end_object().take();
}

std::string report_csv(const DailyReport& r) {
  std::string out;
  for (const auto& g : r.group_by) {
    append_csv_field(out, g);
    out += ',';
  }
  for (size_t i = 0; i < std::size(kFields); ++i) out += std::string(i ? "," : "") + kFields[i];
  out += "\r\n";
  for (const ReportRow& row : r.rows) {
    for (const auto& d : row.dims) {
      append_csv_field(out, d.value_or(""));
      out += ',';
    }
    auto values = cells(row);
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) out += ',';
      out += values[i].text.value_or("");
    }
    out += "\r\n";
  }
  return out;
}

std::string report_table(const DailyReport& r) {
  // A terminal view: the dimensions and the columns finance reads first.
  std::vector<std::string> header(r.group_by.begin(), r.group_by.end());
  for (const char* h : {"requests", "tokens", "cost", "per request", "per 1k tokens", "unpriced",
                        "vs prev day", "vs 7d avg"})
    header.push_back(h);
  std::vector<std::vector<std::string>> lines;
  auto line_of = [&](const ReportRow& row, bool total) {
    std::vector<std::string> l;
    for (size_t i = 0; i < r.group_by.size(); ++i)
      l.push_back(total ? (i == 0 ? "TOTAL" : "") : row.dims[i].value_or("-"));
    auto v = cells(row);
    const ReportSums& s = row.sums;
    auto pct = [](const std::optional<std::string>& p) { return p ? *p + "%" : std::string("-"); };
    l.push_back(std::to_string(s.requests));
    l.push_back(decimal_string(token_sum(s), 0));
    l.push_back(*v[5].text);
    l.push_back(v[7].text.value_or("-"));
    l.push_back(v[8].text.value_or("-"));
    l.push_back(std::to_string(s.unpriced_requests));
    l.push_back(pct(v[13].text));
    l.push_back(pct(v[14].text));
    return l;
  };
  for (const ReportRow& row : r.rows) lines.push_back(line_of(row, false));
  auto total = line_of(r.total, true);
  if (r.group_by.empty()) total.insert(total.begin(), "TOTAL"), header.insert(header.begin(), "");
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto* l : {&total})
    for (size_t i = 0; i < l->size(); ++i) width[i] = std::max(width[i], (*l)[i].size());
  for (const auto& l : lines)
    for (size_t i = 0; i < l.size(); ++i) width[i] = std::max(width[i], l[i].size());
  const size_t ndims = r.group_by.empty() ? 1 : r.group_by.size();
  auto render = [&](const std::vector<std::string>& l) {
    std::string out;
    for (size_t i = 0; i < l.size(); ++i) {
      std::string cell = l[i];
      std::string pad(width[i] - cell.size(), ' ');
      out += i < ndims ? cell + pad : pad + cell;  // text left, numbers right
      out += i + 1 < l.size() ? "  " : "\n";
    }
    return out;
  };
  std::string out = "Daily cost " + r.date + " (" + r.currency + ")\n\n" + render(header);
  size_t rule = 0;
  for (size_t w : width) rule += w + 2;
  out += std::string(rule - 2, '-') + "\n";
  for (const auto& l : lines) out += render(l);
  if (lines.empty()) out += "(no usage on this day)\n";
  out += std::string(rule - 2, '-') + "\n" + render(total);
  return out;
}

}  // namespace tollgate

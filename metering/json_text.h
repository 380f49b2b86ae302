#pragma once
// JSON text for responses and reports, with money as exact numbers.
//
// Boost.JSON would print money through a double; money_value() instead carries the exact decimal
// text, and serialize_json() writes it as a bare JSON number ("400.12", never 400.1199999).

#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "metering/money.h"

namespace tollgate {

boost::json::value money_value(Money m);
// Any number given as its exact decimal text (integers beyond 2^53, ratios already rounded).
boost::json::value number_text(std::string text);
std::string serialize_json(const boost::json::value& v);

}  // namespace tollgate

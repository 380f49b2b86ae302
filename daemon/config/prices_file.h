#pragma once
// Loader of the prices file (CONTRACT §2.2) into a PriceBook, against the reporting currency and
// FX table of the main config, with FILE:LINE:COL errors.

#include <memory>
#include <string>

#include "daemon/config/config.h"
#include "metering/price_book.h"

namespace tollgate {

std::shared_ptr<const PriceBook> load_prices(const std::string& path, const Config& config,
                                             LoadErrors& errors);

}  // namespace tollgate

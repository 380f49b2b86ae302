#pragma once
// Loader of the policies file (CONTRACT §2.3) into a PolicySet, with FILE:LINE:COL errors.

#include <memory>
#include <string>

#include "daemon/config/config.h"
#include "policies/policy.h"

namespace tollgate {

// `coordinated`: the main file has a coordination block, so budgets may have scope: global.
std::shared_ptr<const PolicySet> load_policies(const std::string& path, LoadErrors& errors,
                                               bool coordinated = false);

}  // namespace tollgate

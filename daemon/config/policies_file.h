#pragma once
// Loader of the policies file (CONTRACT §2.3) into a PolicySet, with FILE:LINE:COL errors.

#include <memory>
#include <string>

#include "daemon/config/config.h"
#include "policies/policy.h"

namespace tollgate {

std::shared_ptr<const PolicySet> load_policies(const std::string& path, LoadErrors& errors);

}  // namespace tollgate

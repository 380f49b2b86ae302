#pragma once
// The `tollgate` command line (CONTRACT §1).

namespace tollgate {

int run_cli(int argc, char** argv);

}  // namespace tollgate

#pragma once
#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// The `vggt-lab` command line. Exit status: 0 success, 1 failure while
/// running, 2 bad input (configuration, arguments).
VGGT_LAB_API int run_cli(int argc, char** argv);

}  // namespace vggt_lab

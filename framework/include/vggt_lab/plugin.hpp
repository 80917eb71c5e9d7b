#pragma once
// The one header a plugin library includes for registration.
#include "vggt_lab/abi.hpp"
#include "vggt_lab/error.hpp"
#include "vggt_lab/options.hpp"
#include "vggt_lab/registrar.hpp"

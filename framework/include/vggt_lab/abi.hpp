#pragma once
// The plugin ABI: one exported C entry per library returns a static
// descriptor. api_version and struct_size come first and are never reordered.
// Plugin authors write VGGT_LAB_PLUGIN(...) and never spell the entry by hand.
#include <boost/version.hpp>
#include <cstdint>
#include <torch/version.h>

#include "vggt_lab/version.hpp"

namespace vggt_lab {
class Registrar;
}

#define VGGT_LAB_PLUGIN_API_VERSION 4u
#define VGGT_LAB_PLUGIN_ENTRY_SYMBOL "vggt_lab_plugin_entry"

#define VGGT_LAB_STRINGIFY_(x) #x
#define VGGT_LAB_STRINGIFY(x) VGGT_LAB_STRINGIFY_(x)

#if defined(__clang__)
#define VGGT_LAB_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define VGGT_LAB_COMPILER "gcc " __VERSION__
#else
#define VGGT_LAB_COMPILER "unknown"
#endif

/// Everything a C++ plugin must share with the host, compiled into each side.
#define VGGT_LAB_BUILD_FINGERPRINT                                                         \
  "compiler=" VGGT_LAB_COMPILER ";cxx11abi=" VGGT_LAB_STRINGIFY(_GLIBCXX_USE_CXX11_ABI)    \
  ";torch=" TORCH_VERSION ";boost=" BOOST_LIB_VERSION ";vggt-lab=" VGGT_LAB_VERSION_STRING

extern "C" {
struct VggtLabPluginDescriptor {
  std::uint32_t api_version;  // first, never moved
  std::uint32_t struct_size;  // second, never moved
  const char* kind;           // the library's main kind, for messages
  const char* name;           // the library's name
  const char* version;        // the library's own version
  const char* fingerprint;    // VGGT_LAB_BUILD_FINGERPRINT as the plugin was built
  void (*register_plugins)(vggt_lab::Registrar& registrar);
};
}

/// Defines the library's entry. REGISTER is a function `void(vggt_lab::Registrar&)`.
#define VGGT_LAB_PLUGIN(KIND, NAME, VERSION, REGISTER)                                     \
  extern "C" __attribute__((visibility("default"))) const VggtLabPluginDescriptor*         \
  vggt_lab_plugin_entry() {                                                                 \
    static const VggtLabPluginDescriptor descriptor{VGGT_LAB_PLUGIN_API_VERSION,           \
                                                    sizeof(VggtLabPluginDescriptor),       \
                                                    KIND,                                  \
                                                    NAME,                                  \
                                                    VERSION,                               \
                                                    VGGT_LAB_BUILD_FINGERPRINT,            \
                                                    &(REGISTER)};                          \
    return &descriptor;                                                                    \
  }

#pragma once
// Error types shared by the core and plugins. They live in the core library
// (out-of-line destructors), so their type information has one home.
#include <stdexcept>
#include <string>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// A failure while running: exit status 1.
class VGGT_LAB_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~Error() override;
};

/// Bad input from the user (configuration, arguments, files): exit status 2.
/// The message says what is wrong, where, and what to do.
class VGGT_LAB_API InputError : public Error {
 public:
  using Error::Error;
  ~InputError() override;
};

/// A plugin library that cannot be loaded or registered (wrong API version,
/// wrong build fingerprint, no entry symbol, failure in its register function).
class VGGT_LAB_API PluginLoadError : public InputError {
 public:
  using InputError::InputError;
  ~PluginLoadError() override;
};

}  // namespace vggt_lab

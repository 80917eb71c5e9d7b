#pragma once
#include <filesystem>
#include <functional>
#include <string>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// Writes `content` to a temporary file beside `path`, flushes it, then
/// renames it over `path`: readers see the old file or the new one, never a
/// half-written one.
VGGT_LAB_API void write_file_atomic(const std::filesystem::path& path, const std::string& content);

/// Throws InputError naming `option` unless `dir` is absent or an empty
/// folder: outputs are written into new folders, never over what is there.
VGGT_LAB_API void require_new_or_empty(const std::filesystem::path& dir, const std::string& option);

/// Throws InputError when `dir` holds names `ours` does not accept (naming up
/// to three): `what` ("a run", "a sweep") writes a folder of its own, never
/// among other files. `hint` ends the message (another way out, or nothing).
VGGT_LAB_API void require_own_files(const std::filesystem::path& dir, const std::string& what,
                                    const std::function<bool(const std::string&)>& ours, const std::string& hint = "");

/// An exclusive hold on a folder one process writes (a run, a sweep): a
/// lock on `dir`/.lock, released by the kernel when the process ends, however
/// it ends. Throws InputError naming the process that holds it.
class VGGT_LAB_API FolderLock {
 public:
  explicit FolderLock(const std::filesystem::path& dir);
  ~FolderLock();
  FolderLock(FolderLock&& other) noexcept;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  FolderLock& operator=(FolderLock&&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace vggt_lab

#pragma once
// TensorBoard event files (events.out.tfevents.<seconds>.<host>): a sequence
// of records [uint64 length][uint32 masked CRC-32C of the length][an Event
// protocol-buffer message][uint32 masked CRC-32C of the message], little
// endian. The few Event fields scalars need are encoded here by hand, so
// neither TensorFlow nor protobuf is a dependency.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

struct ScalarEvent {
  std::string tag;
  std::int64_t step = 0;
  double wall_time = 0;  // seconds since the epoch
  float value = 0;
};

class VGGT_LAB_API EventWriter {
 public:
  /// Starts a new event file in `dir`. With `purge_step` > 0 (a resumed
  /// run's first step), TensorBoard drops what earlier files of the folder
  /// logged at or after that step, so no step shows twice.
  explicit EventWriter(const std::filesystem::path& dir, std::int64_t purge_step = 0);
  void scalar(const std::string& tag, std::int64_t step, double value);
  /// Makes what was written readable (TensorBoard reads files as they grow).
  void flush();
  const std::filesystem::path& file() const { return file_; }

 private:
  void record(const std::string& event);
  [[noreturn]] void cannot_write() const;
  std::filesystem::path file_;
  std::ofstream out_;
};

/// Every scalar of an event file, in file order. Throws Error naming the
/// file and record when a length or message fails its checksum or is cut off.
VGGT_LAB_API std::vector<ScalarEvent> read_scalar_events(const std::filesystem::path& file);

}  // namespace vggt_lab

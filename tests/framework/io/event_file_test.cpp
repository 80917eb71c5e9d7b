// TensorBoard event files: what the writer writes reads back, every record's
// checksums are checked, and damage is named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "io/checksum.hpp"
#include "io/event_file.hpp"
#include "support/support.hpp"
#include "vggt_lab/error.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;

std::string bytes_of(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(EventFile, ScalarsReadBackWithTheirTagsStepsAndValues) {
  testing::TempDir dir;
  EventWriter writer(dir.path());
  EXPECT_THAT(writer.file().filename().string(), HasSubstr("events.out.tfevents."));
  writer.scalar("loss", 1, 2.5);
  writer.scalar("losses/loss_camera", 300, -0.125);
  writer.scalar("device3/peak_mib", 1ll << 40, 76.25);
  writer.flush();
  const auto events = read_scalar_events(writer.file());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].tag, "loss");
  EXPECT_EQ(events[0].step, 1);
  EXPECT_FLOAT_EQ(events[0].value, 2.5f);
  EXPECT_EQ(events[1].tag, "losses/loss_camera");
  EXPECT_EQ(events[1].step, 300);
  EXPECT_FLOAT_EQ(events[1].value, -0.125f);
  EXPECT_EQ(events[2].step, 1ll << 40);
  EXPECT_GT(events[2].wall_time, 1.7e9);  // seconds since 1970, after 2023
}

// The record framing TensorBoard reads: the first record is the file
// version event, its length checksummed with CRC-32C masked as TensorFlow
// masks it.
TEST(EventFile, RecordsAreFramedAsTensorFlowRecords) {
  testing::TempDir dir;
  EventWriter writer(dir.path());
  writer.flush();
  const std::string bytes = bytes_of(writer.file());
  ASSERT_GE(bytes.size(), 16u);
  std::uint64_t length;
  std::memcpy(&length, bytes.data(), 8);
  EXPECT_EQ(bytes.size(), 8 + 4 + length + 4);
  std::uint32_t stored, crc = crc32c(bytes.data(), 8);
  std::memcpy(&stored, bytes.data() + 8, 4);
  EXPECT_EQ(stored, ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
  EXPECT_THAT(bytes.substr(12, length), HasSubstr("brain.Event:2"));
}

// A resumed run's file starts with SessionLog{status: START} at its first
// step (Event field 7): TensorBoard then drops what earlier files logged at
// or after that step.
TEST(EventFile, AResumedRunsFileMarksARestartAtItsFirstStep) {
  testing::TempDir dir;
  EventWriter writer(dir.path(), 3);
  writer.flush();
  const std::string bytes = bytes_of(writer.file());
  std::uint64_t first;
  std::memcpy(&first, bytes.data(), 8);
  const std::string second = bytes.substr(8 + 4 + first + 4 + 12);
  EXPECT_NE(second.find(std::string("\x10\x03", 2)), std::string::npos);          // step = 3
  EXPECT_NE(second.find(std::string("\x3a\x02\x08\x01", 4)), std::string::npos);  // session_log: START
}

TEST(EventFile, ADamagedOrCutRecordIsNamed) {
  testing::TempDir dir;
  EventWriter writer(dir.path());
  writer.scalar("loss", 1, 1.0);
  writer.scalar("loss", 2, 0.5);
  writer.flush();
  const std::string good = bytes_of(writer.file());
  std::string flipped = good;
  flipped[flipped.size() - 6] ^= 0x20;  // inside the last record's message
  write_bytes(writer.file(), flipped);
  try {
    read_scalar_events(writer.file());
    FAIL() << "a damaged record was read";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("record 2: its message fails its checksum"));
  }
  write_bytes(writer.file(), good.substr(0, good.size() - 3));
  try {
    read_scalar_events(writer.file());
    FAIL() << "a cut record was read";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("record 2 is cut off"));
  }
}

}  // namespace
}  // namespace vggt_lab

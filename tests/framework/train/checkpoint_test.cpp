// Checkpoint folders as the trainer writes and reads them: pruning keeps the
// newest finite checkpoint, and loading passes over non-finite ones. (Damaged
// files and resumes go through `vggt-lab run` in tests/framework/cli/faults_test.cpp;
// a diverged checkpoint is hard to make there, hence this module test.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "support/support.hpp"
#include "train/checkpoint.hpp"

namespace vggt_lab::train {
namespace {

namespace fs = std::filesystem;

void save(const testing::TempDir& dir, std::int64_t step, bool finite) {
  const NamedTensors model{{"w", torch::full({2}, finite ? 1.0 : NAN)}};
  save_checkpoint(dir.path(), model, {}, {step, step, 1.0, 0, finite}, "{}", /*keep=*/1);
}

TEST(Checkpoints, TheNewestFiniteOneOutlivesNonFiniteOnesAndIsResumedFrom) {
  testing::TempDir dir;
  save(dir, 1, true);
  save(dir, 2, false);
  save(dir, 3, false);
  const fs::path root = dir.path() / "checkpoints";
  EXPECT_TRUE(fs::exists(root / "step-000001"));   // the newest finite one
  EXPECT_FALSE(fs::exists(root / "step-000002"));  // beyond keep = 1
  EXPECT_TRUE(fs::exists(root / "step-000003"));   // the newest
  const Checkpoint resumed = load_checkpoint(dir.path());
  EXPECT_EQ(resumed.state.step, 1);
  ASSERT_EQ(resumed.passed_over.size(), 1u);
  EXPECT_THAT(resumed.passed_over[0], ::testing::HasSubstr("step-000003 holds non-finite parameters"));
  save(dir, 4, true);  // finite again: the older finite one may go
  EXPECT_FALSE(fs::exists(root / "step-000001"));
  EXPECT_EQ(load_checkpoint(dir.path()).state.step, 4);
}

}  // namespace
}  // namespace vggt_lab::train

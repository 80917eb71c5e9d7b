// Named-tensor files: safetensors both ways, torch.save state dicts and the
// official trainer's checkpoints (tests/fixtures/checkpoints, written by
// Debian's python3-torch with make_checkpoints.py), and clear errors for
// broken files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "io/tensor_specs.hpp"
#include "support/support.hpp"
#include "vggt_lab/error.hpp"
#include "vggt_lab/tensor_io.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;

const std::string kFixtures = std::string(SOURCE_ROOT) + "/tests/fixtures/checkpoints/";

NamedTensors sample() {
  testing::seed(testing::Stream::inputs);
  return {{"a.weight", torch::randn({3, 4})},
          {"b.bias", torch::arange(5, torch::kLong)},
          {"c.half", torch::randn({2, 2}).to(torch::kBFloat16)}};
}

void expect_equal(const NamedTensors& a, const NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.scalar_type(), b[i].second.scalar_type()) << a[i].first;
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Safetensors, RoundTripKeepsNamesOrderTypesValuesAndMetadata) {
  testing::TempDir dir;
  auto file = dir.path() / "x.safetensors";
  save_safetensors(file, sample(), {{"format", "pt"}});
  TensorFile loaded = load_safetensors(file);
  expect_equal(loaded.tensors, sample());
  EXPECT_EQ(loaded.metadata.at("format"), "pt");
  expect_equal(load_state_dict_file(file), sample());
}

TEST(Safetensors, TruncatedOrGarbageFilesAreInputErrorsNamingTheFile) {
  testing::TempDir dir;
  auto file = dir.path() / "x.safetensors";
  save_safetensors(file, sample());
  std::filesystem::resize_file(file, std::filesystem::file_size(file) - 10);
  EXPECT_THAT(error_of([&] { load_safetensors(file); }),
              ::testing::AllOf(HasSubstr(file.string()), HasSubstr("lies outside the file")));
  std::string bytes(8, '\0');
  bytes[0] = 16;
  auto garbage = dir.write("g.safetensors", bytes + "{not json here!}");
  EXPECT_THAT(error_of([&] { load_safetensors(garbage); }), HasSubstr("header is not JSON"));
  auto tiny = dir.write("t.safetensors", "abc");
  EXPECT_THAT(error_of([&] { load_safetensors(tiny); }), HasSubstr("shorter than its 8-byte"));
  EXPECT_THAT(error_of([&] { load_state_dict_file(dir.path() / "missing.pt"); }),
              HasSubstr("cannot open"));
}

/// A safetensors file of one F32 tensor with this shape over 16 data bytes.
std::filesystem::path claiming(const testing::TempDir& dir, const std::string& shape) {
  std::string header = "{\"x\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[0,16]}}";
  std::uint64_t size = header.size();
  return dir.write("claim.safetensors", std::string(reinterpret_cast<const char*>(&size), 8) + header +
                                            std::string(16, '\0'));
}

TEST(Safetensors, ShapesAreCheckedAgainstTheFileBeforeAllocating) {
  testing::TempDir dir;
  // 40 GB if allocated: refused from the header alone.
  EXPECT_THAT(error_of([&] { load_safetensors(claiming(dir, "[100000, 100000]")); }),
              HasSubstr("has 16 bytes, not what its shape [100000, 100000] needs"));
  EXPECT_THAT(error_of([&] { load_safetensors(claiming(dir, "[-4, 1]")); }),
              HasSubstr("negative dimension -4"));
  EXPECT_EQ(load_safetensors(claiming(dir, "[2, 2]")).tensors.at(0).second.sizes(), (std::vector<int64_t>{2, 2}));
}

// What a checkpoint holds, read from its header alone: names and shapes (by
// name), and the same errors as reading it whole.
TEST(Safetensors, SpecsComeFromTheHeaderAlone) {
  testing::TempDir dir;
  auto file = dir.path() / "x.safetensors";
  save_safetensors(file, sample(), {{"format", "pt"}});
  const auto specs = safetensors_specs(file);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[0].name, "a.weight");
  EXPECT_EQ(specs[0].shape, (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(specs[1].shape, (std::vector<std::int64_t>{5}));
  EXPECT_EQ(specs[2].shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(safetensors_specs(claiming(dir, "[100000, 100000]")).at(0).shape,
            (std::vector<std::int64_t>{100000, 100000}));  // nothing allocated
  auto tiny = dir.write("t.safetensors", "abc");
  EXPECT_THAT(error_of([&] { safetensors_specs(tiny); }), HasSubstr("shorter than its 8-byte"));
  std::string bytes(8, '\0');
  bytes[1] = 1;  // a 256-byte header in a 24-byte file
  auto past = dir.write("p.safetensors", bytes + "{\"x\": 1} padding");
  EXPECT_THAT(error_of([&] { safetensors_specs(past); }),
              ::testing::AllOf(HasSubstr(past.string()), HasSubstr("header runs past the end")));
}

TEST(WeightFiles, FormatsAreToldByTheirFirstBytes) {
  testing::TempDir dir;
  auto text = dir.write("notes.pt", "these are not weights\n");
  EXPECT_THAT(error_of([&] { load_state_dict_file(text); }),
              HasSubstr("not a weight file; expected a safetensors file or a torch.save archive"));
  auto legacy = dir.write("old.pt", std::string("\x80\x02\x8a\x0alegacy pickle"));
  EXPECT_THAT(error_of([&] { load_state_dict_file(legacy); }), HasSubstr("a legacy torch.save file"));
  auto safetensors = dir.path() / "named.pt";  // the extension does not matter
  save_safetensors(safetensors, sample());
  expect_equal(load_state_dict_file(safetensors), sample());
}

TEST(TorchSave, ReadsAPlainStateDictAndATrainingCheckpointsModel) {
  NamedTensors plain = load_torch_state_dict(kFixtures + "state_dict.pt");
  NamedTensors nested = load_torch_state_dict(kFixtures + "checkpoint.pt");
  std::vector<std::string> names;
  for (const auto& [name, tensor] : plain) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"net.0.weight", "net.0.bias", "net.1.weight",
                                             "net.1.bias"}));
  EXPECT_EQ(plain[0].second.sizes(), (std::vector<int64_t>{4, 3}));
  expect_equal(plain, nested);
}

TEST(TorchSave, WrittenStateDictsReadBack) {
  testing::TempDir dir;
  auto file = dir.path() / "model.pt";
  save_torch_state_dict(file, sample());
  expect_equal(load_state_dict_file(file), sample());
}

TEST(TorchSave, CorruptZipIsAnInputError) {
  testing::TempDir dir;
  std::ifstream in(kFixtures + "state_dict.pt", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto file = dir.write("cut.pt", bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(error_of([&] { load_state_dict_file(file); }),
              ::testing::AllOf(HasSubstr(file.string()), HasSubstr("not a readable torch.save file")));
}

}  // namespace
}  // namespace vggt_lab

// The loader against purpose-built plugins: every gate and failure mode
// comes back as a PluginLoadError naming the file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "host/plugin_host.hpp"
#include "support/support.hpp"
#include "vggt_lab/abi.hpp"
#include "vggt_lab/placement.hpp"

namespace vggt_lab {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::test_plugin_dir;

SearchDir dir_of(const std::string& name) { return {test_plugin_dir(name), "test", true}; }

std::string load_error(PluginHost& host, const std::string& name) {
  try {
    host.load_path(dir_of(name));
  } catch (const PluginLoadError& e) {
    return e.what();
  }
  return "no error";
}

ModelGraph two_units() {
  ModelGraph graph;
  graph.units = {{"a", {}}, {"b", {}}};
  return graph;
}

TEST(PluginHost, LoadsAGoodPluginAndCreatesItWithOptions) {
  PluginHost host(nullptr);
  host.load_path(dir_of("test_good"));
  ASSERT_EQ(host.registry().names(Kind::placement), std::vector<std::string>{"test-good"});
  Options options;
  options.set("device", std::int64_t{3});
  auto placement = host.registry().create<Placement>("test-good", options, host.context());
  Plan plan = placement.call([&](Placement& p) { return p.place({two_units(), {}, {}}); });
  EXPECT_EQ(plan.strategy, "test-good");
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_EQ(plan.stages[0].device, 3);
  EXPECT_EQ(plan.stages[0].units, (std::vector<std::string>{"a", "b"}));
}

TEST(PluginHost, LoadingTheSameFileTwiceRegistersOnce) {
  PluginHost host(nullptr);
  host.load_path(dir_of("test_good"));
  host.load_path(dir_of("test_good"));
  EXPECT_EQ(host.libraries().size(), 1u);
}

TEST(PluginHost, RefusesAWrongApiVersionNamingFileBothVersionsAndFix) {
  PluginHost host(nullptr);
  EXPECT_THAT(load_error(host, "test_bad_api"),
              AllOf(HasSubstr("vggt_lab_plugin_test_bad_api.so"),
                    HasSubstr("plugin API version 999"), HasSubstr("expects " + std::to_string(VGGT_LAB_PLUGIN_API_VERSION)),
                    HasSubstr("rebuild the plugin")));
  EXPECT_TRUE(host.registry().list().empty());
}

TEST(PluginHost, RefusesAWrongFingerprintShowingBoth) {
  PluginHost host(nullptr);
  EXPECT_THAT(load_error(host, "test_bad_fingerprint"),
              AllOf(HasSubstr("vggt_lab_plugin_test_bad_fingerprint.so"),
                    HasSubstr("fingerprint mismatch"), HasSubstr("compiler=other;torch=0.0"),
                    HasSubstr(host_fingerprint()), HasSubstr("rebuild the plugin")));
}

TEST(PluginHost, RefusesALibraryWithoutEntrySymbol) {
  PluginHost host(nullptr);
  EXPECT_THAT(load_error(host, "test_no_entry"),
              AllOf(HasSubstr("vggt_lab_plugin_test_no_entry.so"),
                    HasSubstr("not a vggt-lab plugin"), HasSubstr("vggt_lab_plugin_entry")));
}

TEST(PluginHost, ReportsAThrowInRegisterAndRegistersNothing) {
  PluginHost host(nullptr);
  EXPECT_THAT(load_error(host, "test_throws_register"),
              AllOf(HasSubstr("vggt_lab_plugin_test_throws_register.so"),
                    HasSubstr("failed while registering"), HasSubstr("boom in register")));
  EXPECT_TRUE(host.registry().list().empty());
  EXPECT_TRUE(host.libraries().empty());
}

TEST(PluginHost, WrapsAThrowInCreateWithPluginNameAndFile) {
  PluginHost host(nullptr);
  host.load_path(dir_of("test_throws_create"));
  try {
    host.registry().create<Placement>("test-throws-create", {}, host.context());
    FAIL() << "create did not throw";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("placement plugin 'test-throws-create'"),
                                HasSubstr("vggt_lab_plugin_test_throws_create.so"),
                                HasSubstr("boom in create")));
  }
}

TEST(PluginHost, TwoLibrariesClaimingOneNameIsAnErrorNamingBoth) {
  PluginHost host(nullptr);
  host.load_path(dir_of("test_dup_a"));
  EXPECT_THAT(load_error(host, "test_dup_b"),
              AllOf(HasSubstr("'test-dup'"), HasSubstr("vggt_lab_plugin_test_dup_a.so"),
                    HasSubstr("vggt_lab_plugin_test_dup_b.so")));
  EXPECT_EQ(host.libraries().size(), 1u);
}

TEST(PluginHost, OneLibraryMayRegisterSeveralPlugins) {
  PluginHost host(nullptr);
  host.load_path(dir_of("test_two_plugins"));
  EXPECT_EQ(host.registry().names(Kind::placement),
            (std::vector<std::string>{"test-two-a", "test-two-b"}));
  EXPECT_EQ(host.registry().names(Kind::gradient), std::vector<std::string>{"test-two-b"});
  EXPECT_EQ(host.libraries().size(), 1u);
}

TEST(PluginHost, ObjectOutlivesTheHostAndItsRegistry) {
  PluginObject<Placement> placement;
  {
    PluginHost host(nullptr);
    host.load_path(dir_of("test_good"));
    Options options;
    options.set("device", std::int64_t{1});
    placement = host.registry().create<Placement>("test-good", options, host.context());
  }
  Plan plan = placement.object->place({two_units(), {}, {}});
  EXPECT_EQ(plan.stages.at(0).device, 1);
}

TEST(PluginHost, UnknownPluginNameSuggestsTheNearest) {
  PluginHost host(nullptr);
  host.load_path(dir_of("test_good"));
  try {
    host.registry().get(Kind::placement, "test-god");
    FAIL() << "get did not throw";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("unknown placement plugin 'test-god'"),
                                HasSubstr("did you mean 'test-good'?")));
  }
}

TEST(PluginHost, MissingRequiredFolderIsAnInputErrorNamingItsOrigin) {
  PluginHost host(nullptr);
  EXPECT_THROW(
      {
        try {
          host.load_path({"/nonexistent/plugins", "--plugin-path", true});
        } catch (const InputError& e) {
          EXPECT_THAT(e.what(), AllOf(HasSubstr("/nonexistent/plugins"),
                                      HasSubstr("--plugin-path")));
          throw;
        }
      },
      InputError);
  host.load_path({"/nonexistent/plugins", "the built-in plugin folder", false});
}

TEST(PluginSearchPath, FollowsTheDocumentedOrderAndNeverTheCurrentFolder) {
  auto dirs = plugin_search_path({"/cli"}, {"/config"}, "/env1:/env2");
  ASSERT_EQ(dirs.size(), 5u);
  EXPECT_EQ(dirs[0].path, "/cli");
  EXPECT_EQ(dirs[1].path, "/config");
  EXPECT_EQ(dirs[2].path, "/env1");
  EXPECT_EQ(dirs[3].path, "/env2");
  EXPECT_EQ(dirs[4].path, default_plugin_dir());
  for (const auto& dir : dirs) EXPECT_NE(dir.path, std::filesystem::current_path());
}

}  // namespace
}  // namespace vggt_lab

// The built `single` plugin, loaded the way the host loads it.
#include <gtest/gtest.h>

#include "host/plugin_host.hpp"
#include "vggt_lab/placement.hpp"

namespace vggt_lab {
namespace {

TEST(SinglePlacement, PutsEveryUnitOnTheChosenDeviceInGraphOrder) {
  PluginHost host(nullptr);
  host.load_path({default_plugin_dir(), "built-in", true});
  Options options;
  options.set("device", std::int64_t{1});
  auto single = host.registry().create<Placement>("single", options, host.context());
  ModelGraph graph;
  graph.units = {{"a", {}}, {"b", {}}, {"c", {}}};
  graph.edges = {{"t", "a", "c", 4}};
  Topology topology{{{0, "cpu", 0}, {1, "cpu", 0}}};
  Plan plan = single.call([&](Placement& p) { return p.place({graph, topology, {}}); });
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_EQ(plan.stages[0].device, 1);
  EXPECT_EQ(plan.stages[0].units, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(check_plan(graph, topology, plan).empty());
}

TEST(SinglePlacement, ADeviceOutsideTheTopologyIsAnInputErrorNamingThePlugin) {
  PluginHost host(nullptr);
  host.load_path({default_plugin_dir(), "built-in", true});
  Options options;
  options.set("device", std::int64_t{3});
  auto single = host.registry().create<Placement>("single", options, host.context());
  Topology topology{{{0, "cpu", 0}}};
  EXPECT_THROW(single.call([&](Placement& p) { return p.place({{}, topology, {}}); }), InputError);
}

}  // namespace
}  // namespace vggt_lab

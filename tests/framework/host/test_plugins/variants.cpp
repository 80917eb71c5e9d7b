// One source, several broken or unusual plugin libraries, chosen by
// TEST_VARIANT at compile time (see tests/CMakeLists.txt).
#include <stdexcept>
#include <vggt_lab/optim.hpp>
#include <vggt_lab/placement.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

class Trivial : public vggt_lab::Placement {
 public:
  vggt_lab::Plan place(const vggt_lab::PlacementProblem&) const override {
    return {};
  }
};

/// Every unit on device 0, under a schedule nobody knows, with no micro-batch.
class UnknownSchedule : public vggt_lab::Placement {
 public:
  vggt_lab::Plan place(const vggt_lab::PlacementProblem& problem) const override {
    vggt_lab::Plan plan{"test-unknown-schedule", {{0, {}}}, 0, "gpipe2", {}};
    for (const auto& unit : problem.graph.units) plan.stages[0].units.push_back(unit.name);
    return plan;
  }
};

/// Two stages, the units halved in graph order, on devices 0 and 1, under a
/// schedule of its own: 1F1B written out as each device's list.
class CustomSchedule : public vggt_lab::Placement {
 public:
  vggt_lab::Plan place(const vggt_lab::PlacementProblem& problem) const override {
    using vggt_lab::Pass;
    vggt_lab::Plan plan{"test-custom-schedule", {{0, {}}, {1, {}}}, 2, "custom", {}};
    const auto& units = problem.graph.units;
    for (std::size_t i = 0; i < units.size(); ++i) plan.stages[2 * i < units.size() ? 0 : 1].units.push_back(units[i].name);
    plan.device_actions = {{{0, Pass::forward, 0}, {0, Pass::forward, 1}, {0, Pass::backward, 0}, {0, Pass::backward, 1}},
                           {{1, Pass::forward, 0}, {1, Pass::backward, 0}, {1, Pass::forward, 1}, {1, Pass::backward, 1}}};
    return plan;
  }
};
class NoPolicy : public vggt_lab::GradientPolicy {
 public:
  vggt_lab::PolicyDecision apply(const std::vector<vggt_lab::NamedParameter>&) const override { return {}; }
};

class Crashing : public vggt_lab::Placement {
 public:
  vggt_lab::Plan place(const vggt_lab::PlacementProblem&) const override {
    volatile int* nowhere = nullptr;
    *nowhere = 1;
    return {};
  }
};

vggt_lab::PluginInfo info(const char* name) {
  vggt_lab::PluginInfo out;
  out.name = name;
  out.version = "0.1";
  out.summary = "test plugin";
  return out;
}

vggt_lab::Factory<vggt_lab::Placement> trivial_factory() {
  return [](const vggt_lab::Options&, const vggt_lab::PluginContext&) {
    return std::make_unique<Trivial>();
  };
}

void register_plugins(vggt_lab::Registrar& registrar) {
#if TEST_VARIANT == 1  // throws in register
  (void)registrar;
  throw std::runtime_error("boom in register");
#elif TEST_VARIANT == 2  // throws in create
  registrar.add<vggt_lab::Placement>(
      info("test-throws-create"),
      [](const vggt_lab::Options&,
         const vggt_lab::PluginContext&) -> std::unique_ptr<vggt_lab::Placement> {
        throw std::runtime_error("boom in create");
      });
#elif TEST_VARIANT == 3 || TEST_VARIANT == 4  // two libraries claim one name
  registrar.add<vggt_lab::Placement>(info("test-dup"), trivial_factory());
#elif TEST_VARIANT == 9  // crashes while placing
  registrar.add<vggt_lab::Placement>(info("test-crash"), [](const vggt_lab::Options&, const vggt_lab::PluginContext&) {
    return std::make_unique<Crashing>();
  });
#elif TEST_VARIANT == 10  // returns a schedule nobody knows
  registrar.add<vggt_lab::Placement>(info("test-unknown-schedule"),
                                     [](const vggt_lab::Options&, const vggt_lab::PluginContext&) {
                                       return std::make_unique<UnknownSchedule>();
                                     });
#elif TEST_VARIANT == 11  // brings its own schedule
  registrar.add<vggt_lab::Placement>(info("test-custom-schedule"),
                                     [](const vggt_lab::Options&, const vggt_lab::PluginContext&) {
                                       return std::make_unique<CustomSchedule>();
                                     });
#elif TEST_VARIANT == 5  // one library, two placements and a gradient policy named as one of them
  registrar.add<vggt_lab::Placement>(info("test-two-a"), trivial_factory());
  registrar.add<vggt_lab::Placement>(info("test-two-b"), trivial_factory());
  registrar.add<vggt_lab::GradientPolicy>(info("test-two-b"), [](const vggt_lab::Options&, const vggt_lab::PluginContext&) {
    return std::make_unique<NoPolicy>();
  });
#else
  registrar.add<vggt_lab::Placement>(info("test-variant"), trivial_factory());
#endif
}

}  // namespace

#if TEST_VARIANT == 6  // wrong API version
extern "C" __attribute__((visibility("default"))) const VggtLabPluginDescriptor*
vggt_lab_plugin_entry() {
  static const VggtLabPluginDescriptor d{999, sizeof(VggtLabPluginDescriptor), "placement",
                                         "bad-api", "0.1", VGGT_LAB_BUILD_FINGERPRINT,
                                         &register_plugins};
  return &d;
}
#elif TEST_VARIANT == 7  // wrong fingerprint
extern "C" __attribute__((visibility("default"))) const VggtLabPluginDescriptor*
vggt_lab_plugin_entry() {
  static const VggtLabPluginDescriptor d{VGGT_LAB_PLUGIN_API_VERSION,
                                         sizeof(VggtLabPluginDescriptor), "placement",
                                         "bad-fingerprint", "0.1", "compiler=other;torch=0.0",
                                         &register_plugins};
  return &d;
}
#elif TEST_VARIANT == 8  // no entry symbol at all
extern "C" __attribute__((visibility("default"))) int not_a_vggt_lab_entry() { return 0; }
#else
VGGT_LAB_PLUGIN("placement", "test-variant", "0.1", register_plugins)
#endif

#pragma once
// The placement interface: a pure function of (graph with costs, topology,
// memory model, the plugin's own options). Everything that touches devices
// lives in the runtime, not here.
#include "vggt_lab/export.hpp"
#include "vggt_lab/kind.hpp"
#include "vggt_lab/memory.hpp"
#include "vggt_lab/plan.hpp"

namespace vggt_lab {

/// What a placement decides from.
struct PlacementProblem {
  ModelGraph graph;    // units in a topological order, edges with byte sizes, unit costs
  Topology topology;   // logical devices with capacities
  MemoryModel memory;  // how training holds memory: judge plans with predicted_memory()
};

class VGGT_LAB_API Placement {
 public:
  static constexpr Kind kKind = Kind::placement;
  virtual ~Placement();
  virtual Plan place(const PlacementProblem& problem) const = 0;
};

}  // namespace vggt_lab

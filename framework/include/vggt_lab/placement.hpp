#pragma once
// The placement interface: a pure function of (graph, topology, options).
// Everything that touches devices lives in the runtime, not here.
#include "vggt_lab/export.hpp"
#include "vggt_lab/kind.hpp"
#include "vggt_lab/plan.hpp"

namespace vggt_lab {

class VGGT_LAB_API Placement {
 public:
  static constexpr Kind kKind = Kind::placement;
  virtual ~Placement();
  virtual Plan place(const ModelGraph& graph, const Topology& topology) const = 0;
};

}  // namespace vggt_lab

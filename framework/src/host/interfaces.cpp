// Out-of-line destructors of the SDK's interfaces: their type information
// has one home, the core library.
#include "vggt_lab/data.hpp"
#include "vggt_lab/model.hpp"
#include "vggt_lab/optim.hpp"
#include "vggt_lab/placement.hpp"
#include "vggt_lab/registrar.hpp"

namespace vggt_lab {

Registrar::~Registrar() = default;
Placement::~Placement() = default;
Model::~Model() = default;
ModelInstance::~ModelInstance() = default;
FrameGroup::~FrameGroup() = default;
DataSource::~DataSource() = default;
OptimizerState::~OptimizerState() = default;
Optimizer::~Optimizer() = default;
GradientPolicy::~GradientPolicy() = default;

}  // namespace vggt_lab

#pragma once
// VGGT as placeable units: "embed" (normalisation, patch embedder, special
// tokens), "block.<j>" (group j: aa_block_size frame blocks and as many
// global blocks, in aa_order; with the defaults, frame block j then global
// block j), and one unit per head. Edges carry "images", "query",
// "tokens.<j>" (input of group j, [B, S, P, C]) and "layer.<i>" (layer i's
// output that heads read, [B, S, P, 2C]): frames in dimension 1, as frame
// parallelism wants them.
#include <vggt_lab/model.hpp>

#include "modules/vggt.hpp"

namespace vggt_plugin {

/// The unit that owns a state-dict key (or buffer name).
std::string unit_of(const std::string& key, const VggtConfig& config);

/// Unit names in graph order.
std::vector<std::string> unit_names(const VggtConfig& config);

/// Runs one unit on the tensors its incoming edges name; `frames` for a
/// frame-wise unit on a shard of the frames (null otherwise).
vggt_lab::TensorMap run_unit(Vggt& model, const std::string& unit, const vggt_lab::TensorMap& inputs,
                             const vggt_lab::InputShape& shape, vggt_lab::FrameGroup* frames);

/// The shape of a step's inputs ("images" [B,S,3,H,W], optional "query").
vggt_lab::InputShape shape_of(const vggt_lab::TensorMap& inputs);

/// The graph for inputs of this shape, with analytic costs under
/// `checkpointing` (see graph.cpp).
vggt_lab::ModelGraph vggt_graph(const VggtConfig& config, const vggt_lab::InputShape& shape,
                                const vggt_lab::Checkpointing& checkpointing);

/// Marks the transformer blocks and DPT heads of the units `checkpointing`
/// names for recomputation in backward (only while training).
void set_checkpointing(Vggt& model, const vggt_lab::Checkpointing& checkpointing);

}  // namespace vggt_plugin

#include "modules/layers.hpp"

#include <vggt_lab/compat.hpp>
#include <vggt_lab/model.hpp>

namespace vggt_plugin {

namespace F = torch::nn::functional;

torch::Tensor Rope2D::rotate_1d(const torch::Tensor& tokens, const torch::Tensor& positions,
                                int64_t max_position) const {
  const int64_t dim = tokens.size(-1);
  auto exponents = torch::arange(0, dim, 2, tokens.options().dtype(torch::kFloat)) / double(dim);
  auto inv_freq = 1.0 / torch::pow(frequency_, exponents);
  auto steps = torch::arange(max_position, inv_freq.options());
  auto angles = torch::outer(steps, inv_freq).to(tokens.scalar_type());
  angles = torch::cat({angles, angles}, -1);
  auto cos = F::embedding(positions, angles.cos()).unsqueeze(1);
  auto sin = F::embedding(positions, angles.sin()).unsqueeze(1);
  auto halves = tokens.chunk(2, -1);
  auto rotated = torch::cat({-halves[1], halves[0]}, -1);
  return tokens * cos + rotated * sin;
}

torch::Tensor Rope2D::apply(const torch::Tensor& tokens, const torch::Tensor& positions) const {
  int64_t max_position = positions.max().item<int64_t>() + 1;
  auto parts = tokens.chunk(2, -1);
  auto y = rotate_1d(parts[0], positions.select(-1, 0), max_position);
  auto x = rotate_1d(parts[1], positions.select(-1, 1), max_position);
  return torch::cat({y, x}, -1);
}

torch::Tensor patch_positions(int64_t batch, int64_t h, int64_t w, int64_t special,
                              const torch::Device& device) {
  auto options = torch::TensorOptions().dtype(torch::kLong).device(device);
  auto grid = torch::cartesian_prod({torch::arange(h, options), torch::arange(w, options)}) + 1;
  auto positions = torch::cat({torch::zeros({special, 2}, options), grid.view({h * w, 2})}, 0);
  return positions.unsqueeze(0).expand({batch, -1, -1}).contiguous();
}

MlpImpl::MlpImpl(int64_t in, int64_t hidden, int64_t out) {
  fc1 = register_module("fc1", torch::nn::Linear(in, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, out));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(x))); }

LayerScaleImpl::LayerScaleImpl(int64_t dim, double init_values) {
  gamma = register_parameter("gamma", torch::full({dim}, init_values));
}

void trunc_normal_(torch::Tensor tensor, double std, double a, double b) {
  torch::NoGradGuard no_grad;
  auto cdf = [](double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; };
  double low = cdf(a / std), high = cdf(b / std);
  tensor.uniform_(2 * low - 1, 2 * high - 1).erfinv_().mul_(std * std::sqrt(2.0)).clamp_(a, b);
}

torch::nn::LayerNorm layer_norm(int64_t dim, double eps, bool affine) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps).elementwise_affine(affine));
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                       bool bias) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(bias));
}

torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t h, int64_t w) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{h, w})
                               .mode(torch::kBilinear)
                               .align_corners(true));
}

AttentionImpl::AttentionImpl(const BlockOptions& o)
    : num_heads(o.num_heads), head_dim(o.dim / o.num_heads), rope(o.rope) {
  qkv = register_module("qkv", torch::nn::Linear(o.dim, 3 * o.dim));
  if (o.qk_norm) {
    q_norm = register_module("q_norm", layer_norm(head_dim));
    k_norm = register_module("k_norm", layer_norm(head_dim));
  }
  proj = register_module("proj", torch::nn::Linear(o.dim, o.dim));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& pos, vggt_lab::FrameGroup* frames) {
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2);
  auto qkv_heads = qkv(x).reshape({B, N, 3, num_heads, head_dim}).permute({2, 0, 3, 1, 4});
  auto q = qkv_heads[0], k = qkv_heads[1], v = qkv_heads[2];
  if (q_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  if (rope) {
    q = rope->apply(q, pos);
    k = rope->apply(k, pos);
  }
  if (frames) {  // [2, B, heads, tokens, head_dim], tokens frame-major
    auto kv = frames->all_gather(torch::stack({k, v}), 3);
    k = kv[0];
    v = kv[1];
  }
  auto out = at::scaled_dot_product_attention(q, k, v);
  return proj(out.transpose(1, 2).reshape({B, N, C}));
}

BlockImpl::BlockImpl(const BlockOptions& o) {
  norm1 = register_module("norm1", layer_norm(o.dim, o.norm_eps));
  attn = register_module("attn", Attention(o));
  if (o.init_values > 0) ls1 = register_module("ls1", LayerScale(o.dim, o.init_values));
  norm2 = register_module("norm2", layer_norm(o.dim, o.norm_eps));
  auto hidden = static_cast<int64_t>(static_cast<double>(o.dim) * o.mlp_ratio);
  mlp = register_module("mlp", Mlp(o.dim, hidden, o.dim));
  if (o.init_values > 0) ls2 = register_module("ls2", LayerScale(o.dim, o.init_values));
}

namespace {

struct Recompute : torch::CustomClassHolder {
  explicit Recompute(TensorFn f) : fn(std::move(f)) {}
  TensorFn fn;
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // The inputs come as a TensorList: Function::apply records a std::vector
  // of tensors as a non-tensor argument (its catch-all overload wins), and
  // then no gradient reaches them or anything before them.
  // The last input is a leaf that requires grad, so the outputs do even when
  // no real input does (frozen layers before): the parameters `fn` uses
  // still get their gradients.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                c10::intrusive_ptr<Recompute> recompute,
                                                at::TensorList inputs) {
    auto real = inputs.slice(0, inputs.size() - 1).vec();
    ctx->saved_data["fn"] = c10::IValue::make_capsule(recompute);
    ctx->save_for_backward(real);
    torch::NoGradGuard no_grad;
    return recompute->fn(real);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    auto recompute =
        c10::static_intrusive_pointer_cast<Recompute>(ctx->saved_data["fn"].toCapsule());
    std::vector<torch::Tensor> inputs;
    for (const auto& t : saved) {
      bool floating = t.defined() && t.is_floating_point();
      inputs.push_back(floating ? t.detach().requires_grad_(true) : t);
    }
    std::vector<torch::Tensor> outputs;
    {
      torch::AutoGradMode grad_mode(true);
      outputs = recompute->fn(inputs);
    }
    std::vector<torch::Tensor> roots, grads;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      if (outputs[i].requires_grad() && grad_outputs[i].defined()) {
        roots.push_back(outputs[i]);
        grads.push_back(grad_outputs[i]);
      }
    }
    if (!roots.empty()) torch::autograd::backward(roots, grads);
    torch::autograd::variable_list result{torch::Tensor()};
    for (const auto& t : inputs) result.push_back(t.defined() && t.requires_grad() ? t.grad() : torch::Tensor());
    result.emplace_back();  // the leaf that made the outputs require grad
    return result;
  }
};

}  // namespace

std::vector<torch::Tensor> checkpoint(TensorFn fn, const std::vector<torch::Tensor>& inputs) {
  // Undefined inputs (a block without positions) stay outside the function.
  std::vector<bool> defined;
  std::vector<torch::Tensor> given;
  for (const auto& t : inputs) {
    defined.push_back(t.defined());
    if (t.defined()) given.push_back(t);
  }
  TensorFn with_undefined = [fn = std::move(fn), defined,
                              autocast = vggt_lab::compat::AutocastState::current()](
                                 const std::vector<torch::Tensor>& in) {
    vggt_lab::compat::AutocastAs as_in_forward(autocast);  // backward recomputes in the forward's precision
    std::vector<torch::Tensor> all;
    std::size_t k = 0;
    for (bool d : defined) all.push_back(d ? in[k++] : torch::Tensor());
    return fn(all);
  };
  given.push_back(torch::empty({0}, torch::requires_grad()));
  return CheckpointFunction::apply(c10::make_intrusive<Recompute>(std::move(with_undefined)), at::TensorList(given));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& pos, vggt_lab::FrameGroup* frames) {
  if (!checkpointing || !is_training() || !torch::GradMode::is_enabled()) return compute(x, pos, frames);
  return checkpoint([this, frames](const std::vector<torch::Tensor>& in) {
                      return std::vector<torch::Tensor>{compute(in[0], in[1], frames)};
                    },
                    {x, pos})[0];
}

torch::Tensor BlockImpl::compute(const torch::Tensor& x, const torch::Tensor& pos, vggt_lab::FrameGroup* frames) {
  auto a = attn(norm1(x), pos, frames);
  auto y = x + (ls1 ? ls1(a) : a);
  auto m = mlp(norm2(y));
  return y + (ls2 ? ls2(m) : m);
}

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t dim, int64_t heads) : num_heads(heads) {
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * dim, dim}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * dim}));
  out_proj = register_module("out_proj", torch::nn::Linear(dim, dim));
  torch::nn::init::xavier_uniform_(in_proj_weight);
  torch::nn::init::zeros_(out_proj->bias);
}

torch::Tensor MultiheadAttentionImpl::forward(const torch::Tensor& query, const torch::Tensor& key,
                                              const torch::Tensor& value) {
  const int64_t B = query.size(0), L = query.size(1), E = query.size(2);
  const int64_t head_dim = E / num_heads;
  auto w = in_proj_weight.chunk(3, 0);
  auto b = in_proj_bias.chunk(3, 0);
  auto split = [&](const torch::Tensor& t, int i) {
    return F::linear(t, w[i], b[i]).view({B, t.size(1), num_heads, head_dim}).transpose(1, 2);
  };
  auto out = at::scaled_dot_product_attention(split(query, 0), split(key, 1),
                                                            split(value, 2));
  return out_proj(out.transpose(1, 2).reshape({B, L, E}));
}

}  // namespace vggt_plugin

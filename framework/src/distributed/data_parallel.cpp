#define USE_C10D_GLOO 1
#include "distributed/data_parallel.hpp"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if VGGT_LAB_WITH_CUDA
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <cstdlib>
#include <future>
#include <map>
#include <thread>

#include "distributed/reducer.hpp"
#include "host/launcher.hpp"
#include "vggt_lab/error.hpp"

namespace vggt_lab::distributed {
namespace {

std::chrono::milliseconds millis(double seconds) { return std::chrono::milliseconds(std::int64_t(seconds * 1000)); }

/// Runs of tensors of one type, each at most `cap_mb` (a larger tensor alone).
std::vector<std::vector<torch::Tensor>> coalesced(const std::vector<torch::Tensor>& tensors, double cap_mb) {
  std::map<c10::ScalarType, std::vector<std::vector<torch::Tensor>>> by_type;
  std::map<c10::ScalarType, std::int64_t> bytes;
  const std::int64_t cap = std::int64_t(cap_mb * 1024 * 1024);
  for (const auto& t : tensors) {
    auto& runs = by_type[t.scalar_type()];
    const std::int64_t size = t.numel() * std::int64_t(t.element_size());
    if (runs.empty() || (!runs.back().empty() && bytes[t.scalar_type()] + size > cap)) {
      runs.emplace_back();
      bytes[t.scalar_type()] = 0;
    }
    runs.back().push_back(t);
    bytes[t.scalar_type()] += size;
  }
  std::vector<std::vector<torch::Tensor>> out;
  for (auto& [type, runs] : by_type) out.insert(out.end(), runs.begin(), runs.end());
  return out;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& run, torch::Device device) {
  std::vector<torch::Tensor> parts;
  for (const auto& t : run) parts.push_back(t.detach().reshape(-1).to(device));
  return torch::cat(parts);
}

}  // namespace

World world_from_env() {
  World w;
  const auto ranks = launched_ranks();
  if (!ranks) return w;
  w.launcher = ranks->launcher;
  w.size = ranks->size;
  w.rank = ranks->rank;
  w.local_rank = ranks->local_rank;
  w.local_size = ranks->local_size;
  if (const char* addr = std::getenv("MASTER_ADDR")) w.master_addr = addr;
  w.master_port = env_int("MASTER_PORT", w.master_port);
  if (w.size < 1 || w.rank >= w.size) {
    throw InputError(ranks->rank_name + "=" + std::to_string(w.rank) + " is not below " + ranks->size_name + "=" +
                     std::to_string(w.size) + " (" + w.launcher + "); start the processes with `vggt-lab launch -n N`, "
                     "torchrun, mpirun or srun");
  }
  if (w.multi() && w.size > w.local_size && !std::getenv("MASTER_ADDR")) {
    throw InputError(std::to_string(w.size) + " ranks from " + w.launcher + ", " + std::to_string(w.local_size) +
                     " on this host: ranks on several hosts need MASTER_ADDR, rank 0's host (under SLURM: export "
                     "MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1))");
  }
  return w;
}

Settings settings_from(const Options& t, const std::string& device) {
  Settings s;
  const bool gpu = device != "cpu";
  s.backend = t.get<std::string>("backend");
  if (s.backend == "auto") s.backend = gpu ? "nccl" : "gloo";
  if (s.backend == "nccl" && !VGGT_LAB_WITH_CUDA) {
    throw InputError("[distributed] backend = \"nccl\" needs a CUDA build of vggt-lab; this build runs on CPUs: "
                     "use backend = \"gloo\" or \"auto\"");
  }
  if (s.backend == "nccl" && !gpu) {
    throw InputError("[distributed] backend = \"nccl\" needs the rank's devices on GPUs, and this run trains on the "
                     "CPU: use backend = \"gloo\" or \"auto\"");
  }
  s.device = s.backend == "nccl" ? device : "cpu";
  s.timeout_s = t.get<double>("timeout_s");
  s.bucket_cap_mb = t.get<double>("bucket_cap_mb");
  s.overlap = t.get<bool>("overlap");
  s.broadcast_buffers = t.get<bool>("broadcast_buffers");
  s.find_unused_parameters = t.get<bool>("find_unused_parameters");
  s.gradient_as_bucket_view = t.get<bool>("gradient_as_bucket_view");
  return s;
}

namespace {

/// The rendezvous store. A client's TCPStore waits for an answer without a
/// deadline when another program holds MASTER_PORT; this gives up after
/// timeout_s. (Rank 0 serves: a taken port fails at once.)
c10::intrusive_ptr<c10d::Store> connect_store(const World& world, double timeout_s) {
  c10d::TCPStoreOptions o;
  o.port = std::uint16_t(world.master_port);
  o.isServer = world.rank == 0;
  o.numWorkers = world.size;
  o.waitWorkers = true;
  o.timeout = millis(timeout_s);
  if (o.isServer) return c10::make_intrusive<c10d::TCPStore>(world.master_addr, o);
  auto connect = std::make_shared<std::packaged_task<c10::intrusive_ptr<c10d::Store>()>>(
      [address = world.master_addr, o] { return c10::make_intrusive<c10d::TCPStore>(address, o); });
  auto store = connect->get_future();
  std::thread([connect] { (*connect)(); }).detach();  // left blocked if it never answers
  if (store.wait_for(std::chrono::duration<double>(timeout_s)) != std::future_status::ready) {
    throw Error("rank " + std::to_string(world.rank) + ": the rendezvous at " + world.master_addr + ":" +
                std::to_string(world.master_port) + " got no answer within [distributed] timeout_s = " +
                std::to_string(int(timeout_s)) + " s; is another program listening on that port? start the ranks "
                "with a free MASTER_PORT");
  }
  return store.get();
}

/// Gloo's network interface: GLOO_SOCKET_IFNAME as torch reads it, else
/// loopback for ranks of one machine and the hostname's address otherwise.
std::shared_ptr<::gloo::transport::Device> gloo_device(const World& world) {
  if (const char* name = std::getenv("GLOO_SOCKET_IFNAME"); name && *name) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(name);
  }
  return world.local_size == world.size ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                        : c10d::ProcessGroupGloo::createDefaultDevice();
}

/// NCCL in CUDA builds; settings_from() checked `backend`.
c10::intrusive_ptr<c10d::Backend> make_group(const Settings& settings, const World& world,
                                             const c10::intrusive_ptr<c10d::Store>& store) {
#if VGGT_LAB_WITH_CUDA
  if (settings.backend == "nccl") {
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = millis(settings.timeout_s);
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, world.rank, world.size, options);
  }
#endif
  auto options = c10d::ProcessGroupGloo::Options::create(millis(settings.timeout_s));
  options->devices.push_back(gloo_device(world));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, world.rank, world.size, options);
}

}  // namespace

struct DataParallel::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;
};

DataParallel::DataParallel(World world, Settings settings, c10::intrusive_ptr<c10d::Store> store)
    : world_(std::move(world)), settings_(std::move(settings)), device_(settings_.device),
      group_(std::make_unique<Group>()) {
  collective("rendezvous", [&] {
    if (!store) store = connect_store(world_, settings_.timeout_s);
    group_->store = store;
    group_->pg = make_group(settings_, world_, store);
  });
}

DataParallel::~DataParallel() = default;

c10d::Backend& DataParallel::backend() { return *group_->pg; }

void DataParallel::collective(const char* what, const std::function<void()>& run) {
  try {
    run();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    fail(what, e.what_without_backtrace());
  } catch (const std::exception& e) {
    fail(what, e.what());
  }
}

void DataParallel::fail(const char* what, const std::string& why) const {
  throw Error("rank " + std::to_string(world_.rank) + " of " + std::to_string(world_.size) + ": " + what +
              " failed: " + why + "\nanother rank probably exited or hung for longer than [distributed] timeout_s = " +
              std::to_string(int(settings_.timeout_s)) + " s; see that rank's log (rank<r>.log in the run folder)");
}

std::string DataParallel::share(const std::string& key, const std::string& value) {
  std::string out = value;
  collective("sharing a setting", [&] {
    const std::string name = "vggt_lab/" + key;
    if (world_.rank == 0) {
      group_->store->set(name, std::vector<std::uint8_t>(value.begin(), value.end()));
    } else {
      auto bytes = group_->store->get(name);
      out.assign(bytes.begin(), bytes.end());
    }
  });
  return out;
}

void DataParallel::broadcast(torch::nn::Module& module) {
  collective("broadcasting parameters", [&] {
    std::vector<torch::Tensor> data;
    for (auto& p : module.parameters()) data.push_back(p.data());
    broadcast_coalesced(data);
  });
  if (settings_.broadcast_buffers) broadcast_buffers(module);
}

void DataParallel::broadcast_buffers(torch::nn::Module& module) {
  collective("broadcasting buffers", [&] { broadcast_coalesced(module.buffers()); });
}

void DataParallel::broadcast_coalesced(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (const auto& run : coalesced(tensors, settings_.bucket_cap_mb)) {
    std::vector<at::Tensor> one{flatten(run, device_)};
    group_->pg->broadcast(one)->wait();
    if (world_.rank == 0) continue;
    std::int64_t offset = 0;
    for (const auto& t : run) {
      torch::Tensor(t).copy_(one[0].narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  }
}

int DataParallel::average_gradients(std::vector<NamedParameter>& parameters) {
  std::vector<torch::Tensor> after_backward;
  for (const auto& p : parameters) after_backward.push_back(p.tensor);
  Reducer reducer(*this, parameters, after_backward);
  reducer.start_step();
  return reducer.finish().buckets;
}

std::vector<double> DataParallel::average(const std::vector<double>& values) {
  torch::Tensor t = torch::tensor(values, torch::kFloat64).to(device_);
  collective("averaging metrics", [&] {
    std::vector<at::Tensor> one{t};
    group_->pg->allreduce(one)->wait();
  });
  t = t.div(double(world_.size)).cpu();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

void DataParallel::check_replicas(const std::vector<NamedParameter>& parameters) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> mine;
  for (const auto& p : parameters) mine.push_back(p.tensor.detach().to(torch::kCPU).clone());
  std::vector<torch::Tensor> reference;
  for (const auto& t : mine) reference.push_back(t.clone());
  collective("comparing replicas", [&] { broadcast_coalesced(reference); });
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    if (!torch::equal(mine[i], reference[i])) {
      throw Error("rank " + std::to_string(world_.rank) + ": parameter '" + parameters[i].name +
                  "' differs from rank 0's; the replicas diverged (a nondeterministic op or a rank-dependent "
                  "gradient policy); report this with the run folder");
    }
  }
}

void DataParallel::barrier() {
  collective("barrier", [&] { group_->pg->barrier()->wait(); });
}

}  // namespace vggt_lab::distributed

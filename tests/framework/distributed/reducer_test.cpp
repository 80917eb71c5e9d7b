// Gradients averaged during backward (Reducer) against the mean of the
// ranks' own gradients computed apart: two ranks as threads of one process
// over a HashStore. Metric: max |g - g_mean| per parameter; tolerance 1e-6
// (fp32 sums of two values; the only difference allowed is none).
#include <gtest/gtest.h>
#include <functional>

#include "distributed/reducer.hpp"
#include "ranks.hpp"

namespace vggt_lab::distributed {
namespace {

constexpr double kTolerance = 1e-6;
constexpr int kRanks = 2;

/// A chain of four linear layers, equal on every rank.
struct Chain {
  std::vector<NamedParameter> parameters;
  Chain() {  // no random generator: the ranks are threads
    for (int i = 0; i < 4; ++i) {
      auto wave = [i](std::int64_t n) { return torch::sin(torch::arange(n, torch::kFloat) * (0.37 + i)) * 0.2; };
      parameters.push_back({"layer" + std::to_string(i) + ".weight", wave(64 * 64).reshape({64, 64}).requires_grad_()});
      parameters.push_back({"layer" + std::to_string(i) + ".bias", wave(64).requires_grad_()});
    }
  }
  /// One backward of a rank's input through the chain (a micro-batch).
  void backward(int rank, int pass) {
    torch::Tensor x = torch::full({8, 64}, 0.1 * (rank + 1) + 0.01 * pass);
    for (std::size_t i = 0; i < parameters.size(); i += 2) {
      x = torch::tanh(torch::addmm(parameters[i + 1].tensor, x, parameters[i].tensor));
    }
    x.square().sum().backward();
  }
  void clear() {
    for (auto& p : parameters) p.tensor.mutable_grad() = torch::Tensor();
  }
  std::vector<torch::Tensor> gradients() const {
    std::vector<torch::Tensor> out;
    for (const auto& p : parameters) out.push_back(p.tensor.grad().clone());
    return out;
  }
};

/// What one rank's step does: backward passes (and whatever comes after
/// them) given the rank and the step.
using Step = std::function<void(Chain&, int rank, int step)>;

struct Outcome {
  std::vector<std::vector<torch::Tensor>> averaged;  // per step
  std::vector<ReduceStats> stats;                   // per step
};

/// Runs `steps` steps on two ranks: the reduced gradients, and each rank's
/// own gradients (the same step run without reducing).
std::vector<Outcome> run(int steps, const Step& step, bool late_all = false, int late_index = -1,
                         const std::function<std::int64_t(int)>& key_of = [](int) { return 0; }) {
  Settings settings;
  settings.timeout_s = 60;
  settings.bucket_cap_mb = 0.02;  // 20 KiB: a bucket per layer or two
  std::vector<Outcome> out(kRanks);
  const auto errors = on_ranks(kRanks, settings, [&](DataParallel& dp, int rank) {
    Chain chain;
    std::vector<torch::Tensor> late;
    for (std::size_t i = 0; i < chain.parameters.size(); ++i) {
      if (late_all || int(i) == late_index) late.push_back(chain.parameters[i].tensor);
    }
    Reducer reducer(dp, chain.parameters, late);
    for (int s = 0; s < steps; ++s) {
      chain.clear();
      reducer.start_step(key_of(s));
      step(chain, rank, s);
      out[rank].stats.push_back(reducer.finish());
      out[rank].averaged.push_back(chain.gradients());
    }
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
  return out;
}

/// The mean over ranks of each rank's own gradients at `s`, computed apart.
std::vector<torch::Tensor> mean_of_ranks(const Step& step, int s) {
  std::vector<torch::Tensor> sum;
  for (int rank = 0; rank < kRanks; ++rank) {
    Chain chain;
    step(chain, rank, s);
    auto g = chain.gradients();
    if (sum.empty()) {
      sum = g;
    } else {
      for (std::size_t i = 0; i < g.size(); ++i) sum[i] = sum[i] + g[i];
    }
  }
  for (auto& g : sum) g = g / double(kRanks);
  return sum;
}

void expect_means(const std::vector<Outcome>& out, const Step& step) {
  for (int rank = 0; rank < kRanks; ++rank) {
    ASSERT_FALSE(out[rank].averaged.empty());
    for (std::size_t s = 0; s < out[rank].averaged.size(); ++s) {
      const auto mean = mean_of_ranks(step, int(s));
      for (std::size_t i = 0; i < mean.size(); ++i) {
        EXPECT_LE((out[rank].averaged[s][i] - mean[i]).abs().max().item<double>(), kTolerance)
            << "rank " << rank << " step " << s << " parameter " << i;
      }
    }
  }
}

// Two micro-batches a step: a bucket may start only after both accumulated.
TEST(Reducer, StartsBucketsDuringBackwardOnceTheirGradientsAreFinal) {
  const Step two_passes = [](Chain& c, int rank, int) {
    c.backward(rank, 0);
    c.backward(rank, 1);
  };
  const auto out = run(3, two_passes);
  expect_means(out, two_passes);
  for (int rank = 0; rank < kRanks; ++rank) {
    ASSERT_EQ(out[rank].stats.size(), 3u);
    EXPECT_TRUE(out[rank].stats[0].recounted);  // the first step counts and reduces after backward
    EXPECT_EQ(out[rank].stats[0].during_backward, 0);
    const ReduceStats& later = out[rank].stats[2];
    EXPECT_FALSE(later.recounted);
    EXPECT_GT(later.buckets, 3);
    EXPECT_EQ(later.during_backward, later.buckets);  // every bucket started in the second pass's backward
  }
}

// Step 2 gives rank 1 a third pass: buckets it started after two hold too
// little, so both ranks reduce again from the gradients.
TEST(Reducer, ReducesAgainWhenAGradientAccumulatesAfterItsBucketStarted) {
  const Step extra = [](Chain& c, int rank, int s) {
    c.backward(rank, 0);
    c.backward(rank, 1);
    if (s == 2 && rank == 1) c.backward(rank, 2);
  };
  const auto out = run(4, extra);
  expect_means(out, extra);
  for (int rank = 0; rank < kRanks; ++rank) {
    ASSERT_EQ(out[rank].stats.size(), 4u);
    EXPECT_FALSE(out[rank].stats[1].recounted);
    EXPECT_TRUE(out[rank].stats[2].recounted) << "rank " << rank;
  }
}

// Steps of two batch sizes, two and three micro-batches: each size counts
// its accumulations once (its first step reduces after backward), then its
// buckets start during backward.
TEST(Reducer, CountsAccumulationsPerKey) {
  const Step passes = [](Chain& c, int rank, int s) {
    for (int pass = 0; pass < 2 + s % 2; ++pass) c.backward(rank, pass);
  };
  const auto out = run(5, passes, false, -1, [](int s) { return std::int64_t(2 + s % 2); });
  expect_means(out, passes);
  for (int rank = 0; rank < kRanks; ++rank) {
    ASSERT_EQ(out[rank].stats.size(), 5u);
    for (int s = 0; s < 5; ++s) {
      EXPECT_EQ(out[rank].stats[s].recounted, s < 2) << "step " << s;
      if (s >= 2) EXPECT_EQ(out[rank].stats[s].during_backward, out[rank].stats[s].buckets) << "step " << s;
    }
  }
}

// A late parameter's gradient is completed after backward (as a frame
// group's copies are summed into it): its bucket waits for finish().
TEST(Reducer, ALateParametersBucketWaitsForTheGradientCompletedAfterBackward) {
  const int late = 1;  // layer0.bias
  const Step completed_after = [](Chain& c, int rank, int) {
    c.backward(rank, 0);
    torch::NoGradGuard no_grad;
    c.parameters[late].tensor.mutable_grad().add_(1.0 + rank);
  };
  const auto out = run(3, completed_after, false, late);
  expect_means(out, completed_after);
  for (int rank = 0; rank < kRanks; ++rank) {
    const ReduceStats& later = out[rank].stats[2];
    EXPECT_GT(later.during_backward, 0);
    EXPECT_LT(later.during_backward, later.buckets);
  }
}

TEST(Reducer, WithoutOverlapEveryBucketIsReducedAfterBackward) {
  const Step one = [](Chain& c, int rank, int) { c.backward(rank, 0); };
  const auto out = run(3, one, true);
  expect_means(out, one);
  for (const ReduceStats& s : out[0].stats) EXPECT_EQ(s.during_backward, 0);
}

}  // namespace
}  // namespace vggt_lab::distributed

#include "host/interrupt.hpp"

#include <unistd.h>

#include <csignal>

namespace vggt_lab {
namespace {

volatile std::sig_atomic_t g_signal = 0;
volatile std::sig_atomic_t g_announce = 0;

void on_signal(int signal) {
  if (g_signal != 0) {  // the second: as if no handler were installed
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  g_signal = signal;
  if (g_announce) {
    static const char message[] =
        "\nvggt-lab: stopping after this step, with a checkpoint; interrupt again to stop at once\n";
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, message, sizeof message - 1);
  }
}

}  // namespace

StopAfterStepOnInterrupt::StopAfterStepOnInterrupt(bool announce) {
  g_announce = announce ? 1 : 0;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &before_int_);
  sigaction(SIGTERM, &action, &before_term_);
}

StopAfterStepOnInterrupt::~StopAfterStepOnInterrupt() {
  sigaction(SIGINT, &before_int_, nullptr);
  sigaction(SIGTERM, &before_term_, nullptr);
}

int interrupt_signal() { return g_signal; }

}  // namespace vggt_lab

#include "host/interrupt.hpp"

#include <unistd.h>

#include <csignal>

namespace vggt_lab {
namespace {

volatile std::sig_atomic_t g_signal = 0;
const char* volatile g_announcement = nullptr;

void on_signal(int signal) {
  if (g_signal != 0) {  // the second: as if no handler were installed
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  g_signal = signal;
  if (const char* text = g_announcement) {
    std::size_t length = 0;
    while (text[length] != '\0') ++length;
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, text, length);
  }
}

}  // namespace

StopOnInterrupt::StopOnInterrupt(const char* announcement) {
  g_announcement = announcement;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &before_int_);
  sigaction(SIGTERM, &action, &before_term_);
}

StopOnInterrupt::~StopOnInterrupt() {
  sigaction(SIGINT, &before_int_, nullptr);
  sigaction(SIGTERM, &before_term_, nullptr);
}

int interrupt_signal() { return g_signal; }

}  // namespace vggt_lab

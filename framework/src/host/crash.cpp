#include "host/crash.hpp"

#include <dlfcn.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <string_view>

#include "host/registry.hpp"

namespace vggt_lab {
namespace {

thread_local const PluginOrigin* running = nullptr;

void say(std::string_view text) { (void)!::write(STDERR_FILENO, text.data(), text.size()); }

const char* signal_name(int signal) {
  switch (signal) {
    case SIGSEGV: return "segmentation fault";
    case SIGBUS: return "bus error";
    case SIGILL: return "illegal instruction";
    case SIGFPE: return "floating-point exception";
    default: return "fatal signal";
  }
}

/// The faulting instruction's address, where the platform tells it.
void* instruction(void* context) {
#if defined(__x86_64__)
  return reinterpret_cast<void*>(static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return reinterpret_cast<void*>(static_cast<ucontext_t*>(context)->uc_mcontext.pc);
#else
  (void)context;
  return nullptr;
#endif
}

void on_fatal(int signal, siginfo_t*, void* context) {
  say("\nfatal: ");
  say(signal_name(signal));
  if (const PluginOrigin* p = running) {
    say(" while running ");
    say(to_string(p->kind));
    say(" plugin '");
    say(p->name);
    say("' (");
    say(p->path);
    say(")");
  }
  Dl_info where{};
  if (void* pc = instruction(context); pc && dladdr(pc, &where) && where.dli_fname) {
    say("; the faulting instruction is in ");
    say(where.dli_fname);
  }
  say("\nthis is a bug in that code, not in the experiment; report it to the plugin's authors\n");
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

}  // namespace

void install_crash_handler() {
  struct sigaction action {};
  action.sa_sigaction = on_fatal;
  action.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) sigaction(signal, &action, nullptr);
}

PluginCallScope::PluginCallScope(const PluginOrigin& origin) : previous_(running) { running = &origin; }

PluginCallScope::~PluginCallScope() { running = previous_; }

}  // namespace vggt_lab

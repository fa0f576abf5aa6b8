// Misbehaving provider plug-ins for the robustness tests (issue 10), one source built in four
// variants, each registering one class named after its fault:
//   MISBEHAVE_THROW   "misbehave-throw":  conn_add throws std::runtime_error after K calls.
//   MISBEHAVE_HANG    "misbehave-hang":   conn_add never returns after K calls.
//   MISBEHAVE_CRASH   "misbehave-crash":  conn_add raises a signal after K calls (SIGSEGV, or the
//                                         number in CTSIM_MISBEHAVE_SIGNAL, e.g. 6 = SIGABRT).
//   MISBEHAVE_ERRORS  "misbehave-errors": conn_add always returns EIO; it never fails otherwise.
// K is CTSIM_MISBEHAVE_AFTER (default 3): the first K conn_add calls are accepted (return 0).
// Every class has all callbacks but batch_submit, so that the strict profile accepts it.
#include <ctsim/ct_offload.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

std::atomic<long> g_adds{0};  // conn_add calls so far.

long envLong(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return *end == '\0' ? n : fallback;
}

// True once the first K conn_add calls have been made (this call is number K + 1 or later).
bool misbehaveNow() { return g_adds.fetch_add(1) >= envLong("CTSIM_MISBEHAVE_AFTER", 3); }

int connAdd(const ct_offload_ctx*) {
#if defined(MISBEHAVE_THROW)
  if (misbehaveNow()) {
    throw std::runtime_error("injected failure after " +
                             std::to_string(envLong("CTSIM_MISBEHAVE_AFTER", 3)) +
                             " conn_add calls");
  }
#elif defined(MISBEHAVE_HANG)
  if (misbehaveNow()) {
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
#elif defined(MISBEHAVE_CRASH)
  if (misbehaveNow()) std::raise(static_cast<int>(envLong("CTSIM_MISBEHAVE_SIGNAL", SIGSEGV)));
#elif defined(MISBEHAVE_ERRORS)
  return EIO;
#endif
  return 0;
}
void connDel(const ct_offload_ctx*) {}
long long connUpdate(const ct_offload_ctx*) { return 0; }
void connEstablished(const ct_offload_ctx*) {}
bool canOffload(const ct_offload_ctx*) { return true; }
void flush() {}

#if defined(MISBEHAVE_THROW)
constexpr const char* kName = "misbehave-throw";
#elif defined(MISBEHAVE_HANG)
constexpr const char* kName = "misbehave-hang";
#elif defined(MISBEHAVE_CRASH)
constexpr const char* kName = "misbehave-crash";
#else
constexpr const char* kName = "misbehave-errors";
#endif

const ct_offload_class kClass = {kName,           nullptr,    connAdd, connDel, connUpdate,
                                 connEstablished, canOffload, flush,   nullptr};

}  // namespace

extern "C" CTSIM_PLUGIN_EXPORT uint32_t ctsim_plugin_abi_version(void) {
  return CTSIM_PLUGIN_ABI_VERSION;
}
extern "C" CTSIM_PLUGIN_EXPORT int ctsim_plugin_init(void) { return ct_offload_register(&kClass); }

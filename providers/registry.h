#pragma once
// ctsim::Registry: the set of registered offload providers of one simulated switch and the
// dispatch of conntrack events to them, following the rules of the OVS ct-offload RFC
// (facts §2) in a chosen profile.  The C functions of <ctsim/ct_offload.h> forward to the
// current registry (see currentRegistry()).
//
// Concurrency (RCU-like, no lock on dispatch): the provider list is an immutable Snapshot
// published through an atomic pointer.  Dispatch loads the pointer (acquire) and walks it.
// register/unregister serialise on a writer mutex, build a new Snapshot, publish it (release)
// and *retire* the old one into a list freed only when the Registry is destroyed; provider
// entries likewise live until then.  So a reader never sees freed memory, at the cost of one
// small snapshot (a vector of pointers) kept per registration change, which is fine for a
// testbed where registration changes are rare.  The Registry must outlive all dispatch calls.
//
// Profiles and the engine.  The engine may call connDel on every removal path in every profile:
// the registry applies the profile's gate (rfc-v1 dispatches always, rfc-v2 only for a marked
// connection, strict only to the providers that accepted it).  strict remembers acceptors as
// bits of conn::offload_acceptors, one slot per registered provider (at most 64 at once); a slot
// freed by unregistration is reused as late as possible (round robin), but a connection still
// carrying a departed provider's bit may reach a later provider holding the reused slot:
// unregister providers with no live offloaded connections (OVS: at module teardown only).

#include <ctsim/ct_offload.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "providers/latency_histogram.h"
#include "sim/status.h"

namespace ctsim {

// Which rules the registry follows.
enum class Profile {
  kRfcV1,   // The RFC as posted in v1.
  kRfcV2,   // v2: conn_del only for marked connections; UPD batch error EIO.
  kStrict,  // v2 with the registry defects of facts §5 fixed (§5.2, §5.4, §5.6).
};
const char* profileName(Profile p);  // "rfc-v1", "rfc-v2", "strict".
Result<Profile> parseProfile(std::string_view name);

// Callbacks of a provider class, also used to index the per-provider call counters.
enum class Callback : uint8_t {
  kInit,
  kConnAdd,
  kConnDel,
  kConnUpdate,
  kConnEstablished,
  kCanOffload,
  kFlush,
  kBatchSubmit,
};
inline constexpr int kCallbackCount = 8;
const char* callbackName(Callback c);  // The ct_offload_class field name, e.g. "conn_add".
using CallbackMask = uint32_t;         // Bit (1 << Callback) set when the callback is present.
inline constexpr CallbackMask bit(Callback c) { return 1u << static_cast<unsigned>(c); }

// How a provider failed.  A failed provider is never called again (see "Faults" at Registry).
enum class FaultKind : uint8_t {
  kNone,       // Not failed.
  kException,  // A C++ exception left a callback (caught at the registry's boundary).
  kTimeout,    // A callback did not return within the watchdog's limit (isolated providers).
  kCrash,      // The process running the provider died (isolated providers: signal or exit).
  kProtocol,   // An isolated provider's process answered something malformed.
};
const char* faultKindName(FaultKind k);  // "none", "exception", "timeout", "crash", "protocol".

// The first fault of a provider, as listed by Registry::providers().
struct ProviderFault {
  FaultKind kind = FaultKind::kNone;
  Callback callback = Callback::kInit;  // The callback that failed.
  std::string message;                  // E.g. "threw std::runtime_error: boom".
};

// "threw TYPE: what()" for the exception being handled; call it only inside a catch block.
std::string describeCurrentException();

// Sees each provider's answer as the registry dispatches callbacks one provider at a time (what
// batch_submit providers do inside their batch is not seen), for per-connection explanations.
// `index` is the provider's position in dispatch order; `result` is can_offload's answer (0/1),
// conn_add's error, conn_update's timestamp, 0 for conn_del; `reason` is what the provider
// passed to ctsim_offload_decline_reason() during that call, or nullptr.  Called on the
// dispatching thread, inside the dispatch; must not call back into the registry.
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  virtual void onProviderAnswer(size_t index, Callback cb, const ct_offload_ctx& ctx,
                                long long result, const char* reason) = 0;
};

// The C++ face of a provider.  A C struct ct_offload_class is wrapped by wrapClass(); built-in
// providers implement this directly so that each instance has its own state.  A method is only
// called when its bit is in callbacks(); the contracts are those of struct ct_offload_class.
class Provider {
 public:
  virtual ~Provider() = default;
  virtual const char* name() const = 0;  // May be nullptr (then registration fails, EINVAL).
  virtual CallbackMask callbacks() const = 0;
  // The wrapped C class, or nullptr for a C++ provider (ct_offload_unregister matches on it).
  virtual const ct_offload_class* cClass() const { return nullptr; }

  // ct_offload_class callbacks.
  virtual int init() { return 0; }
  virtual int connAdd(const ct_offload_ctx&) { return 0; }
  virtual void connDel(const ct_offload_ctx&) {}
  virtual long long connUpdate(const ct_offload_ctx&) { return 0; }
  virtual void connEstablished(const ct_offload_ctx&) {}
  virtual bool canOffload(const ct_offload_ctx&) { return false; }
  virtual void flush() {}
  virtual void batchSubmit(ct_offload_op_batch&) {}

  // For providers that detect their own failure without a C++ exception (the --isolate proxy:
  // its process crashed or timed out): marks this provider failed in the registry holding it,
  // as a caught exception would.  Call it from inside a callback, then return the neutral value
  // (0 / false).  A no-op while not registered.
  void reportFault(Callback c, FaultKind kind, const std::string& message) {
    if (fault_fn_ != nullptr) fault_fn_(fault_arg_, c, kind, message);
  }
  // True for providers that bound the duration of their own calls (the --isolate proxy): the
  // registry's watchdog (Registry::setWatchdog) leaves them alone.
  virtual bool boundsOwnCalls() const { return false; }

 private:
  friend class Registry;
  using FaultFn = void (*)(void* arg, Callback c, FaultKind kind, const std::string& message);
  FaultFn fault_fn_ = nullptr;  // Set by the registry at registration.
  void* fault_arg_ = nullptr;
};
// A Provider calling the callbacks of 'cls' (which must outlive it).
std::unique_ptr<Provider> wrapClass(const ct_offload_class* cls);

// Origins recorded per registered provider.
inline constexpr const char* kOriginBuiltin = "builtin";
inline constexpr const char* kOriginProgram = "program";  // ct_offload_register() by the host.

// A registered provider as listed by Registry::providers().
struct ProviderInfo {
  std::string name;
  std::string origin;  // kOriginBuiltin, kOriginProgram or the plug-in file path.
  CallbackMask callbacks = 0;
  std::array<uint64_t, kCallbackCount> calls{};  // Calls made, by Callback.
  // Wall-clock duration of the calls, by Callback (empty unless Registry::setTiming(true)).
  std::array<LatencySummary, kCallbackCount> latency{};
  ProviderFault fault;         // kind kNone unless the provider failed.
  uint64_t skipped_calls = 0;  // Calls not made because the provider had failed.
  uint64_t add_errors = 0;     // conn_add (and batch ADD) results other than 0.
  int first_add_error = 0;     // The first of them (an errno value), 0 if none.
};

// Faults.  Every call into a provider is guarded: a C++ exception leaving it is caught at this
// boundary (it never reaches the engine), and a provider may report its own failure
// (Provider::reportFault).  Either way the provider is marked failed - fault kind, callback and
// first message kept, a warning logged - and from then on it is treated as if it had been
// unregistered at that moment: no callback reaches it again (each call it would have received
// counts as skipped).  The failing call itself counts as no answer: conn_add neither accepted
// nor an error (so the connection's mark and other providers are as if it were absent),
// conn_update 0, can_offload false; batch_submit: the ops' results it may have written are
// ignored (strict) or overwritten (rfc profiles), as usual.  Connections it had accepted stay
// marked (the registry cannot enumerate them) and stay in software, where the engine keeps every
// connection anyway; their conn_del and conn_update no longer reach it.  init throwing refuses
// the registration (EIO).  An error returned by conn_add is not a fault: it is counted per
// provider (add_errors) and the provider keeps being called.
class Registry {
 public:
  explicit Registry(Profile profile = Profile::kRfcV1);
  // Frees every snapshot and provider: no dispatch may be running or start afterwards.
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Profile profile() const { return profile_; }

  struct Entry;  // A registered provider (defined and used in registry.cpp only).

  // ---- Registration (thread-safe, also concurrently with dispatch) ----
  // Rules of ct_offload_register(): name required (EINVAL), unique (EEXIST), strict mandatory
  // callbacks (EINVAL) and at most 64 classes (ENOSPC), init() run and its error returned.
  // 'origin' is recorded.  While a staging scope of this thread is open, the provider goes to
  // the staging list instead (see StagingScope).
  int registerProvider(std::unique_ptr<Provider> provider, std::string origin);
  int registerClass(const ct_offload_class* cls, std::string origin = kOriginProgram);
  // Removes the provider wrapping 'cls' / named 'name'; unknown ones are a logged no-op.
  void unregisterClass(const ct_offload_class* cls);
  void unregisterName(std::string_view name);

  // Plug-in loading: while a StagingScope is open, registrations made on its thread are held
  // aside, checked for name clashes against both lists, and invisible to dispatch; commit()
  // publishes them all at once, otherwise the destructor drops them (nothing stays registered).
  // One scope at a time per registry (others wait).
  class StagingScope {
   public:
    StagingScope(Registry& registry, std::string origin);
    ~StagingScope();
    void commit();
    std::vector<std::string> stagedNames() const;
    // Why registrations in this scope were refused (EEXIST, EINVAL, init failure...).
    std::vector<std::string> rejections() const;

   private:
    Registry& registry_;
    std::unique_lock<std::mutex> lock_;
    bool committed_ = false;
  };

  // ---- Dispatch (thread-safe; per-connection calls serialised by the caller) ----
  int connAdd(const ct_offload_ctx& ctx);
  void connDel(const ct_offload_ctx& ctx);
  long long connUpdate(const ct_offload_ctx& ctx);
  // 0, or EALREADY when the connection is not marked added (nothing called).
  int connEstablished(const ct_offload_ctx& ctx);
  bool canOffload(const ct_offload_ctx& ctx);
  void flush();
  void submit(ct_offload_op_batch& batch);

  // ---- Clock: "now" for providers (ctsim_now_ms), simulated time set by the engine ----
  using ClockFn = long long (*)(void* arg);
  // Not to be called concurrently with dispatch.  nullptr = frozen at 0 (the default).
  void setClock(ClockFn fn, void* arg);
  long long nowMs() const { return clock_ ? clock_(clock_arg_) : 0; }

  // ---- Measurement ----
  // Times every provider call (wall clock, steady_clock) into per-provider, per-callback
  // histograms, reported by providers(). Off by default (it costs two clock reads per call).
  // Not to be called concurrently with dispatch.
  void setTiming(bool on) { timing_ = on; }

  // ---- Watchdog for in-process calls ----
  // Called from the watchdog thread with the provider's name, the callback it was last called
  // in, and the limit.
  using HangFn = void (*)(void* arg, const std::string& provider, Callback c, int ms);
  // With ms > 0, a thread checks every ms/4 for a provider call (of a provider without
  // boundsOwnCalls()) that has run for more than ms: one still in flight ms after it was first
  // seen, with no call of that provider completing meanwhile (so there are no false alarms, but
  // a hang hidden among completing concurrent calls of the same provider goes unnoticed).  The
  // provider is then marked failed (kTimeout) and fn is called.  The hung call itself cannot be
  // abandoned - its thread, stack and locks are in the provider - so fn decides (`ctsim replay`
  // prints one line and exits).  0 stops the thread.  Not to be called concurrently with
  // dispatch or registration; the destructor stops the thread.
  void setWatchdog(int ms, HangFn fn, void* arg);
  // Reports every provider answer to `observer` (nullptr: none, the default).  Not to be called
  // concurrently with dispatch.
  void setCallObserver(CallObserver* observer) { observer_ = observer; }

  // ---- Diagnostics ----
  using LogFn = void (*)(void* arg, const std::string& message);
  // Where warnings go (default: stderr, "ctsim: warning: ..."); nullptr silences them.
  void setLogSink(LogFn fn, void* arg);
  uint64_t warnings() const { return warnings_.load(std::memory_order_relaxed); }
  void warn(const std::string& message);

  // The registered providers in dispatch (registration) order, with their call counters.
  std::vector<ProviderInfo> providers() const;
  size_t size() const;
  // The registered Provider objects in dispatch order (e.g. to find fast paths, fast_path.h).
  // Each stays valid until the Registry is destroyed, even if unregistered meanwhile.
  std::vector<Provider*> providerObjects() const;

 private:
  struct Snapshot {
    std::vector<Entry*> entries;  // Registration order.
  };

  int addLocked(std::unique_ptr<Provider> provider, std::string origin);
  // Marks 'e' failed (first fault wins) and logs it.  Thread-safe.
  void markFailed(Entry& e, Callback c, FaultKind kind, const std::string& message);
  static void onProviderFault(void* entry, Callback c, FaultKind kind, const std::string& message);
  // Runs fn() on a provider that has not failed, counted and timed, with exceptions caught:
  // its result, or nothing when the provider had failed (skipped) or fails during the call.
  // What guarded() needs to know, read once per dispatch rather than once per provider.
  struct CallState {
    int slot;       // The thread's counter slot (CounterSlots::mine()).
    bool timing;    // timing_.
    bool watchdog;  // watchdog_ms_ > 0: count returns for the watchdog.
  };
  CallState callState() const;
  template <class Fn>
  auto guarded(Entry& e, Callback c, const CallState& k, Fn&& fn) -> std::optional<decltype(fn())>;
  template <class Fn>
  auto plainGuarded(Entry& e, Callback c, int slot, Fn&& fn) -> std::optional<decltype(fn())>;
  // fn() with exceptions caught (the provider marked failed): its result, or nothing when it
  // threw or the provider reported its own fault during the call.
  template <class Fn>
  auto caught(Entry& e, Callback c, Fn&& fn) -> std::optional<decltype(fn())>;
  void publishLocked(std::vector<Entry*> entries);
  void removeIf(bool (*match)(const Entry&, const void*), const void* key, const char* what);
  const Snapshot* snapshot() const { return current_.load(std::memory_order_acquire); }

  // Internal dispatch over one snapshot.  'batched' skips providers with batch_submit.
  int addOne(const Snapshot& s, const ct_offload_ctx& ctx, bool batched, uint64_t pre_accept);
  void addGuarded(const Snapshot& s, const ct_offload_ctx& ctx, bool batched, const CallState& k,
                  CallObserver* observer, uint64_t& accepted, int& ret);
  void delOne(const Snapshot& s, const ct_offload_ctx& ctx, bool batched);
  long long updateOne(const Snapshot& s, const ct_offload_ctx& ctx, bool batched);
  int estOne(const Snapshot& s, const ct_offload_ctx& ctx, bool batched);
  bool canOne(const Snapshot& s, const ct_offload_ctx& ctx, bool batched);
  void flushOne(const Snapshot& s, bool batched);
  // What the batch providers answered per op of the caller's batch (strict only).
  struct BatchAnswers {
    std::vector<uint64_t> accepted;  // ADD: providers that accepted (their slot bits).
    std::vector<int> add_errors;     // ADD: the first error.
    std::vector<uint8_t> yes;        // POLICY: some said it can offload; UPD: some has a time.
  };
  void submitToBatchProviders(const Snapshot& s, ct_offload_op_batch& batch, BatchAnswers& a);

  const Profile profile_;
  std::atomic<const Snapshot*> current_;

  mutable std::mutex writer_mu_;  // Guards everything below (not the dispatch path).
  std::vector<std::unique_ptr<Snapshot>> snapshots_;  // Current and retired, freed at the end.
  std::vector<std::unique_ptr<Entry>> all_entries_;   // Registered and removed, ditto.
  uint64_t used_slots_ = 0;                           // Strict acceptance bits in use.
  unsigned next_slot_ = 0;                            // Round-robin start, delays slot reuse.

  std::mutex staging_mu_;             // Held by the open StagingScope.
  std::thread::id staging_thread_{};  // Owner of the open scope (guarded by writer_mu_).
  std::string staging_origin_;
  std::vector<std::unique_ptr<Entry>> staged_;
  std::vector<std::string> staging_rejections_;

  bool timing_ = false;               // Time provider calls (setTiming).
  CallObserver* observer_ = nullptr;  // Sees provider answers (setCallObserver).
  ClockFn clock_ = nullptr;
  void* clock_arg_ = nullptr;
  LogFn log_ = nullptr;
  void* log_arg_ = nullptr;
  bool log_default_ = true;
  std::atomic<uint64_t> warnings_{0};

  void watchdogLoop();
  int watchdog_ms_ = 0;
  HangFn hang_fn_ = nullptr;
  void* hang_arg_ = nullptr;
  std::mutex watchdog_mu_;  // Guards watchdog_stop_ (with watchdog_cv_).
  std::condition_variable watchdog_cv_;
  bool watchdog_stop_ = false;
  std::thread watchdog_;
};

// ---- The current registry, used by the C functions ----
// This thread's current registry: the one dispatching on this thread (during callbacks), else
// the one set by ScopedCurrentRegistry, else the process default; may be nullptr.
Registry* currentRegistry();
// Sets the process-wide default registry (nullptr to clear); returns the previous one.
Registry* setDefaultRegistry(Registry* r);
// Makes 'r' the current registry of this thread for the scope's lifetime, then restores.
class ScopedCurrentRegistry {
 public:
  explicit ScopedCurrentRegistry(Registry* r);
  ~ScopedCurrentRegistry();
  ScopedCurrentRegistry(const ScopedCurrentRegistry&) = delete;
  ScopedCurrentRegistry& operator=(const ScopedCurrentRegistry&) = delete;

 private:
  Registry* saved_;
};

namespace detail {
// The thread's explicitly set current registry (ScopedCurrentRegistry and dispatch use it).
// Inline: every dispatch sets and restores it.
inline thread_local Registry* thread_current = nullptr;
inline Registry*& threadCurrent() { return thread_current; }
// ctsim_offload_decline_reason()'s slot on this thread: armed by the registry around a
// can_offload/conn_add call that is observed, filled by the provider during it.
struct DeclineReasonSlot {
  bool armed = false;   // A call that may give a reason is running.
  bool set = false;     // The provider gave one.
  char text[128] = {};  // The reason, NUL-terminated (truncated).
};
DeclineReasonSlot& declineReasonSlot();
}  // namespace detail

}  // namespace ctsim

#include "providers/registry.h"

#include <cxxabi.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <typeinfo>
#include <unordered_map>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "providers/conn.h"

namespace ctsim {

const char* profileName(Profile p) {
  switch (p) {
    case Profile::kRfcV1:
      return "rfc-v1";
    case Profile::kRfcV2:
      return "rfc-v2";
    case Profile::kStrict:
      return "strict";
  }
  return "?";
}

Result<Profile> parseProfile(std::string_view name) {
  for (Profile p : {Profile::kRfcV1, Profile::kRfcV2, Profile::kStrict}) {
    if (name == profileName(p)) return p;
  }
  return Status(EINVAL,
                "unknown profile '" + std::string(name) + "' (expected rfc-v1, rfc-v2 or strict)");
}

const char* callbackName(Callback c) {
  static constexpr const char* kNames[kCallbackCount] = {
      "init",        "conn_add", "conn_del",    "conn_update", "conn_established",
      "can_offload", "flush",    "batch_submit"};
  return kNames[static_cast<int>(c)];
}

const char* faultKindName(FaultKind k) {
  switch (k) {
    case FaultKind::kNone:
      return "none";
    case FaultKind::kException:
      return "exception";
    case FaultKind::kTimeout:
      return "timeout";
    case FaultKind::kCrash:
      return "crash";
    case FaultKind::kProtocol:
      return "protocol";
  }
  return "?";
}

std::string describeCurrentException() {
  std::string type = "an exception of unknown type";
  std::string what;
  if (const std::type_info* t = abi::__cxa_current_exception_type()) {
    int rc = 0;
    char* name = abi::__cxa_demangle(t->name(), nullptr, nullptr, &rc);
    type = rc == 0 && name ? name : t->name();
    std::free(name);
  }
  try {
    throw;
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
  }
  return "threw " + type + (what.empty() ? "" : ": " + what);
}

namespace {

// Adapts a C struct ct_offload_class to Provider.
class CClassProvider final : public Provider {
 public:
  explicit CClassProvider(const ct_offload_class* c) : c_(c) {
    if (c->init) mask_ |= bit(Callback::kInit);
    if (c->conn_add) mask_ |= bit(Callback::kConnAdd);
    if (c->conn_del) mask_ |= bit(Callback::kConnDel);
    if (c->conn_update) mask_ |= bit(Callback::kConnUpdate);
    if (c->conn_established) mask_ |= bit(Callback::kConnEstablished);
    if (c->can_offload) mask_ |= bit(Callback::kCanOffload);
    if (c->flush) mask_ |= bit(Callback::kFlush);
    if (c->batch_submit) mask_ |= bit(Callback::kBatchSubmit);
  }

  // Provider:
  const char* name() const override { return c_->name; }
  CallbackMask callbacks() const override { return mask_; }
  const ct_offload_class* cClass() const override { return c_; }
  int init() override { return c_->init(); }
  int connAdd(const ct_offload_ctx& x) override { return c_->conn_add(&x); }
  void connDel(const ct_offload_ctx& x) override { c_->conn_del(&x); }
  long long connUpdate(const ct_offload_ctx& x) override { return c_->conn_update(&x); }
  void connEstablished(const ct_offload_ctx& x) override { c_->conn_established(&x); }
  bool canOffload(const ct_offload_ctx& x) override { return c_->can_offload(&x); }
  void flush() override { c_->flush(); }
  void batchSubmit(ct_offload_op_batch& b) override { c_->batch_submit(&b); }

 private:
  const ct_offload_class* c_;
  CallbackMask mask_ = 0;
};

// Makes 'r' the thread's current registry while it dispatches, so that providers calling
// ctsim_now_ms() or ct_offload_* from a callback reach the dispatching registry.
class DispatchScope {
 public:
  explicit DispatchScope(Registry* r) : slot_(detail::threadCurrent()), saved_(slot_) { slot_ = r; }
  ~DispatchScope() { slot_ = saved_; }

 private:
  Registry*& slot_;
  Registry* saved_;
};

// The registry owns the offload fields of the connection; the context's pointer is const only
// because providers must not write through it.  Engine-owned conns are never const objects.
conn* mutableConn(const ct_offload_ctx& ctx) { return const_cast<conn*>(ctx.conn); }

constexpr int kMaxStrictSlots = 64;

// Arms the thread's decline-reason slot for one observed call; reason() is what the provider
// gave (nullptr when none).  Does nothing without an observer.
class ReasonScope {
 public:
  explicit ReasonScope(bool on) : on_(on) {
    if (on_) {
      auto& slot = detail::declineReasonSlot();
      slot.armed = true;
      slot.set = false;
    }
  }
  ~ReasonScope() {
    if (on_) detail::declineReasonSlot().armed = false;
  }
  ReasonScope(const ReasonScope&) = delete;
  ReasonScope& operator=(const ReasonScope&) = delete;
  const char* reason() const {
    auto& slot = detail::declineReasonSlot();
    return on_ && slot.set ? slot.text : nullptr;
  }

 private:
  bool on_;
};

}  // namespace

std::unique_ptr<Provider> wrapClass(const ct_offload_class* cls) {
  return std::make_unique<CClassProvider>(cls);
}

// Per-thread slots for the dispatch counters.  A thread takes a free slot on its first dispatch
// and gives it back when it exits, so a slot (but the last) has one writer at a time, which can
// count with a relaxed load and store: no locked instruction and no cache line shared between
// dispatching threads (a fetch_add on shared counters cost more than the dispatch itself and
// stopped two threads from scaling).  Threads beyond kCounterSlots - 1 share the last slot, where
// counting is a fetch_add.  Readers sum the slots.
constexpr int kCounterSlots = 16;

class CounterSlots {
 public:
  static int mine() {
    // A plain thread_local int (no guard on the dispatch path); the holder, whose destructor
    // gives the slot back, is made once per thread.
    thread_local int slot = -1;
    if (slot < 0) {
      thread_local Holder holder;
      slot = holder.slot;
    }
    return slot;
  }

 private:
  struct Holder {
    Holder() : slot(acquire()) {}
    ~Holder() { release(slot); }
    int slot;
  };
  static std::mutex& mu() {
    static std::mutex m;
    return m;
  }
  static std::array<bool, kCounterSlots - 1>& used() {
    static std::array<bool, kCounterSlots - 1> u{};
    return u;
  }
  static int acquire() {
    std::lock_guard<std::mutex> lock(mu());
    for (int i = 0; i < kCounterSlots - 1; ++i) {
      if (!used()[i]) {
        used()[i] = true;
        return i;
      }
    }
    return kCounterSlots - 1;
  }
  static void release(int slot) {
    if (slot == kCounterSlots - 1) return;
    std::lock_guard<std::mutex> lock(mu());
    used()[slot] = false;
  }
};

// One slot's counters of one provider: calls by callback and calls returned (for the watchdog),
// on cache lines of their own.
struct alignas(128) CounterSlot {
  std::array<std::atomic<uint64_t>, kCallbackCount> calls{};
  std::atomic<uint64_t> done{0};
};

inline void bump(std::atomic<uint64_t>& c, int slot, std::memory_order order) {
  if (slot == kCounterSlots - 1) {
    c.fetch_add(1, order);
  } else {
    c.store(c.load(std::memory_order_relaxed) + 1, order);
  }
}

// One registered provider.  Lives until the registry is destroyed (readers may hold it).
struct Registry::Entry {
  Registry* owner = nullptr;
  std::unique_ptr<Provider> provider;
  std::string name;
  std::string origin;
  CallbackMask mask = 0;
  int slot = -1;                    // Strict acceptance slot, -1 outside strict.
  uint64_t slot_bit = 0;            // 1 << slot, 0 outside strict.
  std::atomic<bool> failed{false};  // Set once by markFailed (release), read on dispatch;
                                    // beside the other fields every dispatch reads.
  std::array<CounterSlot, kCounterSlots> slots;          // Calls and returns, per thread slot.
  std::array<LatencyHistogram, kCallbackCount> latency;  // Wall time per call, when timing.
  std::atomic<uint64_t> skipped{0};                      // Calls not made since it failed.
  std::atomic<uint64_t> add_errors{0};                   // Non-zero conn_add / batch ADD results.
  std::atomic<int> first_add_error{0};                   // The first of them.
  std::atomic<uint8_t> last_callback{0};                 // Callback of the latest call started.
  // Calls started while no watchdog was armed: their returns were not counted in `done` (a
  // second counter bump per call, for nobody). Set by setWatchdog, with no call in flight.
  std::atomic<uint64_t> done_base{0};
  mutable std::mutex fault_mu;  // Guards 'fault'.
  ProviderFault fault;

  void countAddError(int err) {
    add_errors.fetch_add(1, std::memory_order_relaxed);
    int none = 0;
    first_add_error.compare_exchange_strong(none, err, std::memory_order_relaxed);
  }

  bool has(Callback c) const { return (mask & bit(c)) != 0; }
  // True (the call counted as skipped) when the provider has failed: it is not called again.
  bool skipIfFailed() {
    if (!failed.load(std::memory_order_acquire)) return false;
    skipped.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  // conn_add's answer `err` into a dispatch's acceptances and its first error.
  void noteAdd(int err, uint64_t& accepted, int& ret) {
    if (err == 0) {
      accepted |= slot_bit;
      return;
    }
    countAddError(err);
    if (ret == 0) ret = err;  // First error wins; the rest are still called.
  }
  void count(Callback c, int slot) {
    bump(slots[slot].calls[static_cast<int>(c)], slot, std::memory_order_relaxed);
  }
  uint64_t calls(Callback c) const {
    uint64_t n = 0;
    for (const CounterSlot& s : slots)
      n += s.calls[static_cast<int>(c)].load(std::memory_order_acquire);
    return n;
  }
  uint64_t started() const {
    uint64_t n = 0;
    for (int c = 0; c < kCallbackCount; ++c) n += calls(static_cast<Callback>(c));
    return n;
  }
  uint64_t done() const {
    uint64_t n = 0;
    for (const CounterSlot& s : slots) n += s.done.load(std::memory_order_acquire);
    return n;
  }
};

namespace {

// Counts a call and, when the registry times calls, records its wall-clock duration (from
// construction to the end of the enclosing scope) in the provider's histogram.
class TimedCall {
 public:
  TimedCall(Registry::Entry& e, Callback c, bool timing, int slot) : hist_(nullptr) {
    e.count(c, slot);
    if (timing) {
      hist_ = &e.latency[static_cast<int>(c)];
      start_ = std::chrono::steady_clock::now();
    }
  }
  ~TimedCall() {
    if (hist_ != nullptr) {
      auto d = std::chrono::steady_clock::now() - start_;
      hist_->record(uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
    }
  }
  TimedCall(const TimedCall&) = delete;
  TimedCall& operator=(const TimedCall&) = delete;

 private:
  LatencyHistogram* hist_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

Registry::Registry(Profile profile) : profile_(profile) {
  auto empty = std::make_unique<Snapshot>();
  current_.store(empty.get(), std::memory_order_release);
  snapshots_.push_back(std::move(empty));
}

Registry::~Registry() { setWatchdog(0, nullptr, nullptr); }

void Registry::setWatchdog(int ms, HangFn fn, void* arg) {
  if (watchdog_.joinable()) {
    {
      std::lock_guard lock(watchdog_mu_);
      watchdog_stop_ = true;
    }
    watchdog_cv_.notify_all();
    watchdog_.join();
  }
  watchdog_stop_ = false;
  watchdog_ms_ = ms;
  {
    // Nothing is in flight (no dispatch now): every call started so far has returned.
    std::lock_guard lock(writer_mu_);
    for (const auto* list : {&all_entries_, &staged_}) {
      for (const auto& e : *list) {
        e->done_base.store(e->started() - e->done(), std::memory_order_relaxed);
      }
    }
  }
  hang_fn_ = fn;
  hang_arg_ = arg;
  if (ms > 0) watchdog_ = std::thread([this] { watchdogLoop(); });
}

void Registry::watchdogLoop() {
  using Clock = std::chrono::steady_clock;
  const auto limit = std::chrono::milliseconds(watchdog_ms_);
  const auto period = std::max(std::chrono::milliseconds(1), limit / 4);
  // Per entry: calls completed when it was first seen busy, and since when.
  struct Busy {
    uint64_t done = 0;
    Clock::time_point since;
  };
  std::unordered_map<const Entry*, Busy> busy;
  std::unique_lock lock(watchdog_mu_);
  while (!watchdog_cv_.wait_for(lock, period, [this] { return watchdog_stop_; })) {
    const Clock::time_point now = Clock::now();
    for (Entry* e : snapshot()->entries) {
      if (e->provider->boundsOwnCalls() || e->failed.load(std::memory_order_acquire)) continue;
      uint64_t done = e->done() + e->done_base.load(std::memory_order_relaxed);
      uint64_t started = e->started();
      if (started <= done) {
        busy.erase(e);
        continue;
      }
      auto [it, fresh] = busy.try_emplace(e, Busy{done, now});
      if (!fresh && it->second.done != done) it->second = Busy{done, now};
      if (now - it->second.since < limit) continue;
      const auto c = static_cast<Callback>(e->last_callback.load(std::memory_order_relaxed));
      markFailed(*e, c, FaultKind::kTimeout,
                 "no return from " + std::string(callbackName(c)) + " within " +
                     std::to_string(watchdog_ms_) +
                     " ms (in-process: the call cannot be abandoned)");
      if (hang_fn_) hang_fn_(hang_arg_, e->name, c, watchdog_ms_);
      busy.erase(e);
    }
  }
}

void Registry::setClock(ClockFn fn, void* arg) {
  clock_ = fn;
  clock_arg_ = arg;
}

void Registry::setLogSink(LogFn fn, void* arg) {
  log_ = fn;
  log_arg_ = arg;
  log_default_ = false;
}

void Registry::warn(const std::string& message) {
  warnings_.fetch_add(1, std::memory_order_relaxed);
  if (log_) {
    log_(log_arg_, message);
  } else if (log_default_) {
    std::fprintf(stderr, "ctsim: warning: %s\n", message.c_str());
  }
}

// ---- Registration ----------------------------------------------------------------------------

int Registry::registerClass(const ct_offload_class* cls, std::string origin) {
  if (!cls) {
    warn("attempted to register a NULL ct offload class");
    return EINVAL;
  }
  return registerProvider(wrapClass(cls), std::move(origin));
}

int Registry::registerProvider(std::unique_ptr<Provider> provider, std::string origin) {
  if (!provider || !provider->name()) {
    warn("attempted to register a ct offload class without a name");
    return EINVAL;
  }
  std::lock_guard lock(writer_mu_);
  return addLocked(std::move(provider), std::move(origin));
}

int Registry::addLocked(std::unique_ptr<Provider> provider, std::string origin) {
  const std::string name = provider->name();
  const bool staging = staging_thread_ == std::this_thread::get_id();
  if (staging) origin = staging_origin_;
  // A refused registration is logged, and remembered for the plug-in loader's error message.
  auto reject = [&](int err, const std::string& why) {
    warn(why);
    if (staging) staging_rejections_.push_back(why);
    return err;
  };

  auto e = std::make_unique<Entry>();
  e->mask = provider->callbacks();
  if (profile_ == Profile::kStrict) {
    // Fix of facts §5.6: mandatory callbacks are checked, not just documented.
    const CallbackMask required =
        bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kCanOffload);
    if ((e->mask & required) != required) {
      return reject(EINVAL, "ct offload class " + name +
                                " lacks conn_add, conn_del or can_offload (strict profile)");
    }
  }
  for (const Entry* x : snapshot()->entries) {
    if (x->name == name) return reject(EEXIST, "duplicate ct offload class: " + name);
  }
  for (const auto& x : staged_) {
    if (x->name == name) return reject(EEXIST, "duplicate ct offload class: " + name);
  }
  if (profile_ == Profile::kStrict) {
    for (int i = 0; i < kMaxStrictSlots; i++) {
      int s = static_cast<int>((next_slot_ + i) % kMaxStrictSlots);
      if (!(used_slots_ & (uint64_t{1} << s))) {
        e->slot = s;
        break;
      }
    }
    if (e->slot < 0) {
      return reject(ENOSPC, "too many ct offload classes (64) for the strict profile: " + name);
    }
  }
  e->provider = std::move(provider);
  e->name = name;
  e->origin = std::move(origin);
  e->owner = this;
  e->provider->fault_fn_ = &Registry::onProviderFault;
  e->provider->fault_arg_ = e.get();
  if (e->has(Callback::kInit)) {
    std::optional<int> err =
        guarded(*e, Callback::kInit, callState(), [&] { return e->provider->init(); });
    if (!err) {
      std::string why;
      {
        std::lock_guard fault_lock(e->fault_mu);
        why = e->fault.message;
      }
      e->provider->fault_fn_ = nullptr;
      return reject(EIO, "failed to initialize ct offload class " + name + ": " + why);
    }
    if (*err != 0) {
      e->provider->fault_fn_ = nullptr;
      return reject(*err,
                    "failed to initialize ct offload class " + name + ": " + std::strerror(*err));
    }
  }
  if (e->slot >= 0) {
    e->slot_bit = uint64_t{1} << e->slot;
    used_slots_ |= e->slot_bit;
    next_slot_ = static_cast<unsigned>(e->slot + 1) % kMaxStrictSlots;
  }
  if (staging) {
    staged_.push_back(std::move(e));
    return 0;
  }
  std::vector<Entry*> entries = snapshot()->entries;
  entries.push_back(e.get());
  all_entries_.push_back(std::move(e));
  publishLocked(std::move(entries));
  return 0;
}

void Registry::publishLocked(std::vector<Entry*> entries) {
  auto s = std::make_unique<Snapshot>();
  s->entries = std::move(entries);
  current_.store(s.get(), std::memory_order_release);
  snapshots_.push_back(std::move(s));  // The previous one is retired, not freed.
}

void Registry::removeIf(bool (*match)(const Entry&, const void*), const void* key,
                        const char* what) {
  std::lock_guard lock(writer_mu_);
  if (staging_thread_ == std::this_thread::get_id()) {
    for (auto it = staged_.begin(); it != staged_.end(); ++it) {
      if (match(**it, key)) {
        used_slots_ &= ~(*it)->slot_bit;
        staged_.erase(it);
        return;
      }
    }
  }
  std::vector<Entry*> entries = snapshot()->entries;
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    if (match(**it, key)) {
      used_slots_ &= ~(*it)->slot_bit;
      entries.erase(it);
      publishLocked(std::move(entries));
      return;
    }
  }
  warn(std::string("attempted to unregister unknown ct offload class: ") + what);
}

void Registry::unregisterClass(const ct_offload_class* cls) {
  if (!cls) return;
  removeIf([](const Entry& e, const void* k) { return e.provider->cClass() == k; }, cls,
           cls->name ? cls->name : "(null)");
}

void Registry::unregisterName(std::string_view name) {
  std::string n(name);
  removeIf(
      [](const Entry& e, const void* k) { return e.name == *static_cast<const std::string*>(k); },
      &n, n.c_str());
}

Registry::StagingScope::StagingScope(Registry& registry, std::string origin)
    : registry_(registry), lock_(registry.staging_mu_) {
  std::lock_guard lock(registry_.writer_mu_);
  registry_.staging_thread_ = std::this_thread::get_id();
  registry_.staging_origin_ = std::move(origin);
  registry_.staging_rejections_.clear();
}

Registry::StagingScope::~StagingScope() {
  std::lock_guard lock(registry_.writer_mu_);
  for (const auto& e : registry_.staged_) registry_.used_slots_ &= ~e->slot_bit;
  registry_.staged_.clear();  // Never published: no reader can hold them.
  registry_.staging_thread_ = {};
}

void Registry::StagingScope::commit() {
  std::lock_guard lock(registry_.writer_mu_);
  std::vector<Entry*> entries = registry_.snapshot()->entries;
  for (auto& e : registry_.staged_) {
    entries.push_back(e.get());
    registry_.all_entries_.push_back(std::move(e));
  }
  registry_.staged_.clear();
  registry_.publishLocked(std::move(entries));
  registry_.staging_thread_ = {};
  committed_ = true;
}

std::vector<std::string> Registry::StagingScope::rejections() const {
  std::lock_guard lock(registry_.writer_mu_);
  return registry_.staging_rejections_;
}

std::vector<std::string> Registry::StagingScope::stagedNames() const {
  std::lock_guard lock(registry_.writer_mu_);
  std::vector<std::string> names;
  for (const auto& e : registry_.staged_) names.push_back(e->name);
  return names;
}

std::vector<ProviderInfo> Registry::providers() const {
  std::vector<ProviderInfo> out;
  for (const Entry* e : snapshot()->entries) {
    ProviderInfo info;
    info.name = e->name;
    info.origin = e->origin;
    info.callbacks = e->mask;
    for (int i = 0; i < kCallbackCount; i++) {
      info.calls[i] = e->calls(static_cast<Callback>(i));
      info.latency[i] = e->latency[i].summary();
    }
    {
      std::lock_guard fault_lock(e->fault_mu);
      info.fault = e->fault;
    }
    info.skipped_calls = e->skipped.load(std::memory_order_relaxed);
    info.add_errors = e->add_errors.load(std::memory_order_relaxed);
    info.first_add_error = e->first_add_error.load(std::memory_order_relaxed);
    out.push_back(std::move(info));
  }
  return out;
}

size_t Registry::size() const { return snapshot()->entries.size(); }

std::vector<Provider*> Registry::providerObjects() const {
  std::vector<Provider*> out;
  for (const Entry* e : snapshot()->entries) out.push_back(e->provider.get());
  return out;
}

// ---- Faults ----------------------------------------------------------------------------------

void Registry::markFailed(Entry& e, Callback c, FaultKind kind, const std::string& message) {
  {
    std::lock_guard lock(e.fault_mu);
    if (e.fault.kind != FaultKind::kNone) return;  // The first fault is the one reported.
    e.fault = ProviderFault{kind, c, message};
    e.failed.store(true, std::memory_order_release);
  }
  warn("ct offload provider " + e.name + " failed in " + callbackName(c) + " (" +
       faultKindName(kind) + "): " + message + "; it is no longer called");
}

void Registry::onProviderFault(void* entry, Callback c, FaultKind kind,
                               const std::string& message) {
  Entry& e = *static_cast<Entry*>(entry);
  e.owner->markFailed(e, c, kind, message);
}

inline Registry::CallState Registry::callState() const {
  return CallState{CounterSlots::mine(), timing_, watchdog_ms_ > 0};
}

template <class Fn>
auto Registry::guarded(Entry& e, Callback c, const CallState& k, Fn&& fn)
    -> std::optional<decltype(fn())> {
  const int slot = k.slot;
  if (e.skipIfFailed()) return std::nullopt;
  // While a watchdog is armed, completion is counted for it after the timing scope, on every way
  // out, and the callback name (shared by all threads) is kept for its report. Calls made with
  // none armed are accounted for in done_base when one is armed (setWatchdog).
  struct Done {
    Entry& e;
    int slot;
    bool on;
    ~Done() {
      if (on) bump(e.slots[slot].done, slot, std::memory_order_release);
    }
  } done{e, slot, k.watchdog};
  if (k.watchdog) e.last_callback.store(static_cast<uint8_t>(c), std::memory_order_relaxed);
  TimedCall timed(e, c, k.timing, slot);
  return caught(e, c, std::forward<Fn>(fn));
}

// guarded() for a dispatch with no timing and no watchdog (CallState::timing and ::watchdog
// false): the same failed check, call counter and caught call, nothing else.
template <class Fn>
auto Registry::plainGuarded(Entry& e, Callback c, int slot, Fn&& fn)
    -> std::optional<decltype(fn())> {
  if (e.skipIfFailed()) return std::nullopt;
  e.count(c, slot);
  return caught(e, c, std::forward<Fn>(fn));
}

template <class Fn>
auto Registry::caught(Entry& e, Callback c, Fn&& fn) -> std::optional<decltype(fn())> {
  try {
    auto result = fn();
    // A provider reporting its own fault during the call returned a neutral value: no answer.
    if (e.failed.load(std::memory_order_acquire)) return std::nullopt;
    return result;
  } catch (...) {
    markFailed(e, c, FaultKind::kException, describeCurrentException());
  }
  return std::nullopt;
}

// ---- Dispatch --------------------------------------------------------------------------------
// Each *One helper walks one snapshot.  With 'batched', providers having batch_submit are
// skipped: they already received the whole batch.

// addOne's loop with everything (batch providers skipped, observer, timing, watchdog).
void Registry::addGuarded(const Snapshot& s, const ct_offload_ctx& ctx, bool batched,
                          const CallState& k, CallObserver* observer, uint64_t& accepted,
                          int& ret) {
  for (size_t i = 0; i < s.entries.size(); ++i) {
    Entry* e = s.entries[i];
    if (batched && e->has(Callback::kBatchSubmit)) continue;
    if (e->has(Callback::kCanOffload)) {
      ReasonScope why(observer != nullptr);
      auto can =
          guarded(*e, Callback::kCanOffload, k, [&] { return e->provider->canOffload(ctx); });
      if (observer && can) {
        observer->onProviderAnswer(i, Callback::kCanOffload, ctx, *can, why.reason());
      }
      if (!can.value_or(false)) continue;
    }
    if (!e->has(Callback::kConnAdd)) continue;
    ReasonScope why(observer != nullptr);
    auto err = guarded(*e, Callback::kConnAdd, k, [&] { return e->provider->connAdd(ctx); });
    if (!err) continue;  // Failed provider: no answer.
    if (observer) observer->onProviderAnswer(i, Callback::kConnAdd, ctx, *err, why.reason());
    e->noteAdd(*err, accepted, ret);
  }
}

int Registry::addOne(const Snapshot& s, const ct_offload_ctx& ctx, bool batched,
                     uint64_t pre_accept) {
  int ret = 0;
  uint64_t accepted = pre_accept;
  const CallState k = callState();
  CallObserver* const observer = observer_;
  // The usual case (a replay without observer, timing or watchdog): plainGuarded() calls, with
  // those branches out of the loop (they cost a fifth of a dispatch to 4 no-op providers).
  if (!batched && observer == nullptr && !k.timing && !k.watchdog) {
    for (Entry* e : s.entries) {
      if (e->has(Callback::kCanOffload)) {
        auto can = plainGuarded(*e, Callback::kCanOffload, k.slot,
                                [&] { return e->provider->canOffload(ctx); });
        if (!can.value_or(false)) continue;
      }
      if (!e->has(Callback::kConnAdd)) continue;
      auto err =
          plainGuarded(*e, Callback::kConnAdd, k.slot, [&] { return e->provider->connAdd(ctx); });
      if (err) e->noteAdd(*err, accepted, ret);
    }
  } else {
    addGuarded(s, ctx, batched, k, observer, accepted, ret);
  }
  if (conn* c = mutableConn(ctx)) {
    if (profile_ == Profile::kStrict) {
      // Fix of facts §5.2/§5.4: marked only when someone accepted; remember who.
      c->offload_acceptors = accepted;
      c->offload_mark = accepted ? OffloadMark::kAdded : OffloadMark::kNone;
    } else if (ret == 0) {
      c->offload_mark = OffloadMark::kAdded;  // Even with no provider (facts §5.4).
    }
  }
  return ret;
}

void Registry::delOne(const Snapshot& s, const ct_offload_ctx& ctx, bool batched) {
  conn* c = mutableConn(ctx);
  if (profile_ != Profile::kRfcV1 && (!c || c->offload_mark == OffloadMark::kNone)) return;
  const CallState k = callState();
  CallObserver* const observer = observer_;
  for (size_t i = 0; i < s.entries.size(); ++i) {
    Entry* e = s.entries[i];
    if (batched && e->has(Callback::kBatchSubmit)) continue;
    if (profile_ == Profile::kStrict && !(c->offload_acceptors & e->slot_bit)) continue;
    if (!e->has(Callback::kConnDel)) continue;
    guarded(*e, Callback::kConnDel, k, [&] {
      e->provider->connDel(ctx);
      return true;
    });
    if (observer) observer->onProviderAnswer(i, Callback::kConnDel, ctx, 0, nullptr);
  }
  if (c) {
    c->offload_mark = OffloadMark::kNone;
    c->offload_acceptors = 0;
  }
}

long long Registry::updateOne(const Snapshot& s, const ct_offload_ctx& ctx, bool batched) {
  const conn* c = ctx.conn;
  const CallState k = callState();
  CallObserver* const observer = observer_;
  for (size_t i = 0; i < s.entries.size(); ++i) {
    Entry* e = s.entries[i];
    if (batched && e->has(Callback::kBatchSubmit)) continue;
    if (profile_ == Profile::kStrict && !(c && (c->offload_acceptors & e->slot_bit))) continue;
    if (!e->has(Callback::kConnUpdate)) continue;
    auto ts = guarded(*e, Callback::kConnUpdate, k, [&] { return e->provider->connUpdate(ctx); });
    if (observer && ts) observer->onProviderAnswer(i, Callback::kConnUpdate, ctx, *ts, nullptr);
    if (ts.value_or(0) != 0) return *ts;  // First non-zero.
  }
  return 0;
}

int Registry::estOne(const Snapshot& s, const ct_offload_ctx& ctx, bool batched) {
  conn* c = mutableConn(ctx);
  if (!c || c->offload_mark != OffloadMark::kAdded) return EALREADY;
  const CallState k = callState();
  for (Entry* e : s.entries) {
    if (batched && e->has(Callback::kBatchSubmit)) continue;
    if (profile_ == Profile::kStrict && !(c->offload_acceptors & e->slot_bit)) continue;
    if (!e->has(Callback::kConnEstablished)) continue;
    guarded(*e, Callback::kConnEstablished, k, [&] {
      e->provider->connEstablished(ctx);
      return true;
    });
  }
  c->offload_mark = OffloadMark::kEst;
  return 0;
}

bool Registry::canOne(const Snapshot& s, const ct_offload_ctx& ctx, bool batched) {
  const CallState k = callState();
  for (Entry* e : s.entries) {
    if (batched && e->has(Callback::kBatchSubmit)) continue;
    if (!e->has(Callback::kCanOffload)) continue;  // Absent counts as false here.
    auto can = guarded(*e, Callback::kCanOffload, k, [&] { return e->provider->canOffload(ctx); });
    if (can.value_or(false)) return true;
  }
  return false;
}

void Registry::flushOne(const Snapshot& s, bool batched) {
  const CallState k = callState();
  for (Entry* e : s.entries) {
    if (batched && e->has(Callback::kBatchSubmit)) continue;
    if (!e->has(Callback::kFlush)) continue;
    guarded(*e, Callback::kFlush, k, [&] {
      e->provider->flush();
      return true;
    });
  }
}

int Registry::connAdd(const ct_offload_ctx& ctx) {
  DispatchScope scope(this);
  return addOne(*snapshot(), ctx, false, 0);
}

void Registry::connDel(const ct_offload_ctx& ctx) {
  DispatchScope scope(this);
  delOne(*snapshot(), ctx, false);
}

long long Registry::connUpdate(const ct_offload_ctx& ctx) {
  DispatchScope scope(this);
  return updateOne(*snapshot(), ctx, false);
}

int Registry::connEstablished(const ct_offload_ctx& ctx) {
  DispatchScope scope(this);
  return estOne(*snapshot(), ctx, false);
}

bool Registry::canOffload(const ct_offload_ctx& ctx) {
  DispatchScope scope(this);
  return canOne(*snapshot(), ctx, false);
}

void Registry::flush() {
  DispatchScope scope(this);
  flushOne(*snapshot(), false);
}

// rfc profiles: each batch provider gets the caller's batch as is.  strict: each gets a copy
// holding the ops that concern it (DEL/UPD/EST only for connections it accepted, EST only when
// the connection is marked added or its ADD is earlier in the batch), and its answers are read
// back: ADD error 0 = accepted; POLICY error 0 = can offload; UPD error 0 = a time came back.
void Registry::submitToBatchProviders(const Snapshot& s, ct_offload_op_batch& batch,
                                      BatchAnswers& a) {
  std::vector<ct_offload_op> sub;
  std::vector<size_t> index;
  std::vector<const conn*> adding;  // Connections given an ADD earlier in `sub`.
  const CallState k = callState();
  for (Entry* e : s.entries) {
    if (!e->has(Callback::kBatchSubmit)) continue;
    if (profile_ != Profile::kStrict) {
      guarded(*e, Callback::kBatchSubmit, k, [&] {
        e->provider->batchSubmit(batch);
        return true;
      });
      continue;
    }
    sub.clear();
    index.clear();
    adding.clear();
    for (size_t i = 0; i < batch.n_ops; i++) {
      const ct_offload_op& op = batch.ops[i];
      int type;  // Read as an int: an out-of-range value is untrusted input, not UB.
      std::memcpy(&type, &op.type, sizeof type);
      const conn* c = op.ctx.conn;
      bool mine = c && (c->offload_acceptors & e->slot_bit);
      if ((type == CT_OFFLOAD_OP_DEL || type == CT_OFFLOAD_OP_UPD) && !mine) continue;
      // An ADD earlier in this batch is not marked yet: its EST follows it, as one by one.
      if (type == CT_OFFLOAD_OP_EST && !(mine && c->offload_mark == OffloadMark::kAdded) &&
          !(c && std::find(adding.begin(), adding.end(), c) != adding.end())) {
        continue;
      }
      if (type == CT_OFFLOAD_OP_ADD && c) adding.push_back(c);
      sub.push_back(op);
      sub.back().error = 0;
      index.push_back(i);
    }
    if (sub.empty()) continue;
    ct_offload_op_batch b{sub.data(), sub.size(), sub.size()};
    bool answered = guarded(*e, Callback::kBatchSubmit, k, [&] {
                      e->provider->batchSubmit(b);
                      return true;
                    }).has_value();
    if (!answered) continue;  // Failed provider: its results are not read.
    for (size_t k = 0; k < sub.size(); k++) {
      int type;
      std::memcpy(&type, &sub[k].type, sizeof type);
      const size_t i = index[k];
      if (type == CT_OFFLOAD_OP_POLICY || type == CT_OFFLOAD_OP_UPD) {
        a.yes[i] |= sub[k].error == 0;
        continue;
      }
      if (type != CT_OFFLOAD_OP_ADD) continue;
      if (sub[k].error == 0) {
        a.accepted[i] |= e->slot_bit;
      } else {
        e->countAddError(sub[k].error);
        if (a.add_errors[i] == 0) a.add_errors[i] = sub[k].error;
      }
    }
  }
}

void Registry::submit(ct_offload_op_batch& batch) {
  DispatchScope scope(this);
  const Snapshot& s = *snapshot();
  BatchAnswers a{std::vector<uint64_t>(batch.n_ops, 0), std::vector<int>(batch.n_ops, 0),
                 std::vector<uint8_t>(batch.n_ops, 0)};
  submitToBatchProviders(s, batch, a);
  const int upd_error = profile_ == Profile::kRfcV1 ? ENODATA : EIO;
  for (size_t i = 0; i < batch.n_ops; i++) {
    ct_offload_op& op = batch.ops[i];
    int type;  // Read as an int: an out-of-range value is untrusted input, not UB.
    std::memcpy(&type, &op.type, sizeof type);
    switch (type) {
      case CT_OFFLOAD_OP_ADD: {
        int err = addOne(s, op.ctx, true, a.accepted[i]);
        op.error = a.add_errors[i] ? a.add_errors[i] : err;
        break;
      }
      case CT_OFFLOAD_OP_DEL:
        delOne(s, op.ctx, true);
        op.error = 0;
        break;
      case CT_OFFLOAD_OP_UPD:
        // strict: a batch provider's answer counts too (rfc profiles overwrite it, facts §2).
        op.error = updateOne(s, op.ctx, true) || a.yes[i] ? 0 : upd_error;
        break;
      case CT_OFFLOAD_OP_POLICY:
        op.error = a.yes[i] || canOne(s, op.ctx, true) ? 0 : EPERM;
        break;
      case CT_OFFLOAD_OP_FLUSH:
        flushOne(s, true);
        op.error = 0;
        break;
      case CT_OFFLOAD_OP_EST:
        estOne(s, op.ctx, true);  // EALREADY is not reported in a batch (facts §2: EST 0).
        op.error = 0;
        break;
      default:
        op.error = EINVAL;
        break;
    }
  }
}

}  // namespace ctsim

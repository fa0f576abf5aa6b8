#include "providers/emu_hw/emu_hw.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "providers/conn.h"

#ifndef CTSIM_EMU_HW_PROFILE_DIR
#error "CTSIM_EMU_HW_PROFILE_DIR must be defined by the build"
#endif

namespace ctsim::emu_hw {

namespace {

constexpr const char* kKnownOptions =
    "name, profile, capacity, program_at, can_offload, protocols, insert_latency, delete_latency, "
    "rate, "
    "queue, aging, granularity, mirror, batch, seed, sample_interval, add_fail, add_fail_at, "
    "add_fail_kind, del_fail, del_fail_at, del_fail_kind, upd_fail, upd_fail_at, upd_fail_kind, "
    "add_stuck, add_stuck_at";

// An IP protocol by name or number (0-255); -1 when neither.
int protocolNumber(std::string_view name) {
  static constexpr std::pair<const char*, int> kNames[] = {
      {"tcp", 6}, {"udp", 17}, {"sctp", 132}, {"icmp", 1}, {"icmpv6", 58}};
  for (const auto& [n, p] : kNames) {
    if (name == n) return p;
  }
  int p = -1;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), p);
  return ec == std::errc() && end == name.data() + name.size() && p >= 0 && p <= 255 ? p : -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

Result<uint64_t> parseU64(const std::string& where, std::string_view v) {
  uint64_t x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
    return Status(EINVAL,
                  where + ": expected a non-negative integer, got '" + std::string(v) + "'");
  }
  return x;
}

Result<double> parseDouble(const std::string& where, std::string_view v, double lo, double hi) {
  double x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || !(x >= lo && x <= hi)) {
    std::ostringstream msg;
    msg << where << ": expected a number in [" << lo << ", " << hi << "], got '" << v << "'";
    return Status(EINVAL, msg.str());
  }
  return x;
}

Result<bool> parseBool(const std::string& where, std::string_view v) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return Status(EINVAL, where + ": expected true or false, got '" + std::string(v) + "'");
}

// "3", "3;7", "10-20", "100-": 1-based op numbers.
Result<std::vector<std::pair<uint64_t, uint64_t>>> parseOpList(const std::string& where,
                                                               std::string_view v) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  auto bad = [&] {
    return Status(EINVAL, where + ": expected op numbers from 1 such as 3, 3;7, 10-20 or 100-, " +
                              "got '" + std::string(v) + "'");
  };
  std::string_view rest = v;
  while (true) {
    size_t semi = rest.find(';');
    std::string_view item = trim(rest.substr(0, semi));
    size_t dash = item.find('-');
    auto lo = parseU64(where, item.substr(0, dash));
    if (!lo.ok() || lo.value() == 0) return bad();
    uint64_t hi = lo.value();
    if (dash != std::string_view::npos) {
      std::string_view h = item.substr(dash + 1);
      if (h.empty()) {
        hi = std::numeric_limits<uint64_t>::max();
      } else {
        auto x = parseU64(where, h);
        if (!x.ok() || x.value() < lo.value()) return bad();
        hi = x.value();
      }
    }
    out.emplace_back(lo.value(), hi);
    if (semi == std::string_view::npos) break;
    rest.remove_prefix(semi + 1);
  }
  return out;
}

std::string formatOpList(const std::vector<std::pair<uint64_t, uint64_t>>& at) {
  std::string s;
  for (const auto& [lo, hi] : at) {
    if (!s.empty()) s += ";";
    s += std::to_string(lo);
    if (hi == std::numeric_limits<uint64_t>::max()) {
      s += "-";
    } else if (hi != lo) {
      s += "-" + std::to_string(hi);
    }
  }
  return s;
}

const char* programAtName(ProgramAt p) {
  switch (p) {
    case ProgramAt::kAdd:
      return "add";
    case ProgramAt::kEst:
      return "est";
    case ProgramAt::kTcpEst:
      return "tcp-est";
  }
  return "?";
}

// Applies one option to 'c'.  'base_dir' resolves relative histogram files.
Status applyOption(Config& c, const std::string& key, std::string_view v,
                   const std::string& base_dir, const std::string& where_prefix) {
  const std::string where = where_prefix + key;
  auto setU64 = [&](uint64_t& dst) -> Status {
    auto x = parseU64(where, v);
    if (!x.ok()) return x.status();
    dst = x.value();
    return Status();
  };
  auto setBool = [&](bool& dst) -> Status {
    auto x = parseBool(where, v);
    if (!x.ok()) return x.status();
    dst = x.value();
    return Status();
  };
  auto setDuration = [&](int64_t& dst) -> Status {
    auto x = parseDuration(where, v);
    if (!x.ok()) return x.status();
    dst = x.value();
    return Status();
  };
  auto setDist = [&](Distribution& dst) -> Status {
    auto x = Distribution::parse(where, v, base_dir);
    if (!x.ok()) return x.status();
    dst = std::move(x).value();
    return Status();
  };
  auto setProb = [&](double& dst) -> Status {
    auto x = parseDouble(where, v, 0, 1);
    if (!x.ok()) return x.status();
    dst = x.value();
    return Status();
  };
  auto setList = [&](std::vector<std::pair<uint64_t, uint64_t>>& dst) -> Status {
    auto x = parseOpList(where, v);
    if (!x.ok()) return x.status();
    dst = std::move(x).value();
    return Status();
  };
  auto setKind = [&](FailKind& dst) -> Status {
    if (v == "transient") {
      dst = FailKind::kTransient;
    } else if (v == "permanent") {
      dst = FailKind::kPermanent;
    } else {
      return Status(EINVAL,
                    where + ": expected transient or permanent, got '" + std::string(v) + "'");
    }
    return Status();
  };

  if (key == "name") {
    if (v.empty()) return Status(EINVAL, where + ": empty name");
    c.name = v;
    return Status();
  }
  if (key == "capacity") return setU64(c.capacity);
  if (key == "program_at") {
    for (ProgramAt p : {ProgramAt::kAdd, ProgramAt::kEst, ProgramAt::kTcpEst}) {
      if (v == programAtName(p)) {
        c.program_at = p;
        return Status();
      }
    }
    return Status(EINVAL, where + ": expected add, est or tcp-est, got '" + std::string(v) + "'");
  }
  if (key == "can_offload") return setBool(c.can_offload);
  if (key == "protocols") {
    c.protocols.clear();
    std::string_view rest = v;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view item = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      int proto = protocolNumber(item);
      if (proto < 0) {
        return Status(EINVAL, where + ": protocols: expected tcp, udp, sctp, icmp, icmpv6 or a " +
                                  "number 0-255, got '" + std::string(item) + "'");
      }
      c.protocols.push_back(uint8_t(proto));
    }
    return Status();
  }
  if (key == "insert_latency") return setDist(c.insert_latency);
  if (key == "delete_latency") return setDist(c.delete_latency);
  if (key == "rate") {
    auto x = parseDouble(where, v, 0, 1e12);
    if (!x.ok()) return x.status();
    c.rate = x.value();
    return Status();
  }
  if (key == "queue") return setU64(c.queue);
  if (key == "aging") return setDuration(c.aging_ns);
  if (key == "granularity") {
    Status s = setDuration(c.granularity_ns);
    if (s.ok() && (c.granularity_ns < 1000000 || c.granularity_ns % 1000000 != 0)) {
      return Status(EINVAL, where + ": must be a whole number of milliseconds (conn_update " +
                                "answers in ms), got '" + std::string(v) + "'");
    }
    return s;
  }
  if (key == "mirror") return setBool(c.mirror);
  if (key == "batch") return setBool(c.batch);
  if (key == "seed") return setU64(c.seed);
  if (key == "sample_interval") return setDuration(c.sample_interval_ns);
  if (key == "add_fail") return setProb(c.add_fail.prob);
  if (key == "add_fail_at") return setList(c.add_fail.at);
  if (key == "add_fail_kind") return setKind(c.add_fail.kind);
  if (key == "del_fail") return setProb(c.del_fail.prob);
  if (key == "del_fail_at") return setList(c.del_fail.at);
  if (key == "del_fail_kind") return setKind(c.del_fail.kind);
  if (key == "upd_fail") return setProb(c.upd_fail.prob);
  if (key == "upd_fail_at") return setList(c.upd_fail.at);
  if (key == "upd_fail_kind") return setKind(c.upd_fail.kind);
  if (key == "add_stuck") return setProb(c.add_stuck.prob);
  if (key == "add_stuck_at") return setList(c.add_stuck.at);
  return Status(EINVAL, "emu-hw: unknown option '" + key + "' (known: " + kKnownOptions + ")");
}

Status loadProfile(Config& c, const std::string& profile) {
  std::string path = profile;
  if (profile.find('/') == std::string::npos) {
    path = std::string(profileDir()) + "/" + profile + ".conf";
  }
  std::ifstream in(path);
  if (!in) {
    return Status(ENOENT, "emu-hw: profile '" + profile + "': cannot open " + path +
                              " (profiles are in " + profileDir() + ")");
  }
  std::string base_dir = path.substr(0, path.find_last_of('/'));
  std::string line;
  for (int lineno = 1; std::getline(in, line); lineno++) {
    std::string_view l = line;
    l = trim(l.substr(0, l.find('#')));
    if (l.empty()) continue;
    size_t eq = l.find('=');
    std::string at = "emu-hw: " + path + ":" + std::to_string(lineno) + ": ";
    if (eq == std::string_view::npos) {
      return Status(EINVAL, at + "expected key=value, got '" + line + "'");
    }
    std::string key(trim(l.substr(0, eq)));
    if (key == "profile") return Status(EINVAL, at + "a profile cannot load another profile");
    Status s = applyOption(c, key, trim(l.substr(eq + 1)), base_dir, at);
    if (!s.ok()) return s;
  }
  c.profile = path;
  return Status();
}

}  // namespace

bool OpFailure::scheduled(uint64_t n) const {
  for (const auto& [lo, hi] : at) {
    if (n >= lo && n <= hi) return true;
  }
  return false;
}

std::string Config::describe() const {
  std::ostringstream o;
  o.precision(12);  // Rates and probabilities exactly as typed (no 6-digit rounding).
  auto fail = [&](const char* p, const OpFailure& f, bool with_kind) {
    if (f.prob > 0) o << " " << p << "=" << f.prob;
    if (!f.at.empty()) o << " " << p << "_at=" << formatOpList(f.at);
    if (with_kind && f.any()) {
      o << " " << p << "_kind=" << (f.kind == FailKind::kPermanent ? "permanent" : "transient");
    }
  };
  o << "name=" << name;
  if (!profile.empty()) o << " profile=" << profile;
  o << " capacity=" << capacity << " program_at=" << programAtName(program_at)
    << " can_offload=" << (can_offload ? "true" : "false");
  if (!protocols.empty()) {
    o << " protocols=";
    for (size_t i = 0; i < protocols.size(); i++) o << (i ? ";" : "") << int(protocols[i]);
  }
  o << " insert_latency=" << insert_latency.text() << " delete_latency=" << delete_latency.text()
    << " rate=" << rate << " queue=" << queue << " aging=" << formatDuration(aging_ns)
    << " granularity=" << formatDuration(granularity_ns)
    << " mirror=" << (mirror ? "true" : "false") << " batch=" << (batch ? "true" : "false")
    << " seed=" << seed << " sample_interval=" << formatDuration(sample_interval_ns);
  fail("add_fail", add_fail, true);
  fail("del_fail", del_fail, true);
  fail("upd_fail", upd_fail, true);
  fail("add_stuck", add_stuck, false);
  return o.str();
}

const char* profileDir() { return CTSIM_EMU_HW_PROFILE_DIR; }

Result<Config> parseConfig(const ProviderSpec& spec) {
  Config c;
  for (const auto& [k, v] : spec.options) {
    if (k != "profile") continue;
    Status s = loadProfile(c, v);
    if (!s.ok()) return s;
  }
  for (const auto& [k, v] : spec.options) {
    if (k == "profile") continue;
    Status s = applyOption(c, k, v, "", "emu-hw: ");
    if (!s.ok()) return s;
  }
  return c;
}

Result<std::unique_ptr<Provider>> makeEmuHw(const ProviderSpec& spec) {
  auto c = parseConfig(spec);
  if (!c.ok()) return c.status();
  return std::unique_ptr<Provider>(std::make_unique<EmuHwProvider>(std::move(c).value()));
}

// ---- EmuHwProvider ---------------------------------------------------------------------------

EmuHwProvider::EmuHwProvider(Config config)
    : config_(std::move(config)),
      // Two independent streams, so that changing a latency option leaves failures unchanged.
      rng_latency_(config_.seed * 2 + 0x9E3779B97F4A7C15ull),
      rng_fail_(config_.seed * 2 + 1 + 0x9E3779B97F4A7C15ull) {
  stats_.capacity = config_.capacity;
  stats_.occupancy_interval_ns = config_.sample_interval_ns;
  stats_.config = config_.describe();
}

size_t EmuHwProvider::KeyHash::operator()(const PackedKey& k) const {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint64_t w : k) {
    h ^= w + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0x100000001b3ull;
  }
  return static_cast<size_t>(h ^ (h >> 29));
}

uint32_t EmuHwProvider::keyHash(const ctsim_conn_key& k) {
  static_assert(sizeof(ctsim_conn_key) == 40);
  uint64_t w[5];
  std::memcpy(w, &k, sizeof w);
  // Two independent multiply lanes, folded: a few cycles for the 40 bytes.
  uint64_t a = (w[0] ^ 0x243F6A8885A308D3ull) * 0x9E3779B97F4A7C15ull;
  uint64_t b = (w[1] ^ 0x13198A2E03707344ull) * 0xC2B2AE3D27D4EB4Full;
  a = (a ^ (a >> 31) ^ w[2]) * 0x165667B19E3779F9ull;
  b = (b ^ (b >> 29) ^ w[3]) * 0x9E3779B97F4A7C15ull;
  uint64_t h = (a ^ (b >> 32) ^ (b << 32) ^ w[4]) * 0xC2B2AE3D27D4EB4Full;
  return static_cast<uint32_t>(h >> 32);
}

EmuHwProvider::Entry* EmuHwProvider::findKeyLocked(const ctsim_conn_key& key, uint32_t h) {
  const KeySlot* s = keys_.find(h, [&](const KeySlot& ks) {
    const Entry& e = slab_[(ks.ref - 1) >> 1];
    return ks.hash == h && std::memcmp((ks.ref - 1) & 1 ? &e.rev : &e.fwd, &key, sizeof key) == 0;
  });
  return s ? &slab_[(s->ref - 1) >> 1] : nullptr;
}

EmuHwProvider::PackedKey EmuHwProvider::pack(const ctsim_conn_key& k) {
  static_assert(sizeof(ctsim_conn_key) == sizeof(PackedKey));
  PackedKey p;
  std::memcpy(p.data(), &k, sizeof k);
  return p;
}

CallbackMask EmuHwProvider::callbacks() const {
  CallbackMask m = bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kConnUpdate) |
                   bit(Callback::kConnEstablished) | bit(Callback::kCanOffload) |
                   bit(Callback::kFlush);
  if (config_.batch) m |= bit(Callback::kBatchSubmit);
  return m;
}

std::optional<EntryInfo> EmuHwProvider::entry(const ctsim_conn_key& key) const {
  std::lock_guard lock(mu_);
  const Entry* found = const_cast<EmuHwProvider*>(this)->findKeyLocked(key);
  if (found == nullptr) return std::nullopt;
  const Entry& e = *found;
  return EntryInfo{e.active_ns >= 0, e.deleting,   e.orphaned,  e.stuck,       e.packets,
                   e.bytes,          e.request_ns, e.active_ns, e.last_used_ns};
}

// ---- Time ----

void EmuHwProvider::syncClockLocked() {
  long long ms = ctsim_now_ms();
  int64_t t = ms > 0 ? static_cast<int64_t>(ms) * 1000000 : 0;
  // No clock (0) does not start trace time; due events still run.
  advanceLocked(std::max(t, now_ns_), t > 0);
}

void EmuHwProvider::pushLocked(int64_t t_ns, const Entry& e, EventType type) {
  events_.push(Event{t_ns, ++next_seq_, e.id, type, static_cast<uint32_t>(&e - slab_.data())});
}

void EmuHwProvider::pushAndRunLocked(int64_t t_ns, Entry& e, EventType type) {
  if (t_ns <= now_ns_ && (events_.empty() || t_ns < events_.top().t_ns)) {
    // What advanceLocked(now_ns_) would do: occupancy samples up to now_ns_ are already taken
    // (every callback advanced the clock first), and nothing queued comes before.
    handleLocked(Event{t_ns, ++next_seq_, e.id, type, static_cast<uint32_t>(&e - slab_.data())});
    return;
  }
  pushLocked(t_ns, e, type);
  advanceLocked(now_ns_, false);
}

void EmuHwProvider::sampleLocked(int64_t t_ns) {
  stats_.occupancy.push_back(FastPathOccupancySample{t_ns, stats_.entries, stats_.active});
}

void EmuHwProvider::advanceLocked(int64_t t_ns, bool start) {
  const int64_t interval = started_ || start ? config_.sample_interval_ns : 0;
  if (!started_ && start) {
    started_ = true;
    now_ns_ = t_ns;
    if (interval > 0) {
      // First sample boundary at or after the start.
      next_sample_ns_ = (t_ns / interval + (t_ns % interval != 0)) * interval;
    }
  }
  now_ns_ = std::max(now_ns_, t_ns);
  auto sampleUpTo = [&](int64_t limit, bool inclusive) {
    if (interval <= 0) return;
    if ((limit - next_sample_ns_) / interval > FastPathStats::kOccupancyMaxGap) {
      sampleLocked(next_sample_ns_);
      next_sample_ns_ += ((limit - next_sample_ns_) / interval) * interval;
      count(Ctr::occupancy_gaps);
    }
    while (inclusive ? next_sample_ns_ <= limit : next_sample_ns_ < limit) {
      sampleLocked(next_sample_ns_);
      next_sample_ns_ += interval;
    }
  };
  while (!events_.empty() && events_.top().t_ns <= now_ns_) {
    Event ev = events_.top();
    // Samples strictly before the event see the state before it.
    sampleUpTo(ev.t_ns, false);
    events_.pop();
    handleLocked(ev);
  }
  sampleUpTo(now_ns_, true);
}

void EmuHwProvider::handleLocked(const Event& ev) {
  Entry* found = entryAt(Ref{ev.slot, ev.id});
  if (found == nullptr) return;  // Removed meanwhile (flush, aging, deletion).
  Entry& e = *found;
  switch (ev.type) {
    case EventType::kAddDone:
      if (e.active_ns >= 0 || e.stuck) return;
      e.active_ns = ev.t_ns;
      e.last_used_ns = ev.t_ns;
      stats_.active++;
      count(Ctr::add_completed);
      noteLocked(e, EntryEvent::kActive);
      offload_latency_.push(FastPathOffloadSample{e.fwd, e.request_ns, e.active_ns});
      if (config_.aging_ns > 0) pushLocked(ev.t_ns + config_.aging_ns, e, EventType::kAge);
      return;
    case EventType::kDelDone:
      count(Ctr::del_completed);
      removeLocked(e, EntryGone::kDeleted);
      return;
    case EventType::kAge: {
      int64_t deadline = e.last_used_ns + config_.aging_ns;
      if (deadline <= ev.t_ns) {
        count(Ctr::aged);
        removeLocked(e, EntryGone::kAged);
      } else {
        pushLocked(deadline, e, EventType::kAge);  // Used since: look again later.
      }
      return;
    }
  }
}

void EmuHwProvider::noteLocked(const Entry& e, EntryEvent ev, EntryGone gone, int error) {
  if (observer_ == nullptr) return;
  EntryNote n;
  n.event = ev;
  n.gone = gone;
  n.error = error;
  n.active = e.active_ns >= 0;
  n.stuck = e.stuck;
  n.orphaned = e.orphaned;
  n.t_ns = ev == EntryEvent::kActive ? e.active_ns : now_ns_;
  n.hits = e.packets;
  n.consumed = e.consumed;
  n.last_hit_ns = e.packets > 0 ? e.last_used_ns : -1;
  observer_->onEntry(*this, e.owner, e.fwd, n);
}

bool EmuHwProvider::setObserver(FastPathObserver* observer) {
  std::lock_guard lock(mu_);
  observer_ = observer;
  return true;
}

void EmuHwProvider::removeLocked(Entry& e, EntryGone gone) {
  noteLocked(e, EntryEvent::kRemoved, gone);
  const uint32_t slot = static_cast<uint32_t>(&e - slab_.data());
  for (uint32_t dir = 0; dir < 2; dir++) {
    const uint32_t ref = (slot << 1 | dir) + 1;
    KeySlot* ks =
        keys_.find(dir ? e.rev_hash : e.fwd_hash, [ref](const KeySlot& s) { return s.ref == ref; });
    if (ks != nullptr) keys_.erase(ks);
  }
  if (e.active_ns >= 0) stats_.active--;
  stats_.entries--;
  e = Entry{};
  free_slots_.push_back(slot);
}

int64_t EmuHwProvider::scheduleLocked() {
  if (config_.rate <= 0) return now_ns_;
  while (!waiting_.empty() && waiting_.front() <= now_ns_) waiting_.pop_front();
  const double start = std::max(static_cast<double>(now_ns_), next_free_ns_);
  const int64_t issue = std::max(now_ns_, static_cast<int64_t>(std::ceil(start)));
  if (issue > now_ns_) {
    if (waiting_.size() >= config_.queue) return -1;
    waiting_.push_back(issue);
  }
  next_free_ns_ = start + 1e9 / config_.rate;
  return issue;
}

bool EmuHwProvider::failsLocked(const OpFailure& f, uint64_t n) {
  bool fails = f.scheduled(n);
  // Draw whenever a probability is set, so the stream does not depend on the schedule.
  if (f.prob > 0 && uniform01(rng_fail_) < f.prob) fails = true;
  return fails;
}

// ---- Callbacks ----

int EmuHwProvider::admitLocked(const ctsim_conn_key& fwd, const ctsim_conn_key& rev, uint32_t hf,
                               uint32_t hr) {
  if (!refused_.empty() && refused_.count(pack(fwd))) {
    fail(Fail::refused_permanent);
    return EIO;
  }
  if (findKeyLocked(fwd, hf) != nullptr || findKeyLocked(rev, hr) != nullptr) {
    fail(Fail::exists);
    return EEXIST;
  }
  if (config_.capacity && stats_.entries >= config_.capacity) {
    fail(Fail::full);
    return ENOSPC;
  }
  return 0;
}

int EmuHwProvider::programLocked(const conn* c, const ctsim_conn_key& fwd,
                                 const ctsim_conn_key& rev, Ref* ref_out) {
  const uint32_t hf = keyHash(fwd), hr = keyHash(rev);
  if (int err = admitLocked(fwd, rev, hf, hr); err != 0) return err;
  const int64_t issue = scheduleLocked();
  if (issue < 0) {
    fail(Fail::busy);
    return EBUSY;
  }
  const uint64_t n = ++add_ops_;
  if (failsLocked(config_.add_fail, n)) {
    if (config_.add_fail.kind == FailKind::kPermanent) {
      fail(Fail::add_permanent);
      refused_.insert(pack(fwd));
      return EIO;
    }
    fail(Fail::add_transient);
    return EAGAIN;
  }
  const bool stuck = failsLocked(config_.add_stuck, n);
  uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<uint32_t>(slab_.size());
    slab_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  Entry& e = slab_[slot];
  e.id = ++next_id_;
  e.fwd = fwd;
  e.rev = rev;
  e.owner = c;
  e.request_ns = now_ns_;
  e.stuck = stuck;
  e.fwd_hash = hf;
  e.rev_hash = hr;
  keys_.insert(hf, KeySlot{hf, (slot << 1) + 1});
  keys_.insert(hr, KeySlot{hr, (slot << 1 | 1) + 1});
  stats_.entries++;
  stats_.entries_peak = std::max(stats_.entries_peak, stats_.entries);
  count(Ctr::add_requested);
  if (stuck) {
    fail(Fail::add_stuck);
  } else {
    // Zero latency: active at once.
    pushAndRunLocked(issue + config_.insert_latency.draw(rng_latency_), e, EventType::kAddDone);
  }
  *ref_out = Ref{slot, e.id};
  return 0;
}

int EmuHwProvider::connAddLocked(const ct_offload_ctx& ctx) {
  count(Ctr::conn_add);
  if (findConnLocked(ctx.conn) != nullptr) {
    fail(Fail::duplicate_conn);
    return EEXIST;
  }
  const ctsim_conn_key& fwd = ctx.key ? *ctx.key : *ctsim_conn_key_fwd(ctx.conn);
  const ctsim_conn_key rev = ctsim_conn_key_rev(ctx.conn);
  const bool defer = config_.program_at == ProgramAt::kEst ||
                     (config_.program_at == ProgramAt::kTcpEst && fwd.proto == 6);
  if (defer) {
    // Accept now, insert at conn_established; refuse what would certainly fail.
    if (int err = admitLocked(fwd, rev, keyHash(fwd), keyHash(rev)); err != 0) return err;
    conns_.insert(connHash(ctx.conn), ConnSlot{ctx.conn, Ref{}, true});
    return 0;
  }
  Ref ref;
  int err = programLocked(ctx.conn, fwd, rev, &ref);
  if (err) return err;
  conns_.insert(connHash(ctx.conn), ConnSlot{ctx.conn, ref, false});
  return 0;
}

void EmuHwProvider::connEstablishedLocked(const ct_offload_ctx& ctx) {
  count(Ctr::conn_established);
  ConnSlot* cs = findConnLocked(ctx.conn);
  if (cs == nullptr || !cs->deferred) return;
  cs->deferred = false;
  const ctsim_conn_key& fwd = ctx.key ? *ctx.key : *ctsim_conn_key_fwd(ctx.conn);
  Ref ref;
  if (int err = programLocked(ctx.conn, fwd, ctsim_conn_key_rev(ctx.conn), &ref); err != 0) {
    count(Ctr::est_refused);  // The cause is counted by programLocked; stays in software.
    if (observer_ != nullptr) {
      Entry none;
      none.owner = ctx.conn;
      none.fwd = fwd;
      noteLocked(none, EntryEvent::kRefused, EntryGone::kDeleted, err);
    }
    return;
  }
  cs->entry = ref;  // conns_ did not change meanwhile: programLocked does not touch it.
}

void EmuHwProvider::connDelLocked(const ct_offload_ctx& ctx) {
  count(Ctr::conn_del);
  ConnSlot* cs = findConnLocked(ctx.conn);
  if (cs == nullptr) {
    count(Ctr::del_unknown);
    return;
  }
  const Ref ref = cs->entry;
  conns_.erase(cs);
  Entry* found = entryAt(ref);
  if (found == nullptr) return;  // Never inserted, refused at est, or aged/flushed.
  Entry& e = *found;
  // Software lets go: the observer learns the entry's state (and counters) at this moment.
  auto detach = [&] {
    noteLocked(e, EntryEvent::kDetached);
    e.owner = nullptr;
  };
  const int64_t issue = scheduleLocked();
  if (issue < 0) {
    fail(Fail::del_busy);
    e.orphaned = true;
    count(Ctr::orphaned);
    detach();
    return;
  }
  const uint64_t n = ++del_ops_;
  int64_t done = issue + config_.delete_latency.draw(rng_latency_);
  if (failsLocked(config_.del_fail, n)) {
    if (config_.del_fail.kind == FailKind::kPermanent) {
      fail(Fail::del_permanent);
      e.orphaned = true;
      count(Ctr::orphaned);
      detach();
      return;
    }
    fail(Fail::del_transient);
    done += config_.delete_latency.draw(rng_latency_);  // Retried once, after the failure.
  }
  detach();
  e.deleting = true;
  pushAndRunLocked(done, e, EventType::kDelDone);  // Zero latency: gone at once.
}

long long EmuHwProvider::connUpdateLocked(const ct_offload_ctx& ctx) {
  count(Ctr::conn_update);
  const ConnSlot* cs = findConnLocked(ctx.conn);
  if (cs == nullptr) return 0;
  Entry* found = entryAt(cs->entry);
  if (found == nullptr || found->active_ns < 0) return 0;
  Entry& e = *found;
  const uint64_t n = ++upd_ops_;
  if (failsLocked(config_.upd_fail, n)) {
    if (config_.upd_fail.kind == FailKind::kPermanent) {
      fail(Fail::upd_permanent);
      e.counters_lost = true;
    } else {
      fail(Fail::upd_transient);
    }
    return 0;
  }
  if (e.counters_lost) return 0;
  const int64_t g = config_.granularity_ns;
  const int64_t rounded = e.last_used_ns >= 0 ? e.last_used_ns / g * g : 0;
  return std::max<long long>(rounded / 1000000, 1);
}

void EmuHwProvider::flushLocked() {
  count(Ctr::flush);
  if (observer_ != nullptr) {
    for (const Entry& e : slab_) {
      if (e.id != 0) noteLocked(e, EntryEvent::kRemoved, EntryGone::kFlushed);
    }
  }
  slab_.clear();
  free_slots_.clear();
  keys_.clear();
  conns_.clear();
  waiting_.clear();
  next_free_ns_ = 0;
  stats_.entries = 0;
  stats_.active = 0;
  // Pending events find no entry and are dropped.
}

int EmuHwProvider::connAdd(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  syncClockLocked();
  return connAddLocked(ctx);
}

void EmuHwProvider::connDel(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  syncClockLocked();
  connDelLocked(ctx);
}

long long EmuHwProvider::connUpdate(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  syncClockLocked();
  return connUpdateLocked(ctx);
}

void EmuHwProvider::connEstablished(const ct_offload_ctx& ctx) {
  std::lock_guard lock(mu_);
  syncClockLocked();
  connEstablishedLocked(ctx);
}

bool EmuHwProvider::offloadable(const ct_offload_ctx& ctx) const {
  if (!config_.can_offload) return false;
  if (config_.protocols.empty()) return true;
  const ctsim_conn_key* k = ctx.key ? ctx.key : ctsim_conn_key_fwd(ctx.conn);
  if (std::find(config_.protocols.begin(), config_.protocols.end(), k->proto) !=
      config_.protocols.end()) {
    return true;
  }
  auto name = [](uint8_t p) {
    switch (p) {
      case 1:
        return std::string("icmp");
      case 6:
        return std::string("tcp");
      case 17:
        return std::string("udp");
      case 58:
        return std::string("icmpv6");
      case 132:
        return std::string("sctp");
      default:
        return std::to_string(p);
    }
  };
  std::string why = "protocol " + name(k->proto) + " not offloaded (protocols=";
  for (size_t i = 0; i < config_.protocols.size(); i++) {
    why += (i ? ";" : "") + name(config_.protocols[i]);
  }
  why += ")";
  ctsim_offload_decline_reason(why.c_str());
  return false;
}

bool EmuHwProvider::canOffload(const ct_offload_ctx& ctx) { return offloadable(ctx); }

void EmuHwProvider::flush() {
  std::lock_guard lock(mu_);
  syncClockLocked();
  flushLocked();
}

void EmuHwProvider::batchSubmit(ct_offload_op_batch& batch) {
  std::lock_guard lock(mu_);
  syncClockLocked();
  count(Ctr::batch_submit);
  // UPD without a timestamp: the error the dispatching registry's profile uses.
  const Registry* r = currentRegistry();
  const int upd_error = r && r->profile() == Profile::kRfcV1 ? ENODATA : EIO;
  for (size_t i = 0; i < batch.n_ops; i++) {
    ct_offload_op& op = batch.ops[i];
    int type;  // Read as an int: an out-of-range value is untrusted input, not UB.
    std::memcpy(&type, &op.type, sizeof type);
    switch (type) {
      case CT_OFFLOAD_OP_ADD:
        op.error = offloadable(op.ctx) ? connAddLocked(op.ctx) : EPERM;
        break;
      case CT_OFFLOAD_OP_DEL:
        connDelLocked(op.ctx);
        op.error = 0;
        break;
      case CT_OFFLOAD_OP_UPD:
        op.error = connUpdateLocked(op.ctx) ? 0 : upd_error;
        break;
      case CT_OFFLOAD_OP_POLICY:
        op.error = offloadable(op.ctx) ? 0 : EPERM;
        break;
      case CT_OFFLOAD_OP_FLUSH:
        flushLocked();
        op.error = 0;
        break;
      case CT_OFFLOAD_OP_EST:
        connEstablishedLocked(op.ctx);
        op.error = 0;
        break;
      default:
        op.error = EINVAL;
        break;
    }
  }
}

// ---- Fast path ----

void EmuHwProvider::setNow(int64_t now_ns) {
  std::lock_guard lock(mu_);
  advanceLocked(std::max(now_ns, now_ns_), true);
}

FastPathVerdict EmuHwProvider::process(const ctsim_conn_key& pkt_key, uint32_t bytes,
                                       uint8_t tcp_flags) {
  std::lock_guard lock(mu_);
  Entry* found = findKeyLocked(pkt_key);
  if (found == nullptr) {
    return countMiss(stats_, bytes, false);
  }
  Entry& e = *found;
  if (e.active_ns < 0) {
    return countMiss(stats_, bytes, true);
  }
  e.packets++;
  e.bytes += bytes;
  e.last_used_ns = now_ns_;
  FastPathVerdict v = countHit(stats_, bytes, pkt_key.proto, tcp_flags, config_.mirror);
  if (v == FastPathVerdict::kConsumed) e.consumed++;
  if (e.owner == nullptr) noteLocked(e, EntryEvent::kStrayHit);
  return v;
}

FastPathStats EmuHwProvider::stats() const {
  std::lock_guard lock(mu_);
  FastPathStats s = stats_;
  s.offload_latency = offload_latency_.samples();
  static constexpr const char* kCounterNames[] = {
#define CTSIM_EMU_HW_NAME(name) #name,
      CTSIM_EMU_HW_COUNTERS(CTSIM_EMU_HW_NAME)};
  static constexpr const char* kFailureNames[] = {CTSIM_EMU_HW_FAILURES(CTSIM_EMU_HW_NAME)};
#undef CTSIM_EMU_HW_NAME
  for (int i = 0; i < static_cast<int>(Ctr::kCount); i++) {
    if (counters_[i] != 0) s.counters[kCounterNames[i]] += counters_[i];
  }
  for (int i = 0; i < static_cast<int>(Fail::kCount); i++) {
    if (failures_[i] != 0) s.failures[kFailureNames[i]] += failures_[i];
  }
  return s;
}

}  // namespace ctsim::emu_hw

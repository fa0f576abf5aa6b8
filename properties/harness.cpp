#include "properties/harness.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "providers/broken/broken.h"
#include "providers/builtin.h"
#include "sim/conntrack/ct_state.h"
#include "sim/conntrack/sharded.h"
#include "sim/parser.h"
#include "sim/trace_reader.h"

namespace ctsim::props {

ProviderFactory defaultProviderFactory() {
  return [](const std::string& text) -> Result<ProviderHandle> {
    auto spec = parseProviderSpec(text);
    if (!spec.ok()) return spec.status();
    auto broken = broken::makeBrokenProvider(spec.value());
    if (broken.ok() && broken.value() != nullptr) {
      return ProviderHandle{std::move(broken).value(), nullptr};
    }
    if (!broken.ok()) return broken.status();
    auto p = makeBuiltinProvider(spec.value());
    if (!p.ok()) return p.status();
    return ProviderHandle{std::move(p).value(), nullptr};
  };
}

const char* stepKindName(Step::Kind k) {
  switch (k) {
    case Step::Kind::kPacket:
      return "packet";
    case Step::Kind::kAdvance:
      return "advance";
    case Step::Kind::kSweep:
      return "sweep";
    case Step::Kind::kFlush:
      return "flush";
    case Step::Kind::kFlushZone:
      return "flush-zone";
    case Step::Kind::kRegister:
      return "register";
    case Step::Kind::kUnregister:
      return "unregister";
    case Step::Kind::kFault:
      return "fault";
  }
  return "?";
}

std::string RunReport::digest() const {
  std::ostringstream o;
  for (const std::string& s : states) o << s << '\n';
  o << "packets=" << summary.packets << " consumed=" << summary.fast_path_consumed
    << " up=" << summary.fast_path_up << " created=" << summary.engine.conns_created
    << " removed=" << summary.engine.conns_removed << " flushed=" << summary.flushed_at_end << '\n';
  o << "hooks add=" << hooks.add << " add_failed=" << hooks.add_failed << " est=" << hooks.est
    << " del=" << hooks.del << " upd=" << hooks.upd << " kept=" << hooks.upd_kept << '\n';
  for (const FastPathStats& f : fast_paths) {
    o << "fp " << f.config << " peak=" << f.entries_peak << " hits=" << f.hit_packets
      << " miss=" << f.miss_packets;
    for (const auto& [k, v] : f.failures) o << ' ' << k << '=' << v;
    o << '\n';
  }
  return o.str();
}

std::set<std::string> RunReport::violated() const {
  std::set<std::string> out;
  for (const auto& [name, n] : counts) out.insert(name);
  return out;
}

// ---- Session --------------------------------------------------------------------------------

Session::~Session() {
  // The replayer's engine calls the hooks while it is destroyed: drop them first.
  if (replayer_) replayer_->engine().setHooks(nullptr);
}

Result<std::unique_ptr<Session>> Session::create(const RunConfig& config,
                                                 const ProviderFactory& factory, int64_t start_ns) {
  std::unique_ptr<Session> s(new Session());
  s->config_ = config;
  s->factory_ = factory;
  s->now_ns_ = start_ns;
  s->registry_ = std::make_unique<Registry>(config.profile);
  s->registry_->setLogSink(nullptr, nullptr);
  s->hooks_ = std::make_unique<ct::RegistryHooks>(*s->registry_);
  CheckerConfig cc;
  cc.profile = config.profile;
  cc.sweep_interval_ms = config.sweep_interval_ms;
  cc.conn_limit = config.conn_limit;
  cc.zone_limits = config.zone_limits;
  cc.expensive = config.expensive_checks;
  cc.batch_hooks = config.batch_hooks;
  cc.zone_from_vlan = config.zone == ct::ZoneMode::kVlan;
  s->checker_ = std::make_unique<Checker>(*s->hooks_, cc);
  Checker* checker = s->checker_.get();
  s->hooks_->setListener([checker](const ct::HookEvent& e) { checker->onHookEvent(e); }, false);
  for (const std::string& spec : config.providers) {
    Status st = s->addProvider(spec);
    if (!st.ok()) return st;
  }
  for (RecordingProvider* w : s->wrappers_) {
    if (w->fastPath() != nullptr) s->fast_paths_.push_back(w->fastPath());
  }
  ct::ReplayOptions opt;
  opt.clock = ct::ClockMode::kTrace;
  opt.zone = config.zone;
  opt.engine.sweep_interval_ms = config.sweep_interval_ms;
  opt.engine.conn_limit = config.conn_limit;
  opt.engine.tcp_seq_check = config.tcp_seq_check;
  opt.engine = ct::hookProfileConfig(config.profile, opt.engine);
  if (config.offload) {
    opt.hooks = checker;
    opt.fast_paths = s->fast_paths_;
  }
  s->replayer_ = std::make_unique<ct::Replayer>(opt);
  for (const auto& [z, lim] : config.zone_limits) s->replayer_->engine().setZoneLimit(z, lim);
  checker->setEngine(&s->replayer_->engine());
  s->replayer_->begin();
  return s;
}

Status Session::addProvider(const std::string& spec) {
  auto h = factory_(spec);
  if (!h.ok()) return h.status();
  ProviderHandle handle = std::move(h).value();
  Provider* inner = handle.borrowed;
  auto w = std::make_unique<RecordingProvider>(std::move(handle.owned), inner, nullptr);
  RecordingProvider* raw = w.get();
  checker_->addProvider(raw);
  std::string name = raw->name() ? raw->name() : "";
  if (int err = registry_->registerProvider(std::move(w), kOriginProgram)) {
    checker_->forgetProvider(raw);  // the registry destroyed the refused provider.
    return Status(err, "cannot register provider " + spec + ": " + std::strerror(err));
  }
  wrappers_.push_back(raw);
  return Status();
}

RecordingProvider* Session::provider(const std::string& name) {
  for (RecordingProvider* w : wrappers_) {
    if (!w->unregistered() && w->name() && name == w->name()) return w;
  }
  return nullptr;
}

void Session::record(const TraceRecord& rec) {
  if (rec.ts_ns > now_ns_) now_ns_ = rec.ts_ns;
  TraceRecord r = rec;
  r.index = ++index_;
  r.ts_ns = now_ns_;
  replayer_->process(r, [this](const TraceRecord& tr, const ct::Verdict& v) {
    states_.push_back(v.fast_path ? "hw" : ct::formatCtState(v.state));
    if (config_.offload) checker_->onPacket(tr, v);
  });
}

void Session::packet(const std::vector<uint8_t>& frame, int64_t ms) {
  TraceRecord rec;
  rec.ts_ns = now_ns_ + ms * 1000000;
  rec.caplen = rec.wirelen = uint32_t(frame.size());
  rec.linktype = kLinkEthernet;
  rec.data = frame.data();
  record(rec);
}

void Session::advance(int64_t ms) {
  now_ns_ += ms * 1000000;
  int64_t now = nowMs();
  for (FastPath* fp : fast_paths_) {
    if (config_.offload) fp->setNow(now_ns_);
  }
  hooks_->setNow(now);
  checker_->onPacketStart(index_, now);
  engine().maybeSweep(now);
  if (config_.offload) checker_->onTimeStep(now);
}

void Session::sweep() {
  checker_->onPacketStart(index_, nowMs());
  engine().sweep(nowMs());
  if (config_.offload) checker_->onTimeStep(nowMs());
}

void Session::flush() {
  checker_->onPacketStart(index_, nowMs());
  engine().flushAll();
  if (config_.offload) checker_->onTimeStep(nowMs());
}

void Session::flushZone(uint16_t zone) {
  checker_->onPacketStart(index_, nowMs());
  engine().flushZone(zone);
  if (config_.offload) checker_->onTimeStep(nowMs());
}

Status Session::registerProvider(const std::string& spec) { return addProvider(spec); }

Status Session::unregisterProvider(const std::string& name) {
  RecordingProvider* w = provider(name);
  if (w == nullptr) return Status(ENOENT, "no registered provider " + name);
  registry_->unregisterName(name);
  checker_->onUnregister(w);
  return Status();
}

Status Session::fault(const std::string& name, const ProviderFaults& faults) {
  RecordingProvider* w = provider(name);
  if (w == nullptr) return Status(ENOENT, "no registered provider " + name);
  w->faults() = faults;
  return Status();
}

Status Session::apply(const Step& step) {
  switch (step.kind) {
    case Step::Kind::kPacket:
      packet(step.frame, step.ms);
      return Status();
    case Step::Kind::kAdvance:
      advance(step.ms);
      return Status();
    case Step::Kind::kSweep:
      sweep();
      return Status();
    case Step::Kind::kFlush:
      flush();
      return Status();
    case Step::Kind::kFlushZone:
      flushZone(step.zone);
      return Status();
    case Step::Kind::kRegister:
      return registerProvider(step.arg);
    case Step::Kind::kUnregister:
      return unregisterProvider(step.arg);
    case Step::Kind::kFault:
      return fault(step.arg, step.faults);
  }
  return Status(EINVAL, "unknown step");
}

RunReport Session::finish() {
  RunReport out;
  checker_->onPacketStart(index_, nowMs());
  out.summary = replayer_->finish(TraceEnd{});
  bool shut = false;
  if (config_.offload) {
    hooks_->shutdown();
    shut = true;
    checker_->finish(out.summary, true, shut);
  }
  out.violations = checker_->violations();
  out.counts = checker_->counts();
  out.states = states_;
  out.hooks = hooks_->counts();
  ct::addHookCounts(out.hooks, checker_->batchHookCounts());
  for (FastPath* fp : fast_paths_) out.fast_paths.push_back(fp->stats());
  for (const ProviderInfo& p : registry_->providers()) out.provider_names.push_back(p.name);
  return out;
}

// ---- Whole runs -----------------------------------------------------------------------------

Result<RunReport> runScenario(const Scenario& scenario, const ProviderFactory& factory) {
  auto s = Session::create(scenario.config, factory, scenario.start_ns);
  if (!s.ok()) return s.status();
  Session& session = *s.value();
  for (const Step& step : scenario.steps) {
    Status st = session.apply(step);
    // Registration changes that fail (a name clash, an unknown provider) are part of what a
    // generated scenario may try; they are not errors of the run.
    (void)st;
  }
  return session.finish();
}

Result<RunReport> runCapture(const std::string& path, const RunConfig& config,
                             const ProviderFactory& factory) {
  auto opened = TraceReader::open(path);
  if (!opened.ok()) return opened.status();
  TraceReader& reader = *opened.value();
  TraceRecord rec;
  std::unique_ptr<Session> session;
  while (reader.next(rec)) {
    if (!session) {
      auto s = Session::create(config, factory, rec.ts_ns);
      if (!s.ok()) return s.status();
      session = std::move(s).value();
    }
    session->record(rec);
  }
  if (!session) {
    auto s = Session::create(config, factory, 0);
    if (!s.ok()) return s.status();
    session = std::move(s).value();
  }
  return session->finish();
}

std::vector<Violation> checkTransparency(const Scenario& scenario, const ProviderFactory& factory) {
  std::vector<Violation> out;
  // Time stays below every timeout: a provider's last-used answers legitimately change how
  // long connections live, and so later packets' states; transparency is about the packets.
  // The RFC skips sequence checks for offloaded TCP connections (facts §3): compare with them
  // off on both sides.
  Scenario quick = scenario;
  quick.config.tcp_seq_check = false;
  quick.steps.clear();
  for (Step s : scenario.steps) {
    if (s.kind == Step::Kind::kAdvance || s.kind == Step::Kind::kSweep) continue;
    s.ms = std::min<int64_t>(s.ms, 5);
    quick.steps.push_back(std::move(s));
  }
  Scenario base = quick;
  base.config.offload = false;
  auto with = runScenario(quick, factory);
  auto without = runScenario(base, factory);
  if (!with.ok() || !without.ok()) {
    out.push_back({"offload-transparent", 0, "a run could not start"});
    return out;
  }
  const auto& a = with.value().states;
  const auto& b = without.value().states;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] != b[i]) {
      out.push_back({"offload-transparent", i + 1,
                     "ct_state " + a[i] + " with providers, " + b[i] + " without"});
      break;
    }
  }
  return out;
}

std::vector<Violation> checkDeterminism(const Scenario& scenario, const ProviderFactory& factory) {
  std::vector<Violation> out;
  auto a = runScenario(scenario, factory);
  auto b = runScenario(scenario, factory);
  if (!a.ok() || !b.ok()) {
    out.push_back({"determinism", 0, "a run could not start"});
    return out;
  }
  if (a.value().digest() != b.value().digest()) {
    out.push_back({"determinism", 0, "two runs of one scenario gave different reports"});
  }
  return out;
}

namespace {

// What one replay of checkSharded saw.
struct ShardedSide {
  std::map<uint64_t, uint8_t> states;  // record -> ct_state.
  std::multiset<std::string> table;    // "key state packets-fwd/packets-rev" per connection.
  ct::ReplaySummary summary;
  ct::HookCounts hooks;
};

void noteFinalTable(ShardedSide& side, const ct::Conntrack& engine) {
  for (const ct::Conn* c : engine.connections()) {
    side.table.insert(ct::formatKey(c->key()) + " " + ct::connStateName(c->ext.state) + " " +
                      std::to_string(c->packets[0]) + "/" + std::to_string(c->packets[1]));
  }
}

// The first difference between the one-thread side `a` and the sharded side `b`, or "".
std::string firstDifference(const ShardedSide& a, const ShardedSide& b) {
  if (a.states != b.states) {
    for (const auto& [rec, st] : a.states) {
      auto it = b.states.find(rec);
      std::string other = it == b.states.end() ? "none" : ct::formatCtState(it->second);
      if (other != ct::formatCtState(st)) {
        return "record " + std::to_string(rec) + ": ct_state " + ct::formatCtState(st) +
               " on one thread, " + other + " sharded";
      }
    }
    return "sharded verdicts for records one thread never saw";
  }
  if (a.table != b.table) {
    return "final table: " + std::to_string(a.table.size()) + " connections on one thread, " +
           std::to_string(b.table.size()) + " sharded, or their state/packets differ";
  }
  const ct::ReplaySummary &x = a.summary, &y = b.summary;
  const ct::ConntrackStats &e = x.engine, &f = y.engine;
  std::pair<const char*, bool> same[] = {
      {"packets", x.packets == y.packets},
      {"by_ct_state", x.by_ct_state == y.by_ct_state},
      {"by_outcome", x.by_outcome == y.by_outcome},
      {"invalid_by_reason", x.invalid_by_reason == y.invalid_by_reason},
      {"conns", x.conns == y.conns},
      {"created", x.created == y.created},
      {"removed", x.removed == y.removed},
      {"engine conns_created", e.conns_created == f.conns_created},
      {"engine conns_removed", e.conns_removed == f.conns_removed},
      {"engine port_reuse", e.port_reuse == f.port_reuse},
      {"engine sweeps", e.sweeps == f.sweeps},
      {"engine swept", e.swept == f.swept},
      {"engine updates", e.updates == f.updates},
      {"hook conn_add", a.hooks.add == b.hooks.add && a.hooks.add_failed == b.hooks.add_failed},
      {"hook conn_established", a.hooks.est == b.hooks.est},
      {"hook conn_del", a.hooks.del == b.hooks.del},
      {"hook conn_update", a.hooks.upd == b.hooks.upd && a.hooks.upd_kept == b.hooks.upd_kept},
  };
  for (const auto& [what, ok] : same) {
    if (!ok) return std::string(what) + " differs";
  }
  return "";
}

}  // namespace

std::vector<Violation> checkSharded(const std::string& path, const RunConfig& config,
                                    ct::ClockMode clock, uint32_t threads,
                                    const ProviderFactory& factory, bool* compared) {
  std::vector<Violation> out;
  if (compared != nullptr) *compared = false;
  auto fail = [&](std::string why) {
    out.push_back({"sharded-equals-single", 0, std::move(why)});
    return out;
  };
  auto opened = TraceReader::open(path);
  if (!opened.ok()) return fail(opened.status().message());
  std::vector<std::vector<uint8_t>> frames;
  std::vector<TraceRecord> recs;
  TraceRecord rec;
  while (opened.value()->next(rec)) {
    frames.emplace_back(rec.data, rec.data + rec.caplen);
    recs.push_back(rec);
  }
  for (size_t i = 0; i < recs.size(); ++i) recs[i].data = frames[i].data();
  TraceEnd end = opened.value()->end();

  ct::ReplayOptions base;
  base.clock = clock;
  base.zone = config.zone;
  base.flush_at_end = false;
  base.engine.sweep_interval_ms = config.sweep_interval_ms;
  base.engine.conn_limit = config.conn_limit;
  base.engine.tcp_seq_check = config.tcp_seq_check;
  if (!config.providers.empty()) base.engine = ct::hookProfileConfig(config.profile, base.engine);
  // One registry per side, shared by that side's shards, with fresh providers.
  auto makeRegistry = [&](std::unique_ptr<Registry>& reg) -> std::string {
    reg = std::make_unique<Registry>(config.profile);
    reg->setLogSink(nullptr, nullptr);
    for (const std::string& spec : config.providers) {
      auto h = factory(spec);
      if (!h.ok()) return h.status().message();
      ProviderHandle handle = std::move(h).value();
      Provider* inner = handle.borrowed;
      auto w = std::make_unique<RecordingProvider>(std::move(handle.owned), inner, nullptr);
      if (w->fastPath() != nullptr) return spec + " has a fast path (not sharded)";
      if (int err = reg->registerProvider(std::move(w), kOriginProgram)) {
        return "cannot register " + spec + ": " + std::strerror(err);
      }
    }
    return "";
  };

  ShardedSide one, many;
  {
    std::unique_ptr<Registry> reg;
    if (std::string why = makeRegistry(reg); !why.empty()) return fail(why);
    std::unique_ptr<ct::RegistryHooks> hooks;
    ct::ReplayOptions opt = base;
    if (!config.providers.empty()) {
      hooks = std::make_unique<ct::RegistryHooks>(*reg);
      opt.hooks = hooks.get();
    }
    ct::Replayer r(opt);
    r.begin();
    for (const TraceRecord& x : recs) {
      r.process(x,
                [&](const TraceRecord& t, const ct::Verdict& v) { one.states[t.index] = v.state; });
    }
    one.summary = r.finish(end);
    noteFinalTable(one, r.engine());
    if (hooks) {
      one.hooks = hooks->counts();
      // Switch shutdown (provider flush): a plug-in's state is per process, not per registry,
      // and the sharded side's connections may reuse this side's addresses.
      hooks->shutdown();
    }
    r.engine().setHooks(nullptr);
  }
  const ct::ReplaySummary& s1 = one.summary;
  if (s1.engine.limit_drops + s1.engine.sweep_bound_hits + s1.ipf.over_limit > 0) return out;
  if (compared != nullptr) *compared = true;
  {
    std::unique_ptr<Registry> reg;
    if (std::string why = makeRegistry(reg); !why.empty()) return fail(why);
    std::vector<std::unique_ptr<ct::RegistryHooks>> hooks;
    std::vector<ct::ReplayOptions> shards(std::max<uint32_t>(threads, 2), base);
    for (ct::ReplayOptions& o : shards) {
      if (config.providers.empty()) continue;
      hooks.push_back(std::make_unique<ct::RegistryHooks>(*reg));
      o.hooks = hooks.back().get();
    }
    std::vector<std::map<uint64_t, uint8_t>> states(shards.size());
    ct::ShardedReplayer r(std::move(shards));
    r.begin([&](uint32_t shard, const TraceRecord& t, const ct::Verdict& v) {
      states[shard][t.index] = v.state;
    });
    for (const TraceRecord& x : recs) r.process(x);
    many.summary = r.finish(end);
    for (const auto& m : states) many.states.insert(m.begin(), m.end());
    for (size_t i = 0; i < r.shards(); ++i) {
      noteFinalTable(many, r.shard(i).engine());
      r.shard(i).engine().setHooks(nullptr);
    }
    for (const auto& h : hooks) ct::addHookCounts(many.hooks, h->counts());
    if (!hooks.empty()) hooks[0]->shutdown();
  }
  if (std::string diff = firstDifference(one, many); !diff.empty()) {
    return fail(std::to_string(threads) + " threads vs one: " + diff);
  }
  return out;
}

namespace {

// A provider call log for the batch comparison.
class LogSink final : public CallSink {
 public:
  std::vector<std::string> lines;  // "op key answer" per call.
  void onCall(RecordingProvider&, const ProviderCall& c) override {
    if (c.op == CallOp::kBatch || c.op == CallOp::kInit) return;
    std::string line = std::string(callOpName(c.op));
    if (c.conn != nullptr) line += " " + ct::formatKey(c.key);
    if (c.op == CallOp::kAdd) line += " -> " + std::to_string(c.result);
    if (c.op == CallOp::kUpdate) line += c.last_used != 0 ? " -> ts" : " -> 0";
    if (c.op == CallOp::kCan) line += c.can ? " -> yes" : " -> no";
    lines.push_back(line);
  }
};

}  // namespace

std::vector<Violation> checkBatchEqualsSingle(const std::string& spec, Profile profile, int n,
                                              const ProviderFactory& factory) {
  std::vector<Violation> out;
  std::vector<::conn> conns(size_t(std::max(n, 1)));
  for (size_t i = 0; i < conns.size(); ++i) {
    ::conn& c = conns[i];
    c.key_fwd.af = CTSIM_AF_INET;
    c.key_fwd.proto = 17;
    c.key_fwd.src[0] = 10;
    c.key_fwd.src[3] = 1;
    c.key_fwd.dst[0] = 10;
    c.key_fwd.dst[3] = 2;
    c.key_fwd.ports.src = uint16_t(1000 + i);
    c.key_fwd.ports.dst = 53;
    c.state = CTSIM_CS_OTHER_FIRST;
  }
  ::netdev dev;
  dev.name = "p0";
  dev.port = 1;
  const ct_offload_op_type kinds[] = {CT_OFFLOAD_OP_POLICY, CT_OFFLOAD_OP_ADD, CT_OFFLOAD_OP_EST,
                                      CT_OFFLOAD_OP_UPD, CT_OFFLOAD_OP_DEL};
  struct Side {
    std::vector<int> errors;
    LogSink log;
  };
  auto run = [&](bool batched, Side& side) -> bool {
    for (::conn& c : conns) {
      c.offload_mark = OffloadMark::kNone;
      c.offload_acceptors = 0;
    }
    auto h = factory(spec);
    if (!h.ok()) return false;
    Registry reg(profile);
    reg.setLogSink(nullptr, nullptr);
    ProviderHandle handle = std::move(h).value();
    Provider* inner = handle.borrowed;
    auto w = std::make_unique<RecordingProvider>(std::move(handle.owned), inner, &side.log);
    if (reg.registerProvider(std::move(w), kOriginProgram) != 0) return false;
    for (ct_offload_op_type t : kinds) {
      bool with_dev = t == CT_OFFLOAD_OP_ADD || t == CT_OFFLOAD_OP_EST || t == CT_OFFLOAD_OP_POLICY;
      if (batched) {
        ct_offload_op_batch b;
        ct_offload_op_batch_init(&b);
        for (::conn& c : conns) {
          ct_offload_ctx ctx = makeCtx(c, with_dev ? &dev : nullptr);
          ct_offload_op_batch_add(&b, t, &ctx);
        }
        reg.submit(b);
        for (size_t i = 0; i < b.n_ops; ++i) side.errors.push_back(b.ops[i].error);
        ct_offload_op_batch_destroy(&b);
      } else {
        const int upd_error = profile == Profile::kRfcV1 ? ENODATA : EIO;
        for (::conn& c : conns) {
          ct_offload_ctx ctx = makeCtx(c, with_dev ? &dev : nullptr);
          switch (t) {
            case CT_OFFLOAD_OP_POLICY:
              side.errors.push_back(reg.canOffload(ctx) ? 0 : EPERM);
              break;
            case CT_OFFLOAD_OP_ADD:
              side.errors.push_back(reg.connAdd(ctx));
              break;
            case CT_OFFLOAD_OP_EST:
              reg.connEstablished(ctx);
              side.errors.push_back(0);
              break;
            case CT_OFFLOAD_OP_UPD:
              side.errors.push_back(reg.connUpdate(ctx) != 0 ? 0 : upd_error);
              break;
            default:
              reg.connDel(ctx);
              side.errors.push_back(0);
              break;
          }
        }
      }
    }
    reg.flush();
    return true;
  };
  Side batch, single;
  if (!run(true, batch) || !run(false, single)) {
    out.push_back({"batch-equals-single", 0, "provider " + spec + " could not be set up"});
    return out;
  }
  if (batch.errors != single.errors) {
    for (size_t i = 0; i < batch.errors.size() && i < single.errors.size(); ++i) {
      if (batch.errors[i] != single.errors[i]) {
        out.push_back({"batch-equals-single", 0,
                       "op " + std::to_string(i + 1) + ": batch error " +
                           std::to_string(batch.errors[i]) + ", one by one " +
                           std::to_string(single.errors[i])});
        break;
      }
    }
  }
  // A provider with batch_submit sees the batch whole instead of per-op calls: compare calls
  // only for providers without it.
  if (batch.log.lines != single.log.lines && out.empty()) {
    bool has_batch = false;
    if (auto h = factory(spec); h.ok()) {
      Provider* p = h.value().owned ? h.value().owned.get() : h.value().borrowed;
      has_batch = p->callbacks() & bit(Callback::kBatchSubmit);
    }
    if (!has_batch) {
      out.push_back({"batch-equals-single", 0, "the provider saw different calls in a batch"});
    }
  }
  return out;
}

}  // namespace ctsim::props

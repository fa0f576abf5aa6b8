#include "sim/conntrack/registry_hooks.h"

#include <cerrno>
#include <cstdio>

#include "sim/conntrack/ct_state.h"

namespace ctsim::ct {

ConntrackConfig hookProfileConfig(Profile profile, ConntrackConfig base) {
  bool on = profile == Profile::kStrict;
  base.strict.replace_expired = on;
  base.strict.update_checks_timestamp = on;
  base.strict.validate_responder_rst = on;
  return base;
}

const char* hookOpName(HookOp op) {
  switch (op) {
    case HookOp::kConnAdd:
      return "conn_add";
    case HookOp::kConnEstablished:
      return "conn_established";
    case HookOp::kConnDel:
      return "conn_del";
    case HookOp::kConnUpdate:
      return "conn_update";
    case HookOp::kFlush:
      return "flush";
  }
  return "?";
}

namespace {
// The hooks whose replay runs on this thread (sharded replay: one per shard, sharing one
// registry and so one registry clock): providers called from a shard see that shard's time.
thread_local const RegistryHooks* t_active_hooks = nullptr;
}  // namespace

void addHookCounts(HookCounts& into, const HookCounts& from) {
  into.add += from.add;
  into.add_failed += from.add_failed;
  into.est += from.est;
  into.del_requested += from.del_requested;
  into.del += from.del;
  into.del_at_end += from.del_at_end;
  into.upd += from.upd;
  into.upd_kept += from.upd_kept;
  into.upd_batches += from.upd_batches;
  into.shutdown_flushes += from.shutdown_flushes;
}

RegistryHooks::RegistryHooks(Registry& registry, std::string netdev_name, odp_port_t port)
    : registry_(registry) {
  netdev_.name = std::move(netdev_name);
  netdev_.port = port;
  registry_.setClock(&RegistryHooks::clockThunk, this);
}

RegistryHooks::~RegistryHooks() {
  if (t_active_hooks == this) t_active_hooks = nullptr;
  registry_.setClock(nullptr, nullptr);
}

long long RegistryHooks::clockThunk(void* self) {
  const RegistryHooks* h =
      t_active_hooks != nullptr ? t_active_hooks : static_cast<RegistryHooks*>(self);
  return h->now_ms_;
}

void RegistryHooks::setListener(Listener listener, bool trace_providers) {
  listener_ = std::move(listener);
  trace_providers_ = trace_providers && listener_ != nullptr;
}

RegistryHooks::Counters RegistryHooks::counters() const {
  Counters out;
  if (!trace_providers_) return out;
  for (const ProviderInfo& p : registry_.providers()) out.push_back(p.calls);
  return out;
}

std::vector<std::string> RegistryHooks::reached(const Counters& before,
                                                std::initializer_list<Callback> cbs) {
  std::vector<std::string> out;
  if (!trace_providers_) return out;
  std::vector<ProviderInfo> now = registry_.providers();
  // Providers are matched by position; registration changes during a replay are not expected,
  // and a provider added since `before` counts from zero.
  for (size_t i = 0; i < now.size(); ++i) {
    for (Callback cb : cbs) {
      size_t k = static_cast<size_t>(cb);
      uint64_t was = i < before.size() ? before[i][k] : 0;
      if (now[i].calls[k] > was) {
        out.push_back(now[i].name);
        break;
      }
    }
  }
  return out;
}

void RegistryHooks::emit(HookEvent& e, const Counters& before,
                         std::initializer_list<Callback> cbs) {
  if (!listener_) return;
  e.phase = phase_;
  e.packet = packet_;
  e.providers = reached(before, cbs);
  listener_(e);
}

bool RegistryHooks::delGatePasses(const Conn& conn) const {
  switch (registry_.profile()) {
    case Profile::kRfcV1:
      return true;
    case Profile::kRfcV2:
      return conn.ext.offload_mark != OffloadMark::kNone;
    case Profile::kStrict:
      return conn.ext.offload_mark != OffloadMark::kNone && conn.ext.offload_acceptors != 0;
  }
  return true;
}

void RegistryHooks::onPacketStart(uint64_t packet, int64_t now) {
  t_active_hooks = this;
  now_ms_ = now;
  packet_ = packet;
  phase_ = HookPhase::kPacket;
}

void RegistryHooks::onConnAdd(Conn& conn, const PacketMeta&) {
  Counters before = counters();
  ct_offload_ctx ctx = makeCtx(conn.ext, &netdev_);
  int err = registry_.connAdd(ctx);
  ++counts_.add;
  if (err != 0) ++counts_.add_failed;
  HookEvent e;
  e.op = HookOp::kConnAdd;
  e.conn = &conn;
  e.result = err;
  emit(e, before, {Callback::kConnAdd});
}

void RegistryHooks::onEstablished(Conn& conn, const PacketMeta&) {
  Counters before = counters();
  ct_offload_ctx ctx = makeCtx(conn.ext, &netdev_);
  int err = registry_.connEstablished(ctx);
  if (err != 0) return;  // not marked added: nothing was dispatched.
  ++counts_.est;
  HookEvent e;
  e.op = HookOp::kConnEstablished;
  e.conn = &conn;
  emit(e, before, {Callback::kConnEstablished});
}

void RegistryHooks::onDelete(Conn& conn, DeleteReason) {
  Counters before = counters();
  bool pass = delGatePasses(conn);
  ct_offload_ctx ctx = makeCtx(conn.ext);
  registry_.connDel(ctx);
  ++counts_.del_requested;
  if (pass) {
    ++counts_.del;
    if (phase_ == HookPhase::kEnd) ++counts_.del_at_end;
  }
  HookEvent e;
  e.op = HookOp::kConnDel;
  e.conn = &conn;
  e.dispatched = pass;
  emit(e, before, {Callback::kConnDel});
}

void RegistryHooks::onUpdateBatch(std::span<Conn* const> conns, std::span<int64_t> last_used) {
  if (registry_.profile() == Profile::kStrict) {
    // The timestamp itself is needed (§5.3 fix): one conn_update per connection.
    for (size_t i = 0; i < conns.size(); ++i) {
      Counters before = counters();
      ct_offload_ctx ctx = makeCtx(conns[i]->ext);
      long long ts = registry_.connUpdate(ctx);
      last_used[i] = ts;
      ++counts_.upd;
      if (ts != 0) ++counts_.upd_kept;
      HookEvent e;
      e.op = HookOp::kConnUpdate;
      e.conn = conns[i];
      e.result = ts != 0 ? 0 : EIO;
      emit(e, before, {Callback::kConnUpdate});
    }
    return;
  }
  Counters before = counters();
  ct_offload_op_batch batch;
  ct_offload_op_batch_init(&batch);
  for (Conn* c : conns) {
    ct_offload_ctx ctx = makeCtx(c->ext);
    ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_UPD, &ctx);
  }
  registry_.submit(batch);
  ++counts_.upd_batches;
  // The RFC keeps a connection whose op succeeded whatever the timestamp was; the engine ignores
  // the value outside strict, so any non-zero stands for "kept".
  int64_t kept = now_ms_ != 0 ? now_ms_ : 1;
  for (size_t i = 0; i < conns.size(); ++i) {
    int err = batch.ops[i].error;
    last_used[i] = err == 0 ? kept : 0;
    ++counts_.upd;
    if (err == 0) ++counts_.upd_kept;
  }
  if (listener_) {
    // Every op's event names the providers the batch reached.
    std::vector<std::string> who;
    if (trace_providers_) who = reached(before, {Callback::kConnUpdate, Callback::kBatchSubmit});
    for (size_t i = 0; i < conns.size(); ++i) {
      HookEvent e;
      e.phase = phase_;
      e.packet = packet_;
      e.op = HookOp::kConnUpdate;
      e.conn = conns[i];
      e.result = batch.ops[i].error;
      e.providers = who;
      listener_(e);
    }
  }
  ct_offload_op_batch_destroy(&batch);
}

void RegistryHooks::shutdown() {
  HookPhase saved = phase_;
  phase_ = HookPhase::kShutdown;
  Counters before = counters();
  registry_.flush();
  ++counts_.shutdown_flushes;
  HookEvent e;
  e.op = HookOp::kFlush;
  emit(e, before, {Callback::kFlush});
  phase_ = saved;
}

void HooksOracleWriter::onEvent(const HookEvent& e) {
  if (e.op == HookOp::kConnUpdate || e.op == HookOp::kFlush) return;
  if (e.op == HookOp::kConnDel && !e.dispatched) return;
  if (e.phase == HookPhase::kEnd) {
    if (e.op == HookOp::kConnDel) ++end_dels_;
    return;
  }
  if (e.phase != HookPhase::kPacket) return;
  pending_ += ' ';
  pending_ += hookOpName(e.op);
}

std::string HooksOracleWriter::packetLine(uint64_t packet, uint8_t ct_state) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%llu: %-16s", (unsigned long long)packet,
                formatCtState(ct_state).c_str());
  std::string line = buf + pending_;
  pending_.clear();
  return line;
}

std::string HooksOracleWriter::finalLine(const HookCounts& c) const {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "flush: conn_del x%llu; totals: add=%llu est=%llu del=%llu upd=%llu",
                (unsigned long long)end_dels_, (unsigned long long)c.add, (unsigned long long)c.est,
                (unsigned long long)c.del, (unsigned long long)c.upd);
  return buf;
}

std::string formatHookEvent(const HookEvent& e) {
  std::string where;
  switch (e.phase) {
    case HookPhase::kPacket:
      where = std::to_string(e.packet);
      break;
    case HookPhase::kEnd:
      where = "end";
      break;
    case HookPhase::kShutdown:
      where = "shutdown";
      break;
  }
  std::string tail;
  if (e.conn != nullptr) tail = " " + formatKey(e.conn->key());
  std::string out;
  auto line = [&](const std::string& provider) {
    out += where + ": " + hookOpName(e.op) + " " + provider + tail + "\n";
  };
  if (e.providers.empty()) line("-");
  for (const std::string& p : e.providers) line(p);
  return out;
}

}  // namespace ctsim::ct

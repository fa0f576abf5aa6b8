#include "properties/invariants.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sim/conntrack/ct_state.h"
#include "sim/conntrack/extract.h"
#include "sim/packet.h"
#include "sim/parser.h"
#include "sim/trace_reader.h"

namespace ctsim::props {

namespace {

using ct::kCsEstablished;
using ct::kCsInvalid;
using ct::kCsNew;
using ct::kCsRelated;
using ct::kCsReply;
using ct::kCsTracked;

std::string keyText(const ctsim_conn_key& k) { return ct::formatKey(k); }

bool sameKey(const ctsim_conn_key& a, const ctsim_conn_key& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// The packet's conntrack key, when it has one (not a fragment, extractable).
bool packetKey(const TraceRecord& rec, uint16_t zone, ct::CtPacket* out) {
  ct::NetView nv = ct::netView(rec.linktype, rec.data, rec.caplen);
  if (!nv.has_l3 || !nv.sane || nv.fragment) return false;
  return ct::extractCtPacket(nv.version, nv.l3, nv.l3_size, zone, out);
}

}  // namespace

const std::vector<InvariantInfo>& invariantCatalog() {
  static const std::vector<InvariantInfo> table = {
      {"add-del-balanced",
       "per provider, every accepted conn_add is balanced by one conn_del or a flush by the end "
       "of a replay followed by a flush",
       "issue 8 #1"},
      {"del-on-removal",
       "when the engine removes a connection, every provider that accepted it gets conn_del",
       "issue 8 #1, facts §5.2"},
      {"no-call-after-unregister", "no callback reaches a provider after its unregistration",
       "issue 8 #1"},
      {"est-once", "conn_established reaches a provider at most once per connection", "issue 8 #2"},
      {"est-after-add",
       "conn_established reaches only providers that accepted the connection's conn_add",
       "issue 8 #2, facts §5.4"},
      {"can-offload-gates-add", "a provider whose can_offload said false gets no conn_add for it",
       "issue 8 #3"},
      {"add-only-committed-new",
       "conn_add only for a connection just created by a committed new packet, never for an "
       "invalid or related one",
       "issue 8 #4"},
      {"limits-respected", "the table never holds more connections than a zone or global limit",
       "issue 8 #4, facts §4"},
      {"no-orphan-entries",
       "every provider entry belongs to a live software connection (held connections and "
       "active fast-path entries)",
       "issue 8 #5"},
      {"unique-tuple", "at most one live connection per zone and tuple", "issue 8 #6, facts §5.1"},
      {"one-add-per-tuple", "a provider never holds two connections of one zone and tuple",
       "facts §5.1"},
      {"update-no-earlier", "a connection kept by conn_update never has its expiry moved earlier",
       "issue 8 #7"},
      {"idle-expires",
       "a connection without activity anywhere for its timeout is gone within one sweep interval",
       "issue 8 #7, facts §5.3"},
      {"offload-transparent",
       "with every packet sent up (mirror mode), each packet's ct_state is the same as without "
       "providers",
       "issue 8 #8"},
      {"dispatch-order",
       "dispatch follows registration order; conn_add returns the first error and still calls "
       "every provider",
       "issue 8 #9, facts §2"},
      {"batch-equals-single", "a batch gives the same results as the same ops one by one",
       "issue 8 #10, facts §2"},
      {"packet-maps-to-conn",
       "a packet matches its connection's forward key, or its reverse key exactly when it is a "
       "reply",
       "issue 8 #11"},
      {"zone-isolation", "a packet only ever matches a connection of its own zone", "issue 8 #11"},
      {"icmp-error-no-conn", "an ICMP error never creates a connection", "issue 8 #12"},
      {"flush-clears-all",
       "after the end flush and the shutdown flush, no connection or entry is left anywhere",
       "issue 8 #13"},
      {"capacity-respected", "a fast path never holds more entries than its capacity",
       "issue 8 #14"},
      {"consumed-only-offloaded",
       "a packet consumed by a fast path belongs to a live connection a provider accepted, so "
       "refused connections stay in software",
       "issue 8 #14"},
      {"accounting",
       "every packet lands in exactly one bucket (consumed, or one ct_state), and one parser "
       "outcome",
       "issue 8 #15"},
      {"determinism", "the same trace and seed give the same report", "issue 8 #16"},
      {"sharded-equals-single",
       "a trace replayed sharded over two threads gives one thread's per-packet ct_state, final "
       "table, counters and hook calls (while no limit or sweep visit bound is reached)",
       "issue 8 #16, sim/conntrack/sharded.h"},
      {"pcap-roundtrip", "a generated packet written to pcap parses back to the same fields",
       "issue 8 #17"},
      {"mark-needs-acceptor", "a connection is marked offloaded only if some provider accepted it",
       "facts §5.4"},
      {"responder-rst-validated",
       "a responder's RST to a SYN that does not acknowledge it is never established",
       "facts §5.5"},
      {"mandatory-callbacks-checked",
       "a class without conn_add, conn_del or can_offload is refused at registration",
       "facts §5.6"},
      {"tcp-invalid-flags",
       "a TCP packet with SYN+RST, SYN+FIN, none of SYN/ACK/RST, or FIN/PSH/URG without ACK is "
       "inv",
       "facts §4"},
      {"synack-never-new", "a SYN+ACK never creates a connection", "facts §4"},
      {"state-bits-wellformed",
       "a tracked packet has trk and exactly one of new/est/rel/inv; rpl only with est or rel",
       "facts §4"},
      {"udp-new-until-reply", "a UDP connection is new until a reply is seen, then est",
       "facts §4"},
      {"expired-invisible", "a packet never matches a connection that had expired before it",
       "facts §4"},
      {"update-not-future", "conn_update never answers a last-used time later than now",
       "ct_offload.h conn_update"},
      {"add-once", "conn_add reaches a provider at most once per connection",
       "ct_offload.h conn_add"},
      {"context-netdev",
       "add and established contexts carry the input netdev; delete and update contexts have "
       "none (CTSIM_PORT_NONE)",
       "ct_offload.h struct ct_offload_ctx"},
  };
  return table;
}

const InvariantInfo* findInvariant(std::string_view name) {
  for (const InvariantInfo& i : invariantCatalog()) {
    if (name == i.name) return &i;
  }
  return nullptr;
}

std::string formatViolation(const Violation& v) {
  return v.invariant + " at packet " + std::to_string(v.packet) + ": " + v.detail;
}

const char* callOpName(CallOp op) {
  switch (op) {
    case CallOp::kInit:
      return "init";
    case CallOp::kAdd:
      return "conn_add";
    case CallOp::kDel:
      return "conn_del";
    case CallOp::kUpdate:
      return "conn_update";
    case CallOp::kEst:
      return "conn_established";
    case CallOp::kCan:
      return "can_offload";
    case CallOp::kFlush:
      return "flush";
    case CallOp::kBatch:
      return "batch_submit";
  }
  return "?";
}

// ---- RecordingProvider ----------------------------------------------------------------------

RecordingProvider::RecordingProvider(std::unique_ptr<Provider> owned, Provider* inner,
                                     CallSink* sink)
    : owned_(std::move(owned)),
      inner_(inner ? inner : owned_.get()),
      fast_path_(fastPathOf(*inner_)),
      sink_(sink) {}

CallbackMask RecordingProvider::callbacks() const {
  CallbackMask m = inner_->callbacks();
  if (faults_.refuse) m |= bit(Callback::kCanOffload);
  return m;
}

void RecordingProvider::report(ProviderCall call, const ct_offload_ctx* ctx) {
  if (ctx != nullptr) {
    call.conn = ctx->conn;
    if (ctx->key != nullptr) call.key = *ctx->key;
    call.has_netdev = ctx->netdev_in != nullptr;
    call.port = ctx->input_port_id;
  }
  call.now_ms = ctsim_now_ms();
  call.after_unregister = unregistered_;
  if (sink_ != nullptr) sink_->onCall(*this, call);
}

int RecordingProvider::init() {
  ProviderCall c;
  c.op = CallOp::kInit;
  c.result = owned_ ? inner_->init() : 0;
  report(c, nullptr);
  return c.result;
}

int RecordingProvider::connAdd(const ct_offload_ctx& ctx) {
  ProviderCall c;
  c.op = CallOp::kAdd;
  if (faults_.add_error_left > 0 && faults_.add_error != 0) {
    --faults_.add_error_left;
    c.result = faults_.add_error;
    c.faulted = true;
  } else {
    c.result = inner_->connAdd(ctx);
  }
  report(c, &ctx);
  return c.result;
}

void RecordingProvider::connDel(const ct_offload_ctx& ctx) {
  inner_->connDel(ctx);
  ProviderCall c;
  c.op = CallOp::kDel;
  report(c, &ctx);
}

long long RecordingProvider::connUpdate(const ct_offload_ctx& ctx) {
  ProviderCall c;
  c.op = CallOp::kUpdate;
  if (faults_.upd_zero_left > 0) {
    --faults_.upd_zero_left;
    c.faulted = true;
  } else {
    c.last_used = inner_->connUpdate(ctx);
  }
  report(c, &ctx);
  return c.last_used;
}

void RecordingProvider::connEstablished(const ct_offload_ctx& ctx) {
  // Reported before forwarding: a provider may dispatch again from inside (a broken one).
  ProviderCall c;
  c.op = CallOp::kEst;
  report(c, &ctx);
  inner_->connEstablished(ctx);
}

bool RecordingProvider::canOffload(const ct_offload_ctx& ctx) {
  ProviderCall c;
  c.op = CallOp::kCan;
  if (faults_.refuse) {
    c.faulted = true;
  } else {
    c.can = inner_->canOffload(ctx);
  }
  report(c, &ctx);
  return c.can;
}

void RecordingProvider::flush() {
  inner_->flush();
  ProviderCall c;
  c.op = CallOp::kFlush;
  report(c, nullptr);
}

void RecordingProvider::batchSubmit(ct_offload_op_batch& batch) {
  inner_->batchSubmit(batch);
  ProviderCall c;
  c.op = CallOp::kBatch;
  c.result = int(batch.n_ops);
  report(c, nullptr);
  reportBatchOps(batch);
}

void RecordingProvider::reportBatchOps(const ct_offload_op_batch& batch) {
  for (size_t i = 0; i < batch.n_ops; ++i) {
    const ct_offload_op& op = batch.ops[i];
    ProviderCall c;
    c.in_batch = true;
    int type;  // An out-of-range op type is untrusted input: read it as an int.
    std::memcpy(&type, &op.type, sizeof type);
    switch (type) {
      case CT_OFFLOAD_OP_ADD:
        c.op = CallOp::kAdd;
        c.result = op.error;
        break;
      case CT_OFFLOAD_OP_DEL:
        c.op = CallOp::kDel;
        break;
      case CT_OFFLOAD_OP_UPD:
        c.op = CallOp::kUpdate;
        break;
      case CT_OFFLOAD_OP_EST:
        c.op = CallOp::kEst;
        break;
      case CT_OFFLOAD_OP_POLICY:
        c.op = CallOp::kCan;
        c.can = op.error == 0;
        break;
      case CT_OFFLOAD_OP_FLUSH:
        c.op = CallOp::kFlush;
        report(c, nullptr);
        continue;
      default:
        continue;
    }
    report(c, &op.ctx);
  }
}

// ---- Checker --------------------------------------------------------------------------------

Checker::Checker(ct::RegistryHooks& inner, CheckerConfig config)
    : inner_(inner), config_(std::move(config)) {
  // The registry hooks' default netdev (registry_hooks.h).
  batch_netdev_.name = "p0";
  batch_netdev_.port = 1;
}

int Checker::submitOne(ct_offload_op_type type, ct::Conn& conn, bool with_netdev) {
  ct_offload_ctx ctx = makeCtx(conn.ext, with_netdev ? &batch_netdev_ : nullptr);
  ct_offload_op op{type, ctx, 0};
  ct_offload_op_batch batch{&op, 1, 1};
  inner_.registry().submit(batch);
  return op.error;
}

void Checker::report(std::string invariant, uint64_t packet, std::string detail) {
  uint64_t n = ++counts_[invariant];
  if (n > config_.max_per_invariant) return;
  violations_.push_back(Violation{std::move(invariant), packet, std::move(detail)});
}

void Checker::addProvider(RecordingProvider* p) {
  Prov prov;
  prov.rp = p;
  provs_.push_back(std::move(prov));
  p->setSink(this);
}

void Checker::forgetProvider(const RecordingProvider* p) {
  std::erase_if(provs_, [p](const Prov& x) { return x.rp == p; });
}

void Checker::onUnregister(RecordingProvider* p) {
  Prov* prov = provOf(*p);
  if (prov == nullptr) return;
  prov->registered = false;
  prov->held.clear();
  p->setUnregistered();
}

size_t Checker::indexOf(RecordingProvider& rp) const {
  for (size_t i = 0; i < provs_.size(); ++i) {
    if (provs_[i].rp == &rp) return i;
  }
  return provs_.size();
}

Checker::Prov* Checker::provOf(RecordingProvider& rp) {
  size_t i = indexOf(rp);
  return i < provs_.size() ? &provs_[i] : nullptr;
}

uint64_t Checker::idOf(const ::conn* c) const {
  auto it = live_.find(c);
  return it == live_.end() ? 0 : it->second.id;
}

void Checker::onHookEvent(const ct::HookEvent& e) {
  if (e.op == ct::HookOp::kConnAdd) last_add_result_ = e.result;
}

void Checker::onCall(RecordingProvider& rp, const ProviderCall& call) {
  size_t idx = indexOf(rp);
  if (idx == provs_.size()) return;
  Prov& p = provs_[idx];
  const char* name = rp.name() ? rp.name() : "?";
  if (call.after_unregister) {
    report("no-call-after-unregister", packet_,
           std::string(callOpName(call.op)) + " reached unregistered provider " + name);
  }
  bool needs_netdev = call.op == CallOp::kAdd || call.op == CallOp::kEst;
  bool no_netdev = call.op == CallOp::kDel || call.op == CallOp::kUpdate;
  if ((needs_netdev && !call.has_netdev) ||
      (no_netdev && (call.has_netdev || call.port != CTSIM_PORT_NONE))) {
    report("context-netdev", packet_,
           std::string(callOpName(call.op)) + " to " + name + " with a wrong netdev/port");
  }
  if (call.op == CallOp::kUpdate && call.last_used > now_ms_ && call.last_used > 0) {
    report("update-not-future", packet_,
           std::string(name) + " answered last_used " + std::to_string(call.last_used) +
               " at now " + std::to_string(now_ms_));
  }
  uint64_t id = idOf(call.conn);
  switch (call.op) {
    case CallOp::kAdd:
      if (id != 0 && !p.offered.insert(id).second) {
        report("add-once", packet_,
               std::string(name) + " got conn_add twice for " + keyText(call.key));
      }
      if (call.result == 0 && call.conn != nullptr) {
        for (const auto& [c, cid] : p.held) {
          if (c != call.conn && sameKey(c->key_fwd, call.key)) {
            report("one-add-per-tuple", packet_,
                   std::string(name) + " holds two connections of " + keyText(call.key));
            break;
          }
        }
        p.held[call.conn] = id;
      }
      break;
    case CallOp::kDel:
      ++p.dels_in_call;
      p.held.erase(call.conn);
      break;
    case CallOp::kEst:
      if (id != 0 && !p.established.insert(id).second) {
        report("est-once", packet_,
               std::string(name) + " got conn_established twice for " + keyText(call.key));
      }
      if (!p.held.count(call.conn)) {
        report("est-after-add", packet_,
               std::string(name) + " got conn_established for " + keyText(call.key) +
                   " without having accepted its conn_add");
      }
      break;
    case CallOp::kFlush:
      p.held.clear();
      break;
    case CallOp::kUpdate:
      if (call.last_used > 0 && call.last_used <= now_ms_) {
        auto it = live_.find(call.conn);
        if (it != live_.end()) {
          it->second.last_activity_ms =
              std::max<int64_t>(it->second.last_activity_ms, call.last_used);
        }
      }
      break;
    default:
      break;
  }
  if (in_hook_) calls_.push_back(CallRec{idx, call});
}

void Checker::onPacketStart(uint64_t packet, int64_t now) {
  packet_ = packet;
  now_ms_ = now;
  adds_this_packet_.clear();
  inner_.onPacketStart(packet, now);
}

void Checker::onTraceEnd() {
  at_end_ = true;
  inner_.onTraceEnd();
}

void Checker::onConnAdd(ct::Conn& conn, const ct::PacketMeta& meta) {
  Live l;
  l.conn = &conn;
  l.id = conn.id;
  l.last_activity_ms = now_ms_;
  l.timeout_ms = conn.expiration - now_ms_;
  l.seen_expiration = conn.expiration;
  // The tuple must not belong to another live (unexpired) connection.
  for (const auto& [c, other] : live_) {
    if (other.conn->expired(now_ms_)) continue;
    if (sameKey(other.conn->key(), conn.key()) || sameKey(other.conn->revKey(), conn.key())) {
      report("unique-tuple", packet_,
             "a second live connection for " + keyText(conn.key()) + " was created");
      break;
    }
  }
  live_[&conn.ext] = l;
  adds_this_packet_.push_back(conn.id);
  calls_.clear();
  in_hook_ = true;
  last_add_result_ = 0;
  if (config_.batch_hooks) {
    last_add_result_ = submitOne(CT_OFFLOAD_OP_ADD, conn, true);
    ++batch_counts_.add;
    if (last_add_result_ != 0) ++batch_counts_.add_failed;
  } else {
    inner_.onConnAdd(conn, meta);
  }
  in_hook_ = false;
  // Dispatch order, first error, everyone called; can_offload gating.
  size_t last = 0;
  bool first = true;
  int first_error = 0;
  std::vector<bool> refused(provs_.size(), false), added(provs_.size(), false);
  bool any_accepted = false;
  for (const CallRec& r : calls_) {
    // Batch providers get the batch first, whatever their place (registry.h submit).
    if (!r.call.in_batch && !first && r.prov < last) {
      report("dispatch-order", packet_,
             "provider " + std::string(provs_[r.prov].rp->name()) +
                 " was called out of registration order");
    }
    if (!r.call.in_batch) {
      first = false;
      last = r.prov;
    }
    if (r.call.op == CallOp::kCan && !r.call.can) refused[r.prov] = true;
    if (r.call.op == CallOp::kAdd) {
      added[r.prov] = true;
      if (refused[r.prov]) {
        report("can-offload-gates-add", packet_,
               std::string(provs_[r.prov].rp->name()) +
                   " got conn_add after can_offload said false for " + keyText(conn.key()));
      }
      if (r.call.result != 0 && first_error == 0) first_error = r.call.result;
      if (r.call.result == 0) any_accepted = true;
    }
  }
  for (size_t i = 0; i < provs_.size(); ++i) {
    if (!provs_[i].registered) continue;
    CallbackMask m = provs_[i].rp->callbacks();
    if (!(m & bit(Callback::kConnAdd)) || (m & bit(Callback::kBatchSubmit))) continue;
    if (!refused[i] && !added[i]) {
      report(
          "dispatch-order", packet_,
          std::string(provs_[i].rp->name()) + " was not given conn_add for " + keyText(conn.key()));
    }
  }
  if (last_add_result_ != first_error) {
    report("dispatch-order", packet_,
           "conn_add returned " + std::to_string(last_add_result_) + ", the first error was " +
               std::to_string(first_error));
  }
  if (conn.ext.offload_mark != OffloadMark::kNone && !any_accepted) {
    report("mark-needs-acceptor", packet_,
           keyText(conn.key()) + " was marked offloaded though no provider accepted it");
  }
}

void Checker::onEstablished(ct::Conn& conn, const ct::PacketMeta& meta) {
  calls_.clear();
  in_hook_ = true;
  if (config_.batch_hooks) {
    // The registry dispatches EST only for a connection marked added (registry.h).
    if (conn.ext.offload_mark == OffloadMark::kAdded) ++batch_counts_.est;
    submitOne(CT_OFFLOAD_OP_EST, conn, true);
  } else {
    inner_.onEstablished(conn, meta);
  }
  in_hook_ = false;
}

void Checker::onDelete(ct::Conn& conn, ct::DeleteReason reason) {
  for (Prov& p : provs_) p.dels_in_call = 0;
  std::vector<std::pair<size_t, bool>> holders;  // providers holding it before the call.
  for (size_t i = 0; i < provs_.size(); ++i) {
    if (provs_[i].held.count(&conn.ext)) holders.emplace_back(i, true);
  }
  calls_.clear();
  in_hook_ = true;
  if (config_.batch_hooks) {
    ++batch_counts_.del_requested;
    bool marked = conn.ext.offload_mark != OffloadMark::kNone;
    bool pass = config_.profile == Profile::kRfcV1 ||
                (marked && (config_.profile == Profile::kRfcV2 || conn.ext.offload_acceptors));
    if (pass) ++batch_counts_.del;
    if (pass && at_end_) ++batch_counts_.del_at_end;
    submitOne(CT_OFFLOAD_OP_DEL, conn, false);
  } else {
    inner_.onDelete(conn, reason);
  }
  in_hook_ = false;
  for (auto [i, held] : holders) {
    Prov& p = provs_[i];
    if (p.held.count(&conn.ext)) {
      report("del-on-removal", packet_,
             std::string(p.rp->name()) + " accepted " + keyText(conn.key()) +
                 " but got no conn_del when it was removed (" + ct::deleteReasonName(reason) + ")");
      p.held.erase(&conn.ext);
    }
  }
  if (config_.profile == Profile::kStrict) {
    for (const CallRec& r : calls_) {
      if (r.call.op != CallOp::kDel) continue;
      bool was_holder = false;
      for (auto [i, held] : holders) was_holder |= i == r.prov;
      if (!was_holder) {
        report("del-on-removal", packet_,
               std::string(provs_[r.prov].rp->name()) + " got conn_del for " + keyText(conn.key()) +
                   " it never accepted (strict)");
      }
    }
  }
  for (Prov& p : provs_) {
    p.established.erase(conn.id);
    p.offered.erase(conn.id);
  }
  live_.erase(&conn.ext);
}

void Checker::onUpdateBatch(std::span<ct::Conn* const> conns, std::span<int64_t> last_used) {
  std::vector<int64_t> before;
  for (ct::Conn* c : conns) before.push_back(c->expiration);
  calls_.clear();
  in_hook_ = true;
  inner_.onUpdateBatch(conns, last_used);
  in_hook_ = false;
  for (size_t i = 0; i < conns.size(); ++i) {
    auto it = live_.find(&conns[i]->ext);
    if (it == live_.end()) continue;
    it->second.exempt_expiry = true;
    it->second.seen_expiration = before[i];
  }
}

void Checker::onPacket(const TraceRecord& rec, const ct::Verdict& v) {
  ++packets_seen_;
  noteForcedExpiry();
  ct::CtPacket pkt;
  uint16_t zone = 0;
  if (v.conn != nullptr) {
    zone = v.conn->key().zone;
  } else if (config_.zone_from_vlan) {
    PacketInfo pi = parsePacket(rec.linktype, rec.data, rec.caplen, rec.wirelen);
    if (pi.vlan_count > 0) zone = pi.vlan_ids[0];
  }
  bool have_key = packetKey(rec, zone, &pkt);
  if (v.fast_path) {
    ++consumed_seen_;
    // The packet belongs to a live connection some provider holds.
    const ::conn* owner = nullptr;
    if (have_key) {
      for (const auto& [c, l] : live_) {
        if (sameKey(c->key_fwd, pkt.key) || sameKey(ctsim_conn_key_rev(c), pkt.key)) {
          if (!l.conn->expired(now_ms_) || owner == nullptr) owner = c;
        }
      }
    }
    bool held = false;
    for (const Prov& p : provs_) held |= owner != nullptr && p.held.count(owner) > 0;
    if (!held) {
      report("consumed-only-offloaded", packet_,
             "a fast path consumed a packet of " + (have_key ? keyText(pkt.key) : "?") +
                 " that no provider holds for a live connection");
    } else {
      live_[owner].last_activity_ms = now_ms_;
    }
  } else {
    ++tracked_seen_;
    uint8_t s = v.state;
    // Well-formed state bits.
    if (s != 0 || !v.held) {
      int kinds = ((s & kCsNew) != 0) + ((s & kCsEstablished) != 0) + ((s & kCsRelated) != 0) +
                  ((s & kCsInvalid) != 0);
      bool rpl_ok = !(s & kCsReply) || (s & (kCsEstablished | kCsRelated));
      if (!(s & kCsTracked) || kinds != 1 || !rpl_ok) {
        report("state-bits-wellformed", packet_, "ct_state " + ct::formatCtState(s));
      }
    }
    // A TCP segment's own flags (an ICMP error quoting TCP has a TCP key but no flags).
    if (have_key && pkt.key.proto == kProtoTcp && !pkt.icmp_related && !v.held) {
      uint8_t f = pkt.tcp_flags;
      bool bad = ((f & kTcpSyn) && (f & (kTcpRst | kTcpFin))) ||
                 !(f & (kTcpSyn | kTcpAck | kTcpRst)) ||
                 ((f & (kTcpFin | kTcpPsh | kTcpUrg)) && !(f & kTcpAck));
      if (bad && !(s & kCsInvalid)) {
        report("tcp-invalid-flags", packet_,
               "flags 0x" + std::to_string(f) + " tracked as " + ct::formatCtState(s));
      }
      if ((f & kTcpSyn) && (f & kTcpAck) && v.created) {
        report("synack-never-new", packet_, "a SYN+ACK created " + keyText(pkt.key));
      }
    }
    if (have_key && pkt.icmp_related && v.created) {
      report("icmp-error-no-conn", packet_, "an ICMP error created a connection");
    }
    if (v.conn != nullptr && have_key && !v.held && !v.reassembled) {
      const ct::Conn& c = *v.conn;
      bool fwd = sameKey(c.key(), pkt.key), rev = sameKey(c.revKey(), pkt.key);
      if (!pkt.icmp_related && ((v.reply && !rev) || (!v.reply && !fwd))) {
        report("packet-maps-to-conn", packet_,
               "packet " + keyText(pkt.key) + " matched " + keyText(c.key()) +
                   (v.reply ? " as a reply" : " as forward"));
      }
    }
    if (v.conn != nullptr && rec.linktype == kLinkEthernet) {
      // The replay takes the zone from the outer VLAN or uses 0; either way it is the packet's.
      // A connection of another zone can only come from a wrong lookup.
      if (have_key && v.conn->key().zone != pkt.key.zone) {
        report("zone-isolation", packet_,
               "packet of zone " + std::to_string(pkt.key.zone) + " matched a connection of zone " +
                   std::to_string(v.conn->key().zone));
      }
    }
    // conn_add only for the connection this packet created, a committed new one.
    for (uint64_t id : adds_this_packet_) {
      bool ok = v.created && v.conn != nullptr && v.conn->id == id && (s & kCsNew) &&
                !(s & (kCsInvalid | kCsRelated));
      if (!ok) {
        report("add-only-committed-new", packet_,
               "conn_add for connection #" + std::to_string(id) + " on a packet tracked " +
                   ct::formatCtState(s));
      }
    }
    if (v.conn != nullptr) {
      auto it = live_.find(&v.conn->ext);
      if (it != live_.end()) {
        Live& l = it->second;
        if (!v.created && !l.exempt_expiry && l.seen_expiration <= now_ms_) {
          report("expired-invisible", packet_,
                 "packet matched " + keyText(v.conn->key()) + " expired at " +
                     std::to_string(l.seen_expiration));
        }
        if (v.reply && !l.reply_seen && l.syn_isn_known && have_key && (pkt.tcp_flags & kTcpRst) &&
            !(pkt.tcp_flags & kTcpSyn) && (s & kCsEstablished)) {
          bool acks = (pkt.tcp_flags & kTcpAck) && pkt.tcp_ack == l.syn_isn + 1;
          if (!acks) {
            report("responder-rst-validated", packet_,
                   "a responder RST (ack " + std::to_string(pkt.tcp_ack) + ") to the SYN (seq " +
                       std::to_string(l.syn_isn) + ") was tracked " + ct::formatCtState(s));
          }
        }
        if (v.created && have_key && pkt.key.proto == kProtoTcp && (pkt.tcp_flags & kTcpSyn)) {
          l.syn_isn_known = true;
          l.syn_isn = pkt.tcp_seq;
        }
        if (have_key && pkt.key.proto == kProtoUdp && !pkt.icmp_related && !(s & kCsInvalid)) {
          bool want_est = v.reply || l.reply_seen;
          if (want_est != bool(s & kCsEstablished)) {
            report("udp-new-until-reply", packet_,
                   "UDP packet tracked " + ct::formatCtState(s) +
                       (l.reply_seen || v.reply ? " after" : " before") + " a reply");
          }
        }
        // An ICMP error relates to the connection without updating it.
        bool related = have_key && pkt.icmp_related;
        if (v.reply && !related && !(s & kCsInvalid)) l.reply_seen = true;
        if (!related) {
          l.last_activity_ms = now_ms_;
          l.timeout_ms = v.conn->expiration - now_ms_;
          l.seen_expiration = v.conn->expiration;
          l.exempt_expiry = false;
        }
      }
    }
  }
  if (engine_ != nullptr) {
    if (engine_->connCount() > config_.conn_limit) {
      report("limits-respected", packet_,
             std::to_string(engine_->connCount()) + " connections over the global limit");
    }
    for (const auto& [z, lim] : config_.zone_limits) {
      if (engine_->zoneConnCount(z) > lim) {
        report("limits-respected", packet_, "zone " + std::to_string(z) + " over its limit");
      }
    }
    uint64_t sweeps = engine_->stats().sweeps;
    if (sweeps != sweeps_seen_) {
      sweeps_seen_ = sweeps;
      if (config_.expensive) {
        checkTable();
        checkIdle();
      }
    }
  }
  checkOrphans();
}

void Checker::onTimeStep(int64_t now_ms) {
  now_ms_ = now_ms;
  if (engine_ != nullptr && config_.expensive) {
    checkTable();
    checkIdle();
  }
  checkOrphans();
}

void Checker::noteForcedExpiry() {
  // Port reuse (facts §4: a SYN once both peers are at FIN_WAIT_2 or later) force-expires the
  // old connection, as OVS's conn_force_expire() does: the engine sets its expiration to 0 and
  // the packet creates the successor. Under strict the successor's creation removes the old one
  // at once (StrictFixes::replace_expired); under rfc-v1/rfc-v2 it stays, expired, until a
  // sweep. Its expiry moved to 0 because of the packet, not because of conn_update, so it is
  // what the checker has seen of it from now on (this is the only place the engine writes 0).
  if (engine_ == nullptr) return;
  uint64_t reuse = engine_->stats().port_reuse;
  if (reuse == port_reuse_seen_) return;
  port_reuse_seen_ = reuse;
  for (auto& [c, l] : live_) {
    if (l.conn->expiration == 0) {
      l.seen_expiration = 0;
      l.exempt_expiry = false;
    }
  }
}

void Checker::checkTable() {
  // Kept connections: expiry not earlier than before the sweep asked. Exact: the only other
  // writer of an expiry without a packet of the connection is port reuse, which the checker
  // follows (noteForcedExpiry).
  for (auto& [c, l] : live_) {
    if (l.exempt_expiry && l.conn->id == l.id && l.conn->expiration < l.seen_expiration) {
      report("update-no-earlier", packet_,
             keyText(l.conn->key()) + " expiry moved from " + std::to_string(l.seen_expiration) +
                 " to " + std::to_string(l.conn->expiration));
    }
  }
  // At most one live connection per zone and tuple.
  std::map<std::string, int> seen;
  for (const auto& [c, l] : live_) {
    if (l.conn->expired(now_ms_)) continue;
    if (++seen[keyText(l.conn->key())] == 2) {
      report("unique-tuple", packet_, "two live connections for " + keyText(l.conn->key()));
    }
  }
}

void Checker::checkIdle() {
  if (engine_ == nullptr) return;
  // The sweep visits conn_limit / 64 connections a pass; beyond that, idle ones may wait.
  if (engine_->connCount() > config_.conn_limit / 64) return;
  int64_t grace = 2 * config_.sweep_interval_ms;
  for (const auto& [c, l] : live_) {
    if (now_ms_ > l.last_activity_ms + l.timeout_ms + grace) {
      report("idle-expires", packet_,
             keyText(l.conn->key()) + " idle since " + std::to_string(l.last_activity_ms) +
                 " (timeout " + std::to_string(l.timeout_ms) + " ms) still alive at " +
                 std::to_string(now_ms_));
    }
  }
}

void Checker::checkOrphans() {
  for (const Prov& p : provs_) {
    for (const auto& [c, id] : p.held) {
      if (!live_.count(c)) {
        report("no-orphan-entries", packet_,
               std::string(p.rp->name()) + " holds a connection the engine no longer has");
        break;
      }
    }
    if (FastPath* fp = p.rp->fastPath()) {
      FastPathStats st = fp->stats();
      if (st.capacity != 0 && (st.entries > st.capacity || st.entries_peak > st.capacity)) {
        report("capacity-respected", packet_,
               std::string(p.rp->name()) + " holds " + std::to_string(st.entries_peak) +
                   " entries, capacity " + std::to_string(st.capacity));
      }
      if (st.active > p.held.size()) {
        report("no-orphan-entries", packet_,
               std::string(p.rp->name()) + " has " + std::to_string(st.active) +
                   " active entries for " + std::to_string(p.held.size()) + " held connections");
      }
    }
  }
}

void Checker::finish(const ct::ReplaySummary& summary, bool flushed_at_end, bool shut_down) {
  uint64_t in_states = 0;
  for (const auto& [state, n] : summary.by_ct_state) in_states += n;
  uint64_t in_outcomes = 0;
  for (const auto& [o, n] : summary.by_outcome) in_outcomes += n;
  if (in_states + summary.fast_path_consumed != summary.packets || in_outcomes != summary.packets ||
      summary.packets != packets_seen_ || summary.fast_path_consumed != consumed_seen_) {
    report("accounting", 0,
           std::to_string(summary.packets) + " packets, " + std::to_string(in_states) +
               " in ct_state buckets, " + std::to_string(summary.fast_path_consumed) +
               " consumed, " + std::to_string(in_outcomes) + " in outcomes");
  }
  if (flushed_at_end && engine_ != nullptr && engine_->connCount() != 0) {
    report("flush-clears-all", 0,
           std::to_string(engine_->connCount()) + " connections left after the flush");
  }
  for (Prov& p : provs_) {
    if (!p.registered) continue;
    if (flushed_at_end && shut_down && !p.held.empty()) {
      report("add-del-balanced", 0,
             std::string(p.rp->name()) + " still holds " + std::to_string(p.held.size()) +
                 " connections after the end flush and the shutdown flush");
    }
    FastPath* fp = p.rp->fastPath();
    bool has_flush = p.rp->callbacks() & bit(Callback::kFlush);
    if (fp != nullptr && flushed_at_end && shut_down && has_flush) {
      FastPathStats st = fp->stats();
      if (st.active != 0) {
        report("flush-clears-all", 0,
               std::string(p.rp->name()) + " has " + std::to_string(st.active) +
                   " active entries after flush()");
      }
    }
  }
  checkOrphans();
}

}  // namespace ctsim::props

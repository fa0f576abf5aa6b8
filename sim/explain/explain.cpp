#include "sim/explain/explain.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "providers/fast_path.h"
#include "reports/report.h"
#include "sim/conntrack/replay.h"

namespace ctsim::explain {
namespace {

using json = nlohmann::json;
using ct::Lifecycle;
using ct::LifecycleRecorder;
using ct::ProviderPart;
using reports::fmt;

struct ReasonText {
  const char* name;
  const char* description;
};
constexpr ReasonText kReasons[kReasonCount] = {
    {"offloaded", "offloaded"},
    {"not_committed", "packets never committed: no connection was created"},
    {"invalid", "invalid packets that matched no connection"},
    {"related", "ICMP errors related to a connection (never offloaded themselves)"},
    {"conn_limit", "a connection limit kept the connection from being created"},
    {"no_provider", "no offload provider registered"},
    {"protocol_not_offloadable", "every provider declined; none took this protocol at all"},
    {"all_declined", "every provider declined (can_offload said no)"},
    {"table_full", "a provider's table was full (ENOSPC)"},
    {"rate_limited", "a provider's command queue was full (EBUSY)"},
    {"insert_failed", "a provider's insertion failed"},
    {"not_programmed", "accepted, waiting for conn_established, which never came"},
    {"insert_stuck", "accepted, but the hardware insertion never completed"},
    {"ended_before_active", "the connection ended before its entry became active"},
    {"late", "offloaded only after all its packets went through software"},
    {"untracked", "its providers are beyond the ones followed per connection"},
};
constexpr ReasonText kDisagreements[kDisagreementCount] = {
    {"hw_outlived_sw", "hardware entry stayed after the software connection ended"},
    {"stale_kept_alive", "conn_update answers older than the timeout kept the connection alive"},
    {"hit_after_delete", "packets hit the hardware entry after software deleted the connection"},
};

bool has(const ProviderPart& p, uint16_t flag) { return (p.flags & flag) != 0; }

size_t trackedProviders(const LifecycleRecorder& rec) {
  return std::min<size_t>(rec.providerNames().size(), ct::kLifecycleProviders);
}

bool hasFastPath(const LifecycleRecorder& rec, size_t i) {
  return i < rec.providerHasFastPath().size() && rec.providerHasFastPath()[i];
}

Reason errorReason(int err) {
  if (err == ENOSPC) return Reason::kTableFull;
  if (err == EBUSY) return Reason::kRateLimited;
  return Reason::kInsertFailed;
}

// How far one provider got with a connection: a rank (higher = further) and the reason.
struct Outcome {
  int rank = 0;
  Reason reason = Reason::kAllDeclined;
  std::string detail;
};

Outcome providerOutcome(const LifecycleRecorder& rec, const Lifecycle& l, size_t i) {
  const ProviderPart& p = l.parts[i];
  const std::string& name = rec.providerNames()[i];
  Outcome o;
  auto declineText = [&]() -> std::string {
    if (p.decline == 0 || p.decline > rec.reasons().size()) return "";
    return rec.reasons()[p.decline - 1];
  };
  if (!has(p, ProviderPart::kAddCalled)) {
    o.rank = 1;
    o.reason = Reason::kAllDeclined;
    std::string why = declineText();
    o.detail = name + ": " + (why.empty() ? "declined" : why);
    return o;
  }
  if (!has(p, ProviderPart::kAccepted) || has(p, ProviderPart::kRefusedLater)) {
    o.rank = 2;
    o.reason = errorReason(p.add_error);
    o.detail = name + ": " + reports::errnoName(p.add_error) +
               (has(p, ProviderPart::kRefusedLater) ? " (at conn_established)" : "");
    if (std::string why = declineText(); !why.empty()) o.detail += " - " + why;
    return o;
  }
  if (!hasFastPath(rec, i)) {
    o.rank = 6;
    o.reason = Reason::kOffloaded;
    o.detail = name + ": accepted (no fast path)";
    return o;
  }
  if (p.active_us == ct::kNever) {
    bool entry_seen = has(p, ProviderPart::kDetached) || p.gone != 0;
    if (!entry_seen) {
      o.rank = 3;
      o.reason = Reason::kNotProgrammed;
      o.detail = name + ": accepted; no entry was inserted";
    } else if (has(p, ProviderPart::kStuck)) {
      o.rank = 4;
      o.reason = Reason::kInsertStuck;
      o.detail = name + ": insertion never completed";
    } else {
      o.rank = 4;
      o.reason = Reason::kEndedBeforeActive;
      o.detail = name + ": entry still pending when the connection ended";
    }
    return o;
  }
  if (p.hits == 0) {
    o.rank = 5;
    o.reason = Reason::kLate;
    o.detail = fmt("%s: active after %" PRIu32 " packets in software, none in hardware",
                   name.c_str(), l.sw_at_active);
    return o;
  }
  o.rank = 6;
  o.reason = Reason::kOffloaded;
  o.detail = name;
  return o;
}

std::string errnoOrNull(uint8_t e) { return reports::errnoName(e); }

const char* gOneName(uint8_t gone) {
  switch (gone) {
    case 1:
      return "deleted";
    case 2:
      return "aged";
    case 3:
      return "flushed";
    default:
      return nullptr;
  }
}

std::string protoOf(const ct::ConnKey& k) { return ct::protoName(k.af, k.proto); }

// The key as formatKey() writes it; "non-IP" for the empty key of packets that had none.
std::string keyText(const ct::ConnKey& k) {
  return k.af == 0 ? std::string("non-IP") : ct::formatKey(k);
}

// Splits "ADDR:PORT" / "[ADDR]:PORT" / "ADDR".
void splitEndpoint(const std::string& t, std::string* addr, int* port) {
  *port = -1;
  if (!t.empty() && t[0] == '[') {
    size_t close = t.find(']');
    *addr = t.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < t.size() && t[close + 1] == ':') {
      *port = std::atoi(t.c_str() + close + 2);
    }
    return;
  }
  size_t colon = t.find(':');
  if (colon != std::string::npos && t.find(':', colon + 1) == std::string::npos) {
    *addr = t.substr(0, colon);
    *port = std::atoi(t.c_str() + colon + 1);
  } else {
    *addr = t;  // IPv4 without port, or bare IPv6.
  }
}

// src/dst address text of a key.
std::string addrText(const ct::ConnKey& k, bool src) {
  std::string f = ct::formatKey(k);  // "proto A -> B ..." ; parse back the endpoints.
  std::istringstream in(f);
  std::string proto, a, arrow, b;
  in >> proto >> a >> arrow >> b;
  std::string addr;
  int port;
  splitEndpoint(src ? a : b, &addr, &port);
  return addr;
}

}  // namespace

const char* reasonName(Reason r) { return kReasons[int(r)].name; }
const char* reasonDescription(Reason r) { return kReasons[int(r)].description; }
const char* disagreementName(int i) { return kDisagreements[i].name; }
const char* disagreementDescription(int i) { return kDisagreements[i].description; }

void attachRegistry(ct::LifecycleRecorder& rec, Registry& registry) {
  std::vector<std::string> names;
  std::vector<FastPath*> fps;
  for (Provider* p : registry.providerObjects()) {
    names.emplace_back(p->name() ? p->name() : "?");
    fps.push_back(fastPathOf(*p));
  }
  rec.attach(registry, std::move(names), std::move(fps));
}

Explanation explainOne(const LifecycleRecorder& rec, const Lifecycle& l) {
  Explanation e;
  e.packets = l.sw_packets;
  switch (l.no_conn) {
    case ct::NoConn::kNotCommitted:
      e.reason = Reason::kNotCommitted;
      return e;
    case ct::NoConn::kInvalid:
      e.reason = Reason::kInvalid;
      return e;
    case ct::NoConn::kRelated:
      e.reason = Reason::kRelated;
      return e;
    case ct::NoConn::kLimit:
      e.reason = Reason::kConnLimit;
      return e;
    case ct::NoConn::kNone:
      break;
  }
  size_t n = trackedProviders(rec);
  for (size_t i = 0; i < n; ++i) {
    const ProviderPart& p = l.parts[i];
    e.hw_packets += p.consumed;
    if (has(p, ProviderPart::kOrphaned)) e.disagreements |= kHwOutlivedSw;
    if (p.stray_hits > 0) e.disagreements |= kHitAfterDelete;
    if (p.active_us != ct::kNever) {
      e.latency_us = e.latency_us < 0 ? p.active_us : std::min<int64_t>(e.latency_us, p.active_us);
    }
  }
  e.packets += e.hw_packets;
  if (l.flags & Lifecycle::kStaleKept) e.disagreements |= kStaleKeptAlive;
  if (!rec.offload()) {
    e.reason = Reason::kNoProvider;
    return e;
  }
  if (n == 0) {
    e.reason = Reason::kUntracked;
    return e;
  }
  Outcome best;
  for (size_t i = 0; i < n; ++i) {
    Outcome o = providerOutcome(rec, l, i);
    if (o.rank > best.rank) {
      best = o;
      e.provider = int(i);
    }
  }
  e.reason = best.reason;
  e.detail = best.detail;
  if (best.rank <= 1) {
    e.reason =
        rec.protocolAccepted(l.key.proto) ? Reason::kAllDeclined : Reason::kProtocolNotOffloadable;
  }
  if (e.reason != Reason::kOffloaded) e.latency_us = e.reason == Reason::kLate ? e.latency_us : -1;
  return e;
}

json lifecycleJson(const LifecycleRecorder& rec, const Lifecycle& l) {
  Explanation e = explainOne(rec, l);
  const int64_t first = rec.firstNs();
  json j;
  bool is_conn = l.no_conn == ct::NoConn::kNone;
  j["kind"] = is_conn ? "connection" : ct::noConnName(l.no_conn);
  j["key"] = keyText(l.key);
  j["proto"] = protoOf(l.key);
  j["src"] = addrText(l.key, true);
  j["dst"] = addrText(l.key, false);
  bool ports = l.key.proto == 6 || l.key.proto == 17 || l.key.proto == 132 || l.key.proto == 136;
  j["sport"] = ports ? json(l.key.ports.src) : json(nullptr);
  j["dport"] = ports ? json(l.key.ports.dst) : json(nullptr);
  j["zone"] = l.key.zone;
  j["packet"] = l.packet;
  j["created_ns"] = l.created_ns;
  j["trace_start_ns"] = first;
  j["established_us"] = l.est_us == ct::kNever ? json(nullptr) : json(l.est_us);
  j["end"] = is_conn ? json(ct::lifeEndName(l.end)) : json(nullptr);
  j["end_ns"] = l.end_ns < 0 ? json(nullptr) : json(l.end_ns);
  j["marked"] = (l.flags & Lifecycle::kMarked) != 0;
  j["sw_packets"] = l.sw_packets;
  j["sw_before_active"] = (l.flags & Lifecycle::kHwActive) ? json(l.sw_at_active) : json(nullptr);
  j["hw_packets"] = e.hw_packets;
  j["offloaded"] = e.reason == Reason::kOffloaded;
  j["reason"] = reasonName(e.reason);
  j["detail"] = e.detail;
  j["latency_us"] = e.latency_us < 0 ? json(nullptr) : json(e.latency_us);
  j["hw_share"] = e.packets == 0 ? 0.0 : double(e.hw_packets) / double(e.packets);
  json providers = json::array();
  if (is_conn) {
    for (size_t i = 0; i < trackedProviders(rec); ++i) {
      const ProviderPart& p = l.parts[i];
      json pj;
      pj["name"] = rec.providerNames()[i];
      pj["fast_path"] = hasFastPath(rec, i);
      pj["can_offload"] =
          has(p, ProviderPart::kAsked) ? json(has(p, ProviderPart::kCanYes)) : json(nullptr);
      pj["decline"] = p.decline == 0 || p.decline > rec.reasons().size()
                          ? json(nullptr)
                          : json(rec.reasons()[p.decline - 1]);
      if (!has(p, ProviderPart::kAddCalled)) {
        pj["conn_add"] = nullptr;
      } else if (has(p, ProviderPart::kAccepted)) {
        pj["conn_add"] = "ok";
      } else {
        pj["conn_add"] = errnoOrNull(p.add_error);
      }
      pj["refused_later"] =
          has(p, ProviderPart::kRefusedLater) ? json(errnoOrNull(p.add_error)) : json(nullptr);
      pj["active_us"] = p.active_us == ct::kNever ? json(nullptr) : json(p.active_us);
      pj["stuck"] = has(p, ProviderPart::kStuck);
      pj["hits"] = p.hits;
      pj["consumed"] = p.consumed;
      pj["stray_hits"] = p.stray_hits;
      pj["orphaned"] = has(p, ProviderPart::kOrphaned);
      const char* gone = gOneName(p.gone);
      pj["entry_gone"] = gone ? json(gone) : json(nullptr);
      pj["conn_del"] = has(p, ProviderPart::kDelCalled);
      providers.push_back(pj);
    }
  }
  j["providers"] = providers;
  json updates = json::array();
  for (uint32_t ev = l.first_update; ev != 0 && ev <= rec.updates().size();) {
    const ct::UpdateEvent& u = rec.updates()[ev - 1];
    updates.push_back({{"t_ms", u.t_ms},
                       {"answer", u.answer},
                       {"effect", u.expiry_ms == -1 ? "removed" : "kept"},
                       {"expiry_ms", u.expiry_ms < 0 ? json(nullptr) : json(u.expiry_ms)},
                       {"stale", u.stale}});
    ev = u.next;
  }
  j["updates"] = updates;
  json dis = json::array();
  for (int b = 0; b < kDisagreementCount; ++b) {
    if (e.disagreements & (1 << b)) dis.push_back(disagreementName(b));
  }
  j["disagreements"] = dis;
  return j;
}

json summaryJson(const LifecycleRecorder& rec) {
  struct Row {
    uint64_t conns = 0, packets = 0;
    const Lifecycle* example = nullptr;
    std::map<std::string, uint64_t> details;
  };
  std::map<int, Row> rows;
  Row dis[kDisagreementCount];
  uint64_t total = 0, offloaded = 0, flows = 0;
  std::vector<double> latency_us, share;
  auto add = [&](const Lifecycle& l) {
    Explanation e = explainOne(rec, l);
    Row& r = rows[int(e.reason)];
    ++r.conns;
    r.packets += e.packets;
    if (r.example == nullptr) r.example = &l;
    if (!e.detail.empty()) {
      // At most 8 distinct details per row; the rest are counted together.
      bool known = r.details.count(e.detail) > 0 || r.details.size() < 8;
      ++r.details[known ? e.detail : std::string("(other)")];
    }
    if (e.reason == Reason::kOffloaded) {
      ++offloaded;
      if (e.latency_us >= 0) latency_us.push_back(double(e.latency_us));
      if (e.packets > 0) share.push_back(double(e.hw_packets) / double(e.packets));
    }
    for (int b = 0; b < kDisagreementCount; ++b) {
      if (!(e.disagreements & (1 << b))) continue;
      ++dis[b].conns;
      if (dis[b].example == nullptr) dis[b].example = &l;
    }
  };
  for (const Lifecycle& l : rec.conns()) {
    ++total;
    add(l);
  }
  for (const Lifecycle& l : rec.flows()) {
    ++flows;
    add(l);
  }
  json j;
  j["connections"] = total;
  j["connectionless_flows"] = flows;
  j["offloaded"] = offloaded;
  j["not_offloaded"] = total + flows - offloaded;
  j["providers"] = rec.providerNames();
  json reasons = json::array();
  json examples = json::array();
  for (const auto& [r, row] : rows) {
    if (Reason(r) == Reason::kOffloaded) continue;
    json rj = {{"reason", reasonName(Reason(r))},
               {"description", reasonDescription(Reason(r))},
               {"connections", row.conns},
               {"packets", row.packets},
               {"example", row.example ? keyText(row.example->key) : ""}};
    json details = json::object();
    for (const auto& [d, n] : row.details) details[d] = n;
    rj["details"] = details;
    reasons.push_back(rj);
    if (row.example) examples.push_back(lifecycleJson(rec, *row.example));
  }
  std::sort(reasons.begin(), reasons.end(), [](const json& a, const json& b) {
    return a["connections"].get<uint64_t>() > b["connections"].get<uint64_t>();
  });
  j["reasons"] = reasons;
  json dj = json::array();
  for (int b = 0; b < kDisagreementCount; ++b) {
    if (dis[b].conns == 0) continue;
    dj.push_back({{"kind", disagreementName(b)},
                  {"description", disagreementDescription(b)},
                  {"connections", dis[b].conns},
                  {"example", keyText(dis[b].example->key)}});
    examples.push_back(lifecycleJson(rec, *dis[b].example));
  }
  j["disagreements"] = dj;
  auto pct = reports::percentiles(latency_us);
  double mean_share = 0;
  for (double s : share) mean_share += s;
  if (!share.empty()) mean_share /= double(share.size());
  j["offloaded_stats"] = {{"latency_us",
                           {{"count", pct.count},
                            {"p50", pct.p50},
                            {"p90", pct.p90},
                            {"p99", pct.p99},
                            {"max", pct.max}}},
                          {"hw_share_mean", mean_share}};
  j["examples"] = examples;
  j["memory_bytes"] = rec.memoryBytes();
  return j;
}

Status writeLifecycles(const LifecycleRecorder& rec, const std::string& path) {
  std::FILE* f = path == "-" ? stdout : std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Status(errno, "cannot write " + path);
  std::string line;
  bool ok = true;
  auto put = [&](const Lifecycle& l) {
    line = lifecycleJson(rec, l).dump();
    line += '\n';
    ok &= std::fwrite(line.data(), 1, line.size(), f) == line.size();
  };
  for (const Lifecycle& l : rec.conns()) put(l);
  for (const Lifecycle& l : rec.flows()) put(l);
  if (f != stdout) ok &= std::fclose(f) == 0;
  if (!ok) return Status(EIO, "cannot write " + path);
  return Status();
}

std::string renderReasons(const json& s) {
  std::string o;
  uint64_t total =
      s.value("connections", uint64_t(0)) + s.value("connectionless_flows", uint64_t(0));
  o += fmt("Why not offloaded: %" PRIu64 " of %" PRIu64 " connections/flows not offloaded\n",
           s.value("not_offloaded", uint64_t(0)), total);
  o += fmt("  %-26s %12s %12s  %s\n", "reason", "connections", "packets", "example");
  uint64_t sum = 0;
  for (const json& r : s.value("reasons", json::array())) {
    sum += r["connections"].get<uint64_t>();
    o += fmt("  %-26s %12" PRIu64 " %12" PRIu64 "  %s\n", r["reason"].get<std::string>().c_str(),
             r["connections"].get<uint64_t>(), r["packets"].get<uint64_t>(),
             r["example"].get<std::string>().c_str());
    const json details = r.value("details", json::object());
    for (const auto& [d, n] : details.items()) {
      o += fmt("      %" PRIu64 " x %s\n", n.get<uint64_t>(), d.c_str());
    }
  }
  o += fmt("  %-26s %12" PRIu64 "\n", "total", sum);
  const json& st = s.value("offloaded_stats", json::object());
  if (s.value("offloaded", uint64_t(0)) > 0 && st.contains("latency_us")) {
    const json& l = st["latency_us"];
    o += fmt("Offloaded: %" PRIu64
             " connections; offload latency p50 %.0f us, p99 %.0f us "
             "(%" PRIu64 " with a fast path); packets in hardware %.1f %% on average\n",
             s["offloaded"].get<uint64_t>(), l.value("p50", 0.0), l.value("p99", 0.0),
             l.value("count", uint64_t(0)), 100 * st.value("hw_share_mean", 0.0));
  }
  const json& dis = s.value("disagreements", json::array());
  if (!dis.empty()) {
    o += "Disagreements between hardware and software:\n";
    for (const json& d : dis) {
      o += fmt("  %-26s %12" PRIu64 "  %s (%s)\n", d["kind"].get<std::string>().c_str(),
               d["connections"].get<uint64_t>(), d["example"].get<std::string>().c_str(),
               d["description"].get<std::string>().c_str());
    }
  }
  return o;
}

std::string renderTimeline(const json& l) {
  std::vector<std::pair<int64_t, std::string>> ev;  // (trace time ns, text)
  const int64_t t0 = l.value("trace_start_ns", int64_t(0));
  const int64_t created = l.value("created_ns", int64_t(0));
  auto at = [&](int64_t ns, std::string text) { ev.emplace_back(ns, std::move(text)); };
  std::string o = l["key"].get<std::string>();
  std::string kind = l.value("kind", "connection");
  o += kind == "connection" ? "\n" : " (" + kind + ", no connection)\n";
  at(created, fmt("packet %" PRIu64 ": %s", l.value("packet", uint64_t(0)),
                  kind == "connection" ? "connection created (committed)"
                                       : ("first packet (" + kind + ")").c_str()));
  for (const json& p : l.value("providers", json::array())) {
    std::string name = p["name"].get<std::string>();
    std::string line = name + ":";
    if (!p["can_offload"].is_null()) {
      line += p["can_offload"].get<bool>() ? " can_offload yes" : " can_offload no";
    }
    if (!p["decline"].is_null()) line += " (\"" + p["decline"].get<std::string>() + "\")";
    if (!p["conn_add"].is_null()) line += "; conn_add " + p["conn_add"].get<std::string>();
    at(created, line);
    if (!p["refused_later"].is_null()) {
      at(created + l.value("established_us", json(0)).get<int64_t>() * 1000,
         name +
             ": insertion at conn_established refused: " + p["refused_later"].get<std::string>());
    }
    if (!p["active_us"].is_null()) {
      int64_t us = p["active_us"].get<int64_t>();
      at(created + us * 1000,
         fmt("%s: entry active (offload latency %.3f ms)", name.c_str(), double(us) / 1000));
    } else if (p["fast_path"].get<bool>() && p["conn_add"] == "ok") {
      at(l["end_ns"].is_null() ? created : l["end_ns"].get<int64_t>(),
         name + (p["stuck"].get<bool>() ? ": entry never became active (insertion stuck)"
                                        : ": entry never became active"));
    }
  }
  if (!l["established_us"].is_null()) {
    at(created + l["established_us"].get<int64_t>() * 1000, "conn_established");
  }
  for (const json& u : l.value("updates", json::array())) {
    std::string text = fmt("conn_update answered %" PRId64 " ms -> %s", u["answer"].get<int64_t>(),
                           u["effect"].get<std::string>().c_str());
    if (!u["expiry_ms"].is_null())
      text += fmt(", expiry %" PRId64 " ms", u["expiry_ms"].get<int64_t>());
    if (u.value("stale", false)) text += " (stale answer kept it alive)";
    at(u["t_ms"].get<int64_t>() * 1000000, text);
  }
  if (!l["end_ns"].is_null()) {
    std::string text = "ended: " + l["end"].get<std::string>();
    std::string dels;
    for (const json& p : l.value("providers", json::array())) {
      if (p.value("conn_del", false))
        dels += (dels.empty() ? "" : ", ") + p["name"].get<std::string>();
    }
    text += dels.empty() ? "; no conn_del" : "; conn_del to " + dels;
    at(l["end_ns"].get<int64_t>(), text);
  } else if (kind == "connection") {
    at(INT64_MAX, "still alive");
  }
  std::stable_sort(ev.begin(), ev.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [ns, text] : ev) {
    if (ns == INT64_MAX) {
      o += fmt("  %14s  %s\n", "end", text.c_str());
    } else {
      o += fmt("  %+13.6fs  %s\n", double(ns - t0) / 1e9, text.c_str());
    }
  }
  o += fmt("  packets: %" PRIu64 " in software, %" PRIu64 " in hardware (%.1f %%)\n",
           l.value("sw_packets", uint64_t(0)), l.value("hw_packets", uint64_t(0)),
           100 * l.value("hw_share", 0.0));
  for (const json& p : l.value("providers", json::array())) {
    if (p.value("stray_hits", 0) > 0 || p.value("orphaned", false)) {
      o += fmt("  %s: %d hits after software deleted it%s\n", p["name"].get<std::string>().c_str(),
               p.value("stray_hits", 0), p.value("orphaned", false) ? "; entry orphaned" : "");
    }
  }
  if (l.value("offloaded", false)) {
    o += "  verdict: offloaded";
  } else {
    o += "  verdict: not offloaded: " + l["reason"].get<std::string>();
  }
  std::string detail = l.value("detail", "");
  if (!detail.empty()) o += " (" + detail + ")";
  o += "\n";
  for (const json& d : l.value("disagreements", json::array())) {
    o += "  disagreement: " + d.get<std::string>() + "\n";
  }
  return o;
}

Result<ConnQuery> parseConnQuery(const std::string& text) {
  ConnQuery q;
  std::istringstream in(text);
  std::vector<std::string> tok;
  for (std::string t; in >> t;) {
    if (t == "->") continue;
    if (t.rfind("zone=", 0) == 0) {
      tok.push_back("zone");
      t = t.substr(5);
    }
    tok.push_back(t);
  }
  if (tok.size() == 1 && !tok[0].empty() &&
      tok[0].find_first_not_of("0123456789") == std::string::npos) {
    q.packet = std::stoull(tok[0]);
    if (q.packet == 0) return Status(EINVAL, "packet numbers start at 1");
    return q;
  }
  size_t i = 0;
  static const char* kProtos[] = {"tcp", "udp", "sctp", "icmp", "icmpv6"};
  if (i < tok.size() &&
      (std::find(std::begin(kProtos), std::end(kProtos), tok[i]) != std::end(kProtos) ||
       tok[i].rfind("proto", 0) == 0)) {
    q.proto = tok[i++];
  }
  std::vector<std::string> ends;
  while (i < tok.size()) {
    if (tok[i] == "zone" && i + 1 < tok.size()) {
      q.zone = std::atoi(tok[i + 1].c_str());
      i += 2;
      continue;
    }
    ends.push_back(tok[i++]);
  }
  if (ends.size() != 2) {
    return Status(EINVAL,
                  "expected '[PROTO] SRC[:PORT] DST[:PORT] [zone N]' or a packet number, "
                  "got '" +
                      text + "'");
  }
  splitEndpoint(ends[0], &q.src, &q.sport);
  splitEndpoint(ends[1], &q.dst, &q.dport);
  return q;
}

bool matches(const ConnQuery& q, const json& l) {
  if (q.packet > 0) return l.value("packet", uint64_t(0)) == q.packet;
  if (!q.proto.empty() && l.value("proto", "") != q.proto) return false;
  if (q.zone >= 0 && l.value("zone", -1) != q.zone) return false;
  auto side = [&](const std::string& addr, int port, const char* a, const char* p) {
    if (l.value(a, "") != addr) return false;
    if (port < 0) return true;
    return l.contains(p) && !l[p].is_null() && l[p].get<int>() == port;
  };
  return (side(q.src, q.sport, "src", "sport") && side(q.dst, q.dport, "dst", "dport")) ||
         (side(q.src, q.sport, "dst", "dport") && side(q.dst, q.dport, "src", "sport"));
}

std::optional<json> find(const LifecycleRecorder& rec, const ConnQuery& q) {
  for (const auto* v : {&rec.conns(), &rec.flows()}) {
    for (const Lifecycle& l : *v) {
      if (q.packet > 0) {
        if (l.packet == q.packet) return lifecycleJson(rec, l);
        continue;
      }
      if (!q.proto.empty() && protoOf(l.key) != q.proto) continue;
      json j = lifecycleJson(rec, l);
      if (matches(q, j)) return j;
    }
  }
  return std::nullopt;
}

}  // namespace ctsim::explain

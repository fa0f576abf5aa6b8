#include "sim/kernel_oracle/compare.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <sstream>

#include "sim/conntrack/conn_key.h"
#include "sim/conntrack/ct_state.h"
#include "sim/parser.h"

namespace ctsim::oracle {

namespace {

using Json = nlohmann::ordered_json;

std::string addrText(uint8_t af, const uint8_t* b) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(af == 4 ? AF_INET : AF_INET6, b, buf, sizeof buf);
  return buf;
}

bool hasPorts(uint8_t proto) { return proto == 6 || proto == 17 || proto == 132 || proto == 136; }

const char* tcpStateOf(ctsim_conn_state s) {
  switch (s) {
    case CTSIM_CS_TCP_SYN_SENT:
      return "SYN_SENT";
    case CTSIM_CS_TCP_SYN_RECV:
      return "SYN_RECV";
    case CTSIM_CS_TCP_ESTABLISHED:
      return "ESTABLISHED";
    case CTSIM_CS_TCP_FIN_WAIT:
      return "FIN_WAIT";
    case CTSIM_CS_TCP_TIME_WAIT:
      return "TIME_WAIT";
    case CTSIM_CS_TCP_CLOSE:
      return "CLOSE";
    default:
      return "";
  }
}

// The kernel's TCP states folded onto ctsim's coarse classes (OVS has no CLOSE_WAIT/LAST_ACK
// timeout class: those are its FIN_WAIT; SYN_SENT2 is a SYN_SENT).
std::string foldKernelState(const std::string& s) {
  if (s == "CLOSE_WAIT" || s == "LAST_ACK") return "FIN_WAIT";
  if (s == "SYN_SENT2") return "SYN_SENT";
  return s;
}

std::string flowIdOfKey(const ct::ConnKey& k) {
  bool ports = hasPorts(k.proto);
  return flowId(k.af, k.proto, addrText(k.af, k.src), ports ? k.ports.src : 0,
                addrText(k.af, k.dst), ports ? k.ports.dst : 0);
}
std::string hostIdOfKey(const ct::ConnKey& k) {
  return flowId(k.af, k.proto, addrText(k.af, k.src), 0, addrText(k.af, k.dst), 0);
}

// The side (FlowFacts' index) of the sender a -> b: 0 when flowId() names a first.
int sideOf(const std::string& a, uint16_t pa, const std::string& b, uint16_t pb) {
  return b + "#" + std::to_string(pb) < a + "#" + std::to_string(pa) ? 1 : 0;
}

// Key, reverse key, protocol, flow and host ids and the original sender's side of a row.
void fillIdentity(const ct::ConnKey& k, TableRow* r) {
  r->key = ct::formatKey(k);
  r->rev_key = ct::formatKey(ct::reverseKey(k));
  r->af = k.af;
  r->proto = k.proto;
  r->flow_id = flowIdOfKey(k);
  r->host_id = hostIdOfKey(k);
  bool ports = hasPorts(k.proto);
  r->ports[0] = ports ? k.ports.src : 0;
  r->ports[1] = ports ? k.ports.dst : 0;
  r->orig_side = sideOf(addrText(k.af, k.src), ports ? k.ports.src : 0, addrText(k.af, k.dst),
                        ports ? k.ports.dst : 0);
}

// Builds a key from an oracle tuple object.
ct::ConnKey keyFromJson(const Json& e, const Json& t) {
  ct::ConnKey k{};
  k.af = e["l3"] == "ipv4" ? CTSIM_AF_INET : CTSIM_AF_INET6;
  k.proto = e["l4proto"].get<uint8_t>();
  int fam = k.af == CTSIM_AF_INET ? AF_INET : AF_INET6;
  inet_pton(fam, t["src"].get<std::string>().c_str(), k.src);
  inet_pton(fam, t["dst"].get<std::string>().c_str(), k.dst);
  if (t.contains("sport")) {
    k.ports.src = t["sport"].get<uint16_t>();
    k.ports.dst = t["dport"].get<uint16_t>();
  } else if (t.contains("type")) {
    k.icmp.id = t["id"].get<uint16_t>();
    k.icmp.type = t["type"].get<uint8_t>();
    k.icmp.code = t["code"].get<uint8_t>();
  }
  return k;
}

// ---- Rules: one condition per rule (see differences.tsv for the reasons) ----
//
// Each condition names the kind of difference it explains and the evidence it needs: the two
// rows' accepted packets per direction, ctsim's TCP peer states and inv packets, the kernel's
// state as dumped and its BE_LIBERAL flag, and what the capture carries for the flow (SYN, FIN,
// RST and bad checksums by sender side, fragments).  Directions are the kernel row's when both
// rows exist (a reversed ctsim row is lined up with it).

struct RuleCtx {
  const Difference& d;
  const TableRow* ctsim;   // The ctsim row, if any (lined up with the kernel's).
  const TableRow* kernel;  // The kernel row, if any.
  const FlowFacts* flow;   // Facts of the row's flow, if the capture had any.
  const FlowFacts* hosts;  // Facts of its host pair for its protocol (fragments).
  ct::ClockMode clock;

  const TableRow& row() const { return kernel ? *kernel : *ctsim; }
  // The FlowFacts side of the row's direction `dir` (0 original, 1 reply).
  int side(int dir) const { return dir == 0 ? row().orig_side : 1 - row().orig_side; }
  bool both() const { return ctsim && kernel; }
  bool created() const { return flow && flow->ctsim_created; }
  uint64_t total(const TableRow& r) const { return r.accepted[0] + r.accepted[1]; }
};
using Rule = std::function<bool(const RuleCtx&)>;

bool peersAtLeast(const TableRow& r, uint8_t s) { return r.peer[0] >= s && r.peer[1] >= s; }

// The same finished close under the two trackers' names: both FINs sent and acknowledged (pf:
// both peers FIN_WAIT_2, OVS's CLOSED timeout class; a RST would have made them TIME_WAIT),
// a FIN from each side in the capture, and Linux's TIME_WAIT.
bool closeNamedDifferently(const RuleCtx& c) {
  return c.both() && c.flow && c.kernel->raw_state == "TIME_WAIT" &&
         c.ctsim->peer[0] == CTSIM_TCPS_FIN_WAIT_2 && c.ctsim->peer[1] == CTSIM_TCPS_FIN_WAIT_2 &&
         c.flow->fin_by[0] > 0 && c.flow->fin_by[1] > 0;
}
// Packets of the connection the kernel accepted that ctsim's connection never saw (accepted
// or inv), in direction `dir`.
int64_t missing(const RuleCtx& c, int dir) {
  return int64_t(c.kernel->accepted[dir]) - int64_t(c.ctsim->accepted[dir] + c.ctsim->invalid[dir]);
}

const std::vector<std::pair<std::string, Rule>>& rules() {
  static const std::vector<std::pair<std::string, Rule>> r = {
      {"kernel-ignores-checksums",
       [](const RuleCtx& c) {
         if (!c.flow || c.flow->bad_checksum == 0) return false;
         const std::string& k = c.d.kind;
         // The kernel's entry began with a packet OVS marked inv for its checksum, and OVS
         // never created a connection for the flow (only_kernel) or created it from the other
         // side (reversed).
         if (k == "only_kernel") return !c.created() && c.flow->bad_csum_by[c.side(0)] > 0;
         if (k == "reversed") return c.flow->bad_csum_by[c.side(0)] > 0;
         if ((k == "replied" || k == "tcp_state") && c.both() && !closeNamedDifferently(c)) {
           // Packets the kernel accepted that never reached ctsim's connection, all of one
           // direction's carrying a bad checksum.
           for (int dir : {0, 1}) {
             int64_t m = missing(c, dir);
             if (m > 0 && c.flow->bad_csum_by[c.side(dir)] >= uint64_t(m)) return true;
           }
         }
         return false;
       }},
      {"fragments-reassembled-differently",
       [](const RuleCtx& c) {
         // Fragments of the protocol between the two hosts, and the kernel's entry accepted
         // more packets than the flow has unfragmented ones: the rest were reassembled.
         if (c.d.kind != "only_kernel" || !c.hosts || c.hosts->fragments == 0) return false;
         uint64_t whole = c.flow ? c.flow->packets - c.flow->fragments : 0;
         return c.total(*c.kernel) > whole;
       }},
      {"kernel-tracks-sctp",
       [](const RuleCtx& c) {
         return c.d.kind == "only_kernel" && c.kernel->proto == 132 && !c.created();
       }},
      {"kernel-tcp-port-zero",
       [](const RuleCtx& c) {
         return c.d.kind == "only_kernel" && c.kernel->proto == 6 && !c.created() &&
                (c.kernel->ports[0] == 0 || c.kernel->ports[1] == 0);
       }},
      {"kernel-deletes-unreplied-on-rst",
       [](const RuleCtx& c) {
         if (c.d.kind != "only_ctsim" || c.ctsim->proto != 6 || !c.flow) return false;
         const TableRow& t = *c.ctsim;
         // A RST from the original side while no reply had been accepted ...
         if (t.accepted[1] == 0) return c.flow->rst_by[c.side(0)] > 0;
         // ... or the responder's RST as the only reply: ctsim accepted it (both peers
         // TIME_WAIT), no SYN/ACK came, and every reply ctsim accepted can have been a RST.
         return c.flow->syn_ack == 0 && peersAtLeast(t, CTSIM_TCPS_TIME_WAIT) &&
                t.accepted[1] <= c.flow->rst_by[c.side(1)];
       }},
      {"trace-clock-expiry",
       [](const RuleCtx& c) {
         // ctsim's own connection for the flow expired during a gap and was swept: the kernel's
         // entry is gone from ctsim's table, or a later packet started a new connection in
         // ctsim that has fewer of the flow's packets than the kernel's entry.
         if (c.clock != ct::ClockMode::kTrace || !c.flow || !c.flow->ctsim_expired) return false;
         if (c.d.kind == "only_kernel") return true;
         return (c.d.kind == "tcp_state" || c.d.kind == "replied") && c.both() &&
                c.flow->bad_checksum == 0 && (missing(c, 0) > 0 || missing(c, 1) > 0);
       }},
      {"tcp-fin-close-named-differently",
       [](const RuleCtx& c) { return c.d.kind == "tcp_state" && closeNamedDifferently(c); }},
      {"kernel-fin-retransmit-closes",
       [](const RuleCtx& c) {
         // FINs from one side only, more than one of them, the same packets accepted on both
         // sides: Linux's state table does not record which side sent a FIN, so a
         // retransmitted FIN moves it on (CLOSE_WAIT -> LAST_ACK -> TIME_WAIT) while pf keeps
         // the silent side open (OVS's FIN_WAIT class).
         if (c.d.kind != "tcp_state" || !c.both() || !c.flow) return false;
         const std::string& k = c.kernel->raw_state;
         bool one_side = (c.flow->fin_by[0] >= 2 && c.flow->fin_by[1] == 0) ||
                         (c.flow->fin_by[1] >= 2 && c.flow->fin_by[0] == 0);
         return (k == "LAST_ACK" || k == "TIME_WAIT") && c.ctsim->tcp_state == "FIN_WAIT" &&
                one_side && c.ctsim->accepted[0] == c.kernel->accepted[0] &&
                c.ctsim->accepted[1] == c.kernel->accepted[1];
       }},
      {"kernel-liberal-pickup",
       [](const RuleCtx& c) {
         // No SYN in the capture: the kernel picked the connection up mid-stream (it sets
         // BE_LIBERAL only then) straight into ESTABLISHED, while pf still waits for each side's
         // sequence to be acknowledged (SYN_SENT / SYN_RECV classes).
         if (c.d.kind != "tcp_state" || !c.both() || !c.flow) return false;
         const std::string& s = c.ctsim->tcp_state;
         return c.kernel->liberal && c.kernel->raw_state == "ESTABLISHED" &&
                (s == "SYN_SENT" || s == "SYN_RECV") && c.flow->syn == 0;
       }},
      {"kernel-window-stricter",
       [](const RuleCtx& c) {
         // The kernel accepted fewer of the connection's packets than OVS did (in neither
         // direction more, no bad checksums in play): Linux's window checks refused packets
         // that pf let through, so its state lags.
         if ((c.d.kind != "tcp_state" && c.d.kind != "replied") || !c.both() || !c.flow) {
           return false;
         }
         return !closeNamedDifferently(c) && c.flow->bad_checksum == 0 &&
                c.kernel->accepted[0] <= c.ctsim->accepted[0] &&
                c.kernel->accepted[1] <= c.ctsim->accepted[1] &&
                c.total(*c.kernel) < c.total(*c.ctsim);
       }},
  };
  return r;
}

const char* peerName(uint8_t s) {
  static const char* const n[] = {"CLOSED",      "LISTEN",     "SYN_SENT",   "SYN_RECV",
                                  "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "CLOSING",
                                  "LAST_ACK",    "FIN_WAIT_2", "TIME_WAIT"};
  return s < std::size(n) ? n[s] : "?";
}

// The evidence a difference is judged on, as text: each side's accepted packets (original /
// reply), ctsim's inv packets and TCP peer states, the kernel's state as dumped, and the TCP
// flags the capture carries in the kernel row's (else ctsim's) original / reply direction.
std::string evidence(const TableRow* c, const TableRow* k, const FlowFacts* f) {
  std::ostringstream o;
  if (c) {
    o << " [ctsim acc " << c->accepted[0] << "/" << c->accepted[1] << " inv " << c->invalid[0]
      << "/" << c->invalid[1];
    if (c->proto == 6) o << " peers " << peerName(c->peer[0]) << "/" << peerName(c->peer[1]);
    o << "]";
  }
  if (k) {
    o << " [kernel acc " << k->accepted[0] << "/" << k->accepted[1];
    if (!k->raw_state.empty()) o << " " << k->raw_state;
    if (k->liberal) o << " liberal";
    o << "]";
  }
  const TableRow* row = k ? k : c;
  if (f && row->proto == 6) {
    int o0 = row->orig_side, r0 = 1 - o0;
    o << " [trace syn " << f->syn_by[o0] << "/" << f->syn_by[r0] << " fin " << f->fin_by[o0] << "/"
      << f->fin_by[r0] << " rst " << f->rst_by[o0] << "/" << f->rst_by[r0] << "]";
  }
  if (f && f->bad_checksum) {
    o << " [bad csum " << f->bad_csum_by[row->orig_side] << "/"
      << f->bad_csum_by[1 - row->orig_side] << "]";
  }
  return o.str();
}

}  // namespace

std::string flowId(uint8_t af, uint8_t proto, const std::string& a, uint16_t pa,
                   const std::string& b, uint16_t pb) {
  std::string x = a + "#" + std::to_string(pa), y = b + "#" + std::to_string(pb);
  if (y < x) std::swap(x, y);
  return std::to_string(af) + " " + std::to_string(proto) + " " + x + " " + y;
}

std::vector<std::string> knownRules() {
  std::vector<std::string> out;
  for (const auto& [name, fn] : rules()) out.push_back(name);
  return out;
}

Result<CtsimTable> ctsimFinalTable(const std::string& path, ct::ClockMode clock) {
  ct::ReplayOptions opt;
  opt.clock = clock;
  opt.flush_at_end = false;
  ct::Replayer replayer(opt);
  CtsimTable out;
  struct Counts {
    uint64_t accepted[2] = {0, 0};
    uint64_t invalid[2] = {0, 0};
  };
  std::map<uint64_t, Counts> by_conn;  // By Conn::id.
  auto on_packet = [&](const TraceRecord& rec, const ct::Verdict& v) {
    PacketInfo pi = parsePacket(rec.linktype, rec.data, rec.caplen, rec.wirelen);
    if (pi.ip_version == 4 || pi.ip_version == 6) {
      uint8_t af = pi.ip_version;
      std::string s = addrText(af, pi.src.bytes), d = addrText(af, pi.dst.bytes);
      bool ports = hasPorts(pi.proto) && pi.has_l4 && !pi.is_fragment;
      uint16_t sp = ports ? pi.sport : 0, dp = ports ? pi.dport : 0;
      FlowFacts& f = out.flows[flowId(af, pi.proto, s, sp, d, dp)];
      FlowFacts& h = out.hosts[flowId(af, pi.proto, s, 0, d, 0)];
      int side = sideOf(s, sp, d, dp);
      f.packets++;
      if (pi.ip_csum == ChecksumState::kBad || pi.l4_csum == ChecksumState::kBad) {
        f.bad_checksum++;
        f.bad_csum_by[side]++;
      }
      if (pi.is_fragment) h.fragments++, f.fragments++;
      if (pi.proto == 6 && pi.has_l4) {
        if (pi.tcp_flags & kTcpRst) f.rst++, f.rst_by[side]++;
        if (pi.tcp_flags & kTcpFin) f.fin_by[side]++;
        if ((pi.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn) f.syn++, f.syn_by[side]++;
        if ((pi.tcp_flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck)) f.syn_ack++;
      }
    }
    if (v.created && v.conn) out.flows[flowIdOfKey(v.conn->key())].ctsim_created = true;
    if (v.conn && !(v.state & ct::kCsRelated)) {
      Counts& n = by_conn[v.conn->id];
      (v.state & ct::kCsInvalid ? n.invalid : n.accepted)[v.reply ? 1 : 0]++;
    }
  };
  auto sum = replayer.run(path, on_packet);
  if (!sum.ok()) return sum.status();
  if (const ct::LifecycleRecorder* lr = replayer.lifecycles()) {
    for (const ct::Lifecycle& l : lr->conns()) {
      if (l.end == ct::LifeEnd::kExpired || l.end == ct::LifeEnd::kReplaced) {
        out.flows[flowIdOfKey(l.key)].ctsim_expired = true;
      }
    }
  }
  for (const ct::Conn* c : replayer.engine().connections()) {
    TableRow r;
    ct::ConnKey k = c->key(), rk = c->revKey();
    k.zone = rk.zone = 0;
    fillIdentity(k, &r);
    r.rev_key = ct::formatKey(rk);
    // Replied as the kernel's SEEN_REPLY: a reply packet passed the tracker (set below).
    r.tcp_state = k.proto == 6 ? tcpStateOf(c->ext.state) : "";
    r.raw_state = r.tcp_state;
    if (k.proto == 6) {
      r.peer[0] = c->ext.tcp[CTSIM_DIR_ORIG].state;
      r.peer[1] = c->ext.tcp[CTSIM_DIR_REPLY].state;
    }
    if (auto it = by_conn.find(c->id); it != by_conn.end()) {
      for (int i : {0, 1}) {
        r.accepted[i] = it->second.accepted[i];
        r.invalid[i] = it->second.invalid[i];
      }
    }
    r.replied = r.accepted[1] > 0;
    out.rows.push_back(std::move(r));
  }
  return out;
}

std::vector<TableRow> kernelRows(const Json& table) {
  std::vector<TableRow> rows;
  for (const Json& e : table) {
    TableRow r;
    fillIdentity(keyFromJson(e, e["orig"]), &r);
    r.replied = !e["unreplied"].get<bool>();
    if (e["state"].is_string() && r.proto == 6) {
      r.raw_state = e["state"].get<std::string>();
      r.tcp_state = foldKernelState(r.raw_state);
    }
    if (e.contains("tcp")) {
      for (const char* dir : {"flags_orig", "flags_reply"}) {
        for (const Json& fl : e["tcp"][dir]) r.liberal |= fl == "BE_LIBERAL";
      }
    }
    if (e.contains("packets")) {
      r.accepted[0] = e["packets"]["orig"].get<uint64_t>();
      r.accepted[1] = e["packets"]["reply"].get<uint64_t>();
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

Result<std::map<std::string, std::string>> loadDifferenceRules(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status(ENOENT, path + ": cannot open");
  std::set<std::string> known;
  for (const std::string& r : knownRules()) known.insert(r);
  std::map<std::string, std::string> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    n++;
    if (line.empty() || line[0] == '#') continue;
    size_t tab = line.find('\t');
    if (tab == std::string::npos || tab == 0 || tab + 1 >= line.size()) {
      return Status(EINVAL, path + ":" + std::to_string(n) + ": expected 'rule<TAB>reason'");
    }
    std::string rule = line.substr(0, tab);
    if (rule == "rule") continue;  // Header.
    if (!known.count(rule)) {
      return Status(EINVAL, path + ":" + std::to_string(n) + ": unknown rule '" + rule + "'");
    }
    out[rule] = line.substr(tab + 1);
  }
  return out;
}

std::vector<Difference> compareTables(const CtsimTable& ctsim, const std::vector<TableRow>& kernel,
                                      const std::map<std::string, std::string>& allowed,
                                      ct::ClockMode clock) {
  std::map<std::string, const TableRow*> by_key, by_rev;
  for (const TableRow& r : ctsim.rows) {
    by_key[r.key] = &r;
    by_rev[r.rev_key] = &r;
  }
  std::set<const TableRow*> matched;
  std::deque<TableRow> oriented;  // Reversed matches, ctsim's directions swapped.
  std::vector<Difference> diffs;
  auto add = [&](std::string kind, const TableRow* c, const TableRow* k, std::string detail) {
    const TableRow* row = k ? k : c;
    auto f = ctsim.flows.find(row->flow_id);
    auto h = ctsim.hosts.find(row->host_id);
    detail += evidence(c, k, f == ctsim.flows.end() ? nullptr : &f->second);
    Difference d{std::move(kind), (k ? k : c)->key, std::move(detail), "", {}};
    RuleCtx ctx{d,
                c,
                k,
                f == ctsim.flows.end() ? nullptr : &f->second,
                h == ctsim.hosts.end() ? nullptr : &h->second,
                clock};
    for (const auto& [name, cond] : rules()) {
      if (allowed.count(name) && cond(ctx)) {
        if (d.rule.empty()) d.rule = name;
        d.matching.push_back(name);
      }
    }
    diffs.push_back(std::move(d));
  };
  for (const TableRow& k : kernel) {
    const TableRow* c = nullptr;
    bool reversed = false;
    if (auto it = by_key.find(k.key); it != by_key.end()) {
      c = it->second;
    } else if (auto it2 = by_rev.find(k.key); it2 != by_rev.end()) {
      c = it2->second;
      reversed = true;
    }
    if (c == nullptr) {
      add("only_kernel", nullptr, &k, "");
      continue;
    }
    matched.insert(c);
    if (reversed) {
      // The directional evidence lined up with the kernel's row.
      TableRow& o = oriented.emplace_back(*c);
      std::swap(o.accepted[0], o.accepted[1]);
      std::swap(o.invalid[0], o.invalid[1]);
      std::swap(o.peer[0], o.peer[1]);
      c = &o;
      add("reversed", c, &k, "ctsim's original direction is the kernel's reply");
    }
    if (c->replied != k.replied) {
      add("replied", c, &k,
          std::string("ctsim ") + (c->replied ? "replied" : "unreplied") + ", kernel " +
              (k.replied ? "replied" : "unreplied"));
    }
    if (k.proto == 6 && c->tcp_state != k.tcp_state) {
      add("tcp_state", c, &k, "ctsim " + c->tcp_state + ", kernel " + k.tcp_state);
    }
  }
  for (const TableRow& c : ctsim.rows) {
    if (!matched.count(&c)) add("only_ctsim", &c, nullptr, c.tcp_state);
  }
  return diffs;
}

}  // namespace ctsim::oracle

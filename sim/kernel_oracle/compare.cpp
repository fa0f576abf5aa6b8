#include "sim/kernel_oracle/compare.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "sim/conntrack/conn_key.h"
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
  return flowId(k.af, 0, addrText(k.af, k.src), 0, addrText(k.af, k.dst), 0);
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

struct RuleCtx {
  const Difference& d;
  const TableRow* ctsim;   // The ctsim row, if any.
  const TableRow* kernel;  // The kernel row, if any.
  const FlowFacts* flow;   // Facts of the row's flow, if the capture had any.
  const FlowFacts* hosts;  // Facts of its host pair.
  ct::ClockMode clock;
};
using Rule = std::function<bool(const RuleCtx&)>;

const std::vector<std::pair<std::string, Rule>>& rules() {
  static const std::vector<std::pair<std::string, Rule>> r = {
      {"kernel-ignores-checksums",
       [](const RuleCtx& c) {
         return (c.d.kind == "only_kernel" || c.d.kind == "reversed") && c.flow &&
                c.flow->bad_checksum > 0;
       }},
      {"fragments-reassembled-differently",
       [](const RuleCtx& c) {
         return (c.d.kind == "only_kernel" || c.d.kind == "only_ctsim") && c.hosts &&
                c.hosts->fragments > 0;
       }},
      {"kernel-tracks-sctp",
       [](const RuleCtx& c) { return c.d.kind == "only_kernel" && c.kernel->proto == 132; }},
      {"kernel-tcp-port-zero",
       [](const RuleCtx& c) {
         return c.d.kind == "only_kernel" && c.kernel->proto == 6 &&
                (c.kernel->key.find(":0 ") != std::string::npos ||
                 c.kernel->key.find(":0\t") != std::string::npos || c.kernel->key.ends_with(":0"));
       }},
      {"kernel-deletes-unreplied-on-rst",
       [](const RuleCtx& c) {
         // Unreplied, or whose only replies came without SYN/ACK: the responder's RST was the
         // first reply, which the kernel sees before it sets SEEN_REPLY.
         return c.d.kind == "only_ctsim" && c.ctsim->proto == 6 && c.flow && c.flow->rst > 0 &&
                (!c.ctsim->replied || c.flow->syn_ack == 0);
       }},
      {"trace-clock-expiry",
       [](const RuleCtx& c) {
         return c.d.kind == "only_kernel" && c.clock == ct::ClockMode::kTrace && c.flow &&
                c.flow->ctsim_created;
       }},
      {"tcp-state-after-close",
       [](const RuleCtx& c) {
         if (c.d.kind != "tcp_state" || !c.kernel || !c.ctsim) return false;
         const std::string& k = c.kernel->tcp_state;
         return k == "CLOSE" || k == "TIME_WAIT" || k == "FIN_WAIT" || k == "CLOSE_WAIT" ||
                k == "LAST_ACK";
       }},
      {"tcp-window-tracking",
       [](const RuleCtx& c) {
         return (c.d.kind == "tcp_state" || c.d.kind == "replied") && c.kernel && c.ctsim &&
                c.kernel->proto == 6;
       }},
  };
  return r;
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
  auto on_packet = [&](const TraceRecord& rec, const ct::Verdict& v) {
    PacketInfo pi = parsePacket(rec.linktype, rec.data, rec.caplen, rec.wirelen);
    if (pi.ip_version == 4 || pi.ip_version == 6) {
      uint8_t af = pi.ip_version;
      std::string s = addrText(af, pi.src.bytes), d = addrText(af, pi.dst.bytes);
      bool ports = hasPorts(pi.proto) && pi.has_l4 && !pi.is_fragment;
      FlowFacts& f =
          out.flows[flowId(af, pi.proto, s, ports ? pi.sport : 0, d, ports ? pi.dport : 0)];
      FlowFacts& h = out.hosts[flowId(af, 0, s, 0, d, 0)];
      f.packets++;
      if (pi.ip_csum == ChecksumState::kBad || pi.l4_csum == ChecksumState::kBad) {
        f.bad_checksum++;
      }
      if (pi.is_fragment) h.fragments++;
      if (pi.proto == 6 && pi.has_l4) {
        if (pi.tcp_flags & kTcpRst) f.rst++;
        if ((pi.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn) f.syn++;
        if ((pi.tcp_flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck)) f.syn_ack++;
      }
    }
    if (v.created && v.conn) out.flows[flowIdOfKey(v.conn->key())].ctsim_created = true;
  };
  auto sum = replayer.run(path, on_packet);
  if (!sum.ok()) return sum.status();
  for (const ct::Conn* c : replayer.engine().connections()) {
    TableRow r;
    ct::ConnKey k = c->key(), rk = c->revKey();
    k.zone = rk.zone = 0;
    r.key = ct::formatKey(k);
    r.rev_key = ct::formatKey(rk);
    r.af = k.af;
    r.proto = k.proto;
    r.replied = c->packets[1] > 0;
    r.tcp_state = k.proto == 6 ? tcpStateOf(c->ext.state) : "";
    r.flow_id = flowIdOfKey(k);
    r.host_id = hostIdOfKey(k);
    out.rows.push_back(std::move(r));
  }
  return out;
}

std::vector<TableRow> kernelRows(const Json& table) {
  std::vector<TableRow> rows;
  for (const Json& e : table) {
    TableRow r;
    ct::ConnKey k = keyFromJson(e, e["orig"]);
    r.key = ct::formatKey(k);
    r.rev_key = ct::formatKey(ct::reverseKey(k));
    r.af = k.af;
    r.proto = k.proto;
    r.replied = !e["unreplied"].get<bool>();
    r.tcp_state = e["state"].is_string() && k.proto == 6
                      ? foldKernelState(e["state"].get<std::string>())
                      : "";
    r.flow_id = flowIdOfKey(k);
    r.host_id = hostIdOfKey(k);
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
  std::vector<Difference> diffs;
  auto add = [&](std::string kind, const TableRow* c, const TableRow* k, std::string detail) {
    Difference d{std::move(kind), (k ? k : c)->key, std::move(detail), ""};
    const TableRow* row = k ? k : c;
    auto f = ctsim.flows.find(row->flow_id);
    auto h = ctsim.hosts.find(row->host_id);
    RuleCtx ctx{d,
                c,
                k,
                f == ctsim.flows.end() ? nullptr : &f->second,
                h == ctsim.hosts.end() ? nullptr : &h->second,
                clock};
    for (const auto& [name, cond] : rules()) {
      if (allowed.count(name) && cond(ctx)) {
        d.rule = name;
        break;
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
    if (reversed) add("reversed", c, &k, "ctsim's original direction is the kernel's reply");
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

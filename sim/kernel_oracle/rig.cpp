#include "sim/kernel_oracle/rig.h"

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <tuple>

#include "sim/checksum.h"
#include "sim/parser.h"

namespace ctsim::oracle {

namespace {

using Json = nlohmann::ordered_json;

constexpr uint16_t kEthIpv4 = 0x0800;

bool isVlanType(uint16_t t) { return t == 0x8100 || t == 0x88a8 || t == 0x9100; }
uint16_t rd16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

// Recomputes a wrong IPv4 header checksum of the header at `ip` (`len` bytes available).
bool fixIpv4Checksum(uint8_t* ip, size_t len) {
  if (len < 20 || (ip[0] >> 4) != 4) return false;
  size_t ihl = size_t(ip[0] & 0x0f) * 4;
  if (ihl < 20 || ihl > len) return false;
  uint16_t stored = rd16(ip + 10);
  ip[10] = ip[11] = 0;
  uint16_t good = checksumFinish(checksumAdd(0, ip, ihl));
  ip[10] = uint8_t(good >> 8);
  ip[11] = uint8_t(good);
  return stored != good;
}

const char* l4Name(uint8_t proto) {
  switch (proto) {
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 1:
      return "icmp";
    case 58:
      return "icmpv6";
    case 132:
      return "sctp";
    case 47:
      return "gre";
    case 2:
      return "igmp";
    case 4:
      return "ipip";
    case 41:
      return "ipv6";
    default:
      return "unknown";
  }
}

const char* tcpStateName(uint8_t s) {
  static const char* const names[] = {"NONE",     "SYN_SENT",   "SYN_RECV", "ESTABLISHED",
                                      "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT",
                                      "CLOSE",    "SYN_SENT2"};
  return s < std::size(names) ? names[s] : "UNKNOWN";
}

const char* sctpStateName(uint8_t s) {
  static const char* const names[] = {
      "NONE",          "CLOSED",        "COOKIE_WAIT",       "COOKIE_ECHOED",  "ESTABLISHED",
      "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED"};
  return s < std::size(names) ? names[s] : "UNKNOWN";
}

Json statusNames(uint32_t st) {
  static const char* const names[] = {"EXPECTED",     "SEEN_REPLY", "ASSURED",       "CONFIRMED",
                                      "SRC_NAT",      "DST_NAT",    "SEQ_ADJUST",    "SRC_NAT_DONE",
                                      "DST_NAT_DONE", "DYING",      "FIXED_TIMEOUT", "TEMPLATE",
                                      "NAT_CLASH",    "HELPER",     "OFFLOAD",       "HW_OFFLOAD"};
  Json a = Json::array();
  for (unsigned b = 0; b < 32; b++) {
    if (!(st & (1u << b))) continue;
    a.push_back(b < std::size(names) ? std::string(names[b]) : "BIT" + std::to_string(b));
  }
  return a;
}

Json tcpFlagNames(uint8_t f) {
  static const char* const names[] = {"WINDOW_SCALE",  "SACK_PERM",           "CLOSE_INIT",
                                      "BE_LIBERAL",    "DATA_UNACKNOWLEDGED", "MAXACK_SET",
                                      "CHALLENGE_ACK", "SIMULTANEOUS_OPEN"};
  Json a = Json::array();
  for (unsigned b = 0; b < 8; b++) {
    if (f & (1u << b)) a.push_back(names[b]);
  }
  return a;
}

uint8_t icmpReplyType(uint8_t proto, uint8_t type) {
  if (proto == 1) {
    switch (type) {
      case 8:
        return 0;
      case 13:
        return 14;
      case 15:
        return 16;
      case 17:
        return 18;
      default:
        return type;
    }
  }
  return type == 128 ? 129 : type == 130 ? 131 : type;  // Echo, node information.
}

std::string addrText(const nf_conntrack* ct, bool v4, bool reply, bool src) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (v4) {
    uint32_t a = nfct_get_attr_u32(ct, reply ? (src ? ATTR_REPL_IPV4_SRC : ATTR_REPL_IPV4_DST)
                                             : (src ? ATTR_IPV4_SRC : ATTR_IPV4_DST));
    inet_ntop(AF_INET, &a, buf, sizeof buf);
  } else {
    const void* a = nfct_get_attr(ct, reply ? (src ? ATTR_REPL_IPV6_SRC : ATTR_REPL_IPV6_DST)
                                            : (src ? ATTR_IPV6_SRC : ATTR_IPV6_DST));
    if (a) inet_ntop(AF_INET6, a, buf, sizeof buf);
  }
  return buf;
}

// Sort key: family, protocol, original addresses (as bytes), then the L4 identity.
struct SortKey {
  uint8_t af = 0, proto = 0;
  std::vector<uint8_t> src, dst;
  uint32_t a = 0, b = 0, c = 0;
  bool operator<(const SortKey& o) const {
    return std::tie(af, proto, src, dst, a, b, c) <
           std::tie(o.af, o.proto, o.src, o.dst, o.a, o.b, o.c);
  }
};

Json entryJson(const nf_conntrack* ct, SortKey* key) {
  uint8_t family = nfct_get_attr_u8(ct, ATTR_L3PROTO);
  uint8_t proto = nfct_get_attr_u8(ct, ATTR_L4PROTO);
  bool v4 = family == AF_INET;
  Json j;
  j["l3"] = v4 ? "ipv4" : "ipv6";
  j["l4"] = l4Name(proto);
  j["l4proto"] = proto;
  key->af = v4 ? 4 : 6;
  key->proto = proto;
  size_t alen = v4 ? 4 : 16;
  auto bytes = [&](nf_conntrack_attr a) {
    const auto* p = static_cast<const uint8_t*>(nfct_get_attr(ct, a));
    return p ? std::vector<uint8_t>(p, p + alen) : std::vector<uint8_t>();
  };
  key->src = bytes(v4 ? ATTR_IPV4_SRC : ATTR_IPV6_SRC);
  key->dst = bytes(v4 ? ATTR_IPV4_DST : ATTR_IPV6_DST);
  for (bool reply : {false, true}) {
    Json t;
    t["src"] = addrText(ct, v4, reply, true);
    t["dst"] = addrText(ct, v4, reply, false);
    if (proto == 6 || proto == 17 || proto == 132 || proto == 136 || proto == 33) {
      uint16_t sp = ntohs(nfct_get_attr_u16(ct, reply ? ATTR_REPL_PORT_SRC : ATTR_PORT_SRC));
      uint16_t dp = ntohs(nfct_get_attr_u16(ct, reply ? ATTR_REPL_PORT_DST : ATTR_PORT_DST));
      t["sport"] = sp;
      t["dport"] = dp;
      if (!reply) key->a = sp, key->b = dp;
    } else if (proto == 1 || proto == 58) {
      uint8_t type = nfct_get_attr_u8(ct, ATTR_ICMP_TYPE);
      uint8_t code = nfct_get_attr_u8(ct, ATTR_ICMP_CODE);
      uint16_t id = ntohs(nfct_get_attr_u16(ct, ATTR_ICMP_ID));
      t["type"] = reply ? icmpReplyType(proto, type) : type;
      t["code"] = code;
      t["id"] = id;
      if (!reply) key->a = id, key->b = type, key->c = code;
    } else if (proto == 47) {
      uint16_t sk = ntohs(nfct_get_attr_u16(ct, reply ? ATTR_REPL_PORT_SRC : ATTR_PORT_SRC));
      uint16_t dk = ntohs(nfct_get_attr_u16(ct, reply ? ATTR_REPL_PORT_DST : ATTR_PORT_DST));
      t["srckey"] = sk;
      t["dstkey"] = dk;
      if (!reply) key->a = sk, key->b = dk;
    }
    j[reply ? "reply" : "orig"] = t;
  }
  j["zone"] = nfct_attr_is_set(ct, ATTR_ZONE) ? nfct_get_attr_u16(ct, ATTR_ZONE) : 0;
  if (proto == 6 && nfct_attr_is_set(ct, ATTR_TCP_STATE)) {
    j["state"] = tcpStateName(nfct_get_attr_u8(ct, ATTR_TCP_STATE));
  } else if (proto == 132 && nfct_attr_is_set(ct, ATTR_SCTP_STATE)) {
    j["state"] = sctpStateName(nfct_get_attr_u8(ct, ATTR_SCTP_STATE));
  } else {
    j["state"] = nullptr;
  }
  uint32_t status = nfct_get_attr_u32(ct, ATTR_STATUS);
  j["status"] = statusNames(status);
  j["unreplied"] = (status & IPS_SEEN_REPLY) == 0;
  j["timeout"] = nfct_get_attr_u32(ct, ATTR_TIMEOUT);
  if (proto == 6) {
    j["tcp"] = {{"wscale_orig", nfct_get_attr_u8(ct, ATTR_TCP_WSCALE_ORIG)},
                {"wscale_reply", nfct_get_attr_u8(ct, ATTR_TCP_WSCALE_REPL)},
                {"flags_orig", tcpFlagNames(nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_ORIG))},
                {"flags_reply", tcpFlagNames(nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_REPL))}};
  } else if (proto == 132) {
    j["sctp"] = {{"vtag_orig", nfct_get_attr_u32(ct, ATTR_SCTP_VTAG_ORIG)},
                 {"vtag_reply", nfct_get_attr_u32(ct, ATTR_SCTP_VTAG_REPL)}};
  }
  j["packets"] = {{"orig", nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_PACKETS)},
                  {"reply", nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_PACKETS)}};
  j["bytes"] = {{"orig", nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_BYTES)},
                {"reply", nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_BYTES)}};
  j["mark"] = nfct_get_attr_u32(ct, ATTR_MARK);
  return j;
}

// Python json.dumps style: ", " and ": ".
void pyDump(const Json& j, std::string& out) {
  if (j.is_object()) {
    out += '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      out += Json(it.key()).dump();
      out += ": ";
      pyDump(it.value(), out);
    }
    out += '}';
  } else if (j.is_array()) {
    out += '[';
    for (size_t i = 0; i < j.size(); i++) {
      if (i) out += ", ";
      pyDump(j[i], out);
    }
    out += ']';
  } else {
    out += j.dump();
  }
}

}  // namespace

std::string formatTable(const Json& table) {
  if (table.empty()) return "[\n]\n";
  std::string out = "[\n";
  for (size_t i = 0; i < table.size(); i++) {
    if (i) out += ",\n";
    pyDump(table[i], out);
  }
  out += "\n]\n";
  return out;
}

const char* rigModeName(RigMode m) {
  switch (m) {
    case RigMode::kAuto:
      return "auto";
    case RigMode::kBridge:
      return "bridge";
    case RigMode::kRouted:
      return "routed";
  }
  return "?";
}

Result<RigMode> parseRigMode(const std::string& text) {
  for (RigMode m : {RigMode::kAuto, RigMode::kBridge, RigMode::kRouted}) {
    if (text == rigModeName(m)) return m;
  }
  return Status(EINVAL, "unknown rig '" + text + "' (auto, bridge or routed)");
}

Result<std::unique_ptr<KernelRig>> KernelRig::create(RigMode mode) {
  std::string why = kern::namespaceUnavailableReason();
  if (!why.empty()) return Status(EPERM, why);
  std::unique_ptr<KernelRig> rig(new KernelRig());
  auto outer = kern::NetNs::create();
  if (!outer.ok()) return outer.status();
  auto track = kern::NetNs::create();
  if (!track.ok()) return track.status();
  rig->outer_ = std::move(outer).value();
  rig->track_ = std::move(track).value();
  const kern::NetNs& o = rig->outer_;
  const kern::NetNs& t = rig->track_;

  // The outer namespace sends nothing of its own.
  for (const char* k : {"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"}) {
    (void)o.writeSysctl(k, "1");
  }
  // Conntrack as the README's rig.
  for (auto [k, v] : {std::pair{"net/netfilter/nf_conntrack_checksum", "0"},
                      std::pair{"net/netfilter/nf_conntrack_tcp_be_liberal", "0"},
                      std::pair{"net/netfilter/nf_conntrack_acct", "1"}}) {
    Status s = t.writeSysctl(k, v);
    if (!s.ok()) return Status(ENOTSUP, "no nf_conntrack here: " + s.message());
  }
  if (mode == RigMode::kAuto) {
    bool bridge_nf = t.writeSysctl("net/bridge/bridge-nf-call-iptables", "1").ok();
    mode = bridge_nf ? RigMode::kBridge : RigMode::kRouted;
  }
  rig->mode_ = mode;
  Status s = t.run({"nft", "-f", "-"},
                   "table inet ctsim_oracle {\n"
                   "  chain pre { type filter hook prerouting priority 0;\n"
                   "    ct state new counter\n    ct state established counter\n"
                   "    ct state related counter\n    ct state invalid counter\n"
                   "    ct state untracked counter\n  }\n"
                   "  chain out { type filter hook output priority -300; notrack; }\n"
                   "}\n");
  if (!s.ok()) return Status(s.code(), "nftables: " + s.message());
  std::string outer_path = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(o.fd());
  s = mode == RigMode::kBridge ? rig->buildBridge(outer_path) : rig->buildRouted(outer_path);
  if (!s.ok()) return s;

  auto ct = kern::CtnetlinkSocket::open(t);
  if (!ct.ok()) return ct.status();
  rig->ct_ = std::move(ct).value();
  // Ports forward only once the link-watch events of their carriers are processed (up to a
  // second after `up`): wait for them, then start from an empty table.
  const bool bridge = mode == RigMode::kBridge;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!(t.linkRunning("inj1") && o.linkRunning("inj0") &&
           (bridge ? t.linkRunning("sink1") && t.linkRunning("br0") && o.linkRunning("sink0")
                   : t.linkRunning("out1") && o.linkRunning("out0")))) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Status(ETIMEDOUT, "the rig's links did not come up within 5 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  (void)rig->ct_.flush();
  return rig;
}

Status KernelRig::addPairs(const std::string& outer_path, const std::string& other,
                           const std::string& extra, const std::string& extra_mtu) {
  const std::string o1 = other + "1", o0 = other + "0";
  Status s =
      track_.run({"ip", "-batch", "-"},
                 "link add inj1 type veth peer name inj0 netns " + outer_path + "\n" + "link add " +
                     o1 + " type veth peer name " + o0 + " netns " + outer_path + "\n" + extra);
  if (!s.ok()) return Status(s.code(), "iproute2: " + s.message());
  // Large frames (TSO captures) pass when the MTU allows; failures here are not fatal.
  (void)track_.run({"ip", "-batch", "-"},
                   "link set inj1 mtu 65535\nlink set " + o1 + " mtu 65535\n" + extra_mtu);
  (void)outer_.run({"ip", "-batch", "-"},
                   "link set inj0 mtu 65535\nlink set " + o0 + " mtu 65535\n");
  s = outer_.run({"ip", "-batch", "-"}, "link set inj0 multicast off\nlink set " + o0 +
                                            " multicast off\nlink set inj0 up\nlink set " + o0 +
                                            " up\n");
  return s.ok() ? s : Status(s.code(), "iproute2: " + s.message());
}

Status KernelRig::buildBridge(const std::string& outer_path) {
  const kern::NetNs& o = outer_;
  const kern::NetNs& t = track_;
  for (const char* k : {"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
                        "net/bridge/bridge-nf-filter-vlan-tagged"}) {
    Status s = t.writeSysctl(k, "1");
    if (!s.ok()) return Status(ENOTSUP, "no br_netfilter here: " + s.message());
  }
  Status s = addPairs(outer_path, "sink",
                      "link add br0 type bridge\nlink set inj1 master br0\n"
                      "link set sink1 master br0\n",
                      "link set br0 mtu 65535\n");
  if (!s.ok()) return s;
  s = t.run({"ip", "-batch", "-"}, "link set inj1 up\nlink set sink1 up\nlink set br0 up\n");
  if (!s.ok()) return Status(s.code(), "iproute2: " + s.message());
  auto mac = o.macAddress("sink0");
  if (!mac.ok()) return mac.status();
  std::memcpy(dst_mac_[0], mac.value().data(), 6);
  return openSocket(0, "inj0");
}

Status KernelRig::buildRouted(const std::string& outer_path) {
  const kern::NetNs& o = outer_;
  const kern::NetNs& t = track_;
  // No reverse-path filter and no redirects, on the links made below too (default).
  for (const char* k :
       {"net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter",
        "net/ipv4/conf/all/send_redirects", "net/ipv4/conf/default/send_redirects"}) {
    Status s = t.writeSysctl(k, "0");
    if (!s.ok()) return Status(ENOTSUP, "routing sysctls: " + s.message());
  }
  Status s = addPairs(outer_path, "out", "", "");
  if (!s.ok()) return s;
  // The outer namespace answers nothing the router forwards to it.
  s = o.run({"nft", "-f", "-"},
            "table inet ctsim_outer {\n"
            "  chain out { type filter hook output priority 0; policy drop; }\n}\n");
  if (!s.ok()) return Status(s.code(), "nftables (outer): " + s.message());
  s = t.run({"ip", "-batch", "-"}, "link set inj1 up\nlink set out1 up\n");
  if (!s.ok()) return Status(s.code(), "iproute2: " + s.message());
  for (auto [k, v] :
       {std::pair{"net/ipv4/ip_forward", "1"}, std::pair{"net/ipv6/conf/all/forwarding", "1"},
        std::pair{"net/ipv4/conf/inj1/rp_filter", "0"},
        std::pair{"net/ipv4/conf/out1/rp_filter", "0"}}) {
    s = t.writeSysctl(k, v);
    if (!s.ok()) return Status(ENOTSUP, "routing sysctls: " + s.message());
  }
  auto mac = [](const kern::NetNs& ns, const char* dev) -> std::string {
    auto m = ns.macAddress(dev);
    if (!m.ok() || m.value().size() != 6) return "";
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m.value()[0], m.value()[1],
                  m.value()[2], m.value()[3], m.value()[4], m.value()[5]);
    return buf;
  };
  std::string inj0 = mac(o, "inj0"), out0 = mac(o, "out0");
  if (inj0.empty() || out0.empty()) return Status(EIO, "cannot read the outer MAC addresses");
  // What enters on one side leaves on the other, to a permanent neighbour (the outer end).
  s = t.run({"ip", "-batch", "-"},
            "neigh add 10.255.0.1 lladdr " + inj0 + " dev inj1 nud permanent\n" +
                "neigh add 10.255.0.2 lladdr " + out0 + " dev out1 nud permanent\n" +
                "route add default via 10.255.0.1 dev inj1 onlink table 101\n"
                "route add default via 10.255.0.2 dev out1 onlink table 102\n"
                "rule add iif inj1 lookup 102 pref 100\n"
                "rule add iif out1 lookup 101 pref 101\n");
  if (!s.ok()) return Status(s.code(), "iproute2 (IPv4 routes): " + s.message());
  s = t.run({"ip", "-6", "-batch", "-"},
            "neigh add fe80::ff:1 lladdr " + inj0 + " dev inj1 nud permanent\n" +
                "neigh add fe80::ff:2 lladdr " + out0 + " dev out1 nud permanent\n" +
                "route add default via fe80::ff:1 dev inj1 table 101\n"
                "route add default via fe80::ff:2 dev out1 table 102\n"
                "rule add iif inj1 lookup 102 pref 100\n"
                "rule add iif out1 lookup 101 pref 101\n");
  if (!s.ok()) return Status(s.code(), "iproute2 (IPv6 routes): " + s.message());
  for (int side : {0, 1}) {
    auto m = t.macAddress(side == 0 ? "inj1" : "out1");
    if (!m.ok()) return m.status();
    std::memcpy(dst_mac_[side], m.value().data(), 6);
  }
  s = openSocket(0, "inj0");
  return s.ok() ? openSocket(1, "out0") : s;
}

Status KernelRig::openSocket(int side, const char* ifname) {
  unsigned ifindex = outer_.ifindex(ifname);
  {
    kern::ScopedNetns in(outer_);
    if (!in.ok()) return Status(EPERM, "cannot enter the outer namespace");
    packet_[side].reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  }
  if (!packet_[side].valid()) {
    return Status(errno, "AF_PACKET socket: " + std::string(strerror(errno)));
  }
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = int(ifindex);
  sll.sll_protocol = 0;  // Send only.
  if (::bind(packet_[side].get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
    return Status(errno, "bind to " + std::string(ifname) + ": " + strerror(errno));
  }
  return Status();
}

KernelRig::~KernelRig() = default;  // Sockets, then namespaces: the kernel removes the rest.

namespace {
// Raises a TTL (IPv4) or hop limit (IPv6) below 2 to 2, so that the router forwards the packet.
bool raiseTtl(uint8_t* ip, size_t len) {
  if (len < 20) return false;
  uint8_t* ttl = (ip[0] >> 4) == 4 ? ip + 8 : (ip[0] >> 4) == 6 && len >= 40 ? ip + 7 : nullptr;
  if (ttl == nullptr || *ttl >= 2) return false;
  *ttl = 2;
  return true;
}
}  // namespace

int KernelRig::routedSide(std::vector<uint8_t>& f) {
  if (f.size() < 14 + 20) return 0;
  const uint8_t* ip = &f[14];
  size_t alen = 0, src = 0;
  if (rd16(&f[12]) == kEthIpv4 && (ip[0] >> 4) == 4) {
    alen = 4, src = 12;
  } else if (rd16(&f[12]) == 0x86dd && f.size() >= 14 + 40 && (ip[0] >> 4) == 6) {
    alen = 16, src = 8;
  } else {
    return 0;
  }
  std::string a(reinterpret_cast<const char*>(ip + src), alen);
  std::string b(reinterpret_cast<const char*>(ip + src + alen), alen);
  auto [it, fresh] = left_.try_emplace(a < b ? a + b : b + a, a);
  return it->second == a ? 0 : 1;
}

std::vector<uint8_t> KernelRig::rewrite(const TraceRecord& rec, int* side) {
  const bool routed = mode_ == RigMode::kRouted;
  std::vector<uint8_t> f;
  if (rec.linktype == 1) {  // DLT_EN10MB
    if (rec.caplen < 14) return f;
    f.assign(rec.data, rec.data + rec.caplen);
    size_t off = 12, tags = 0;
    while (off + 2 <= f.size() && isVlanType(rd16(&f[off])) && off + 6 <= f.size()) {
      off += 4;
      tags++;
    }
    if (tags >= (routed ? 1u : 2u)) {
      f.erase(f.begin() + 12, f.begin() + long(off));
      off = 12;
      stats_.vlan_stripped++;
    }
    if (off + 2 <= f.size() && routed && (rd16(&f[off]) == kEthIpv4 || rd16(&f[off]) == 0x86dd)) {
      if (raiseTtl(&f[off + 2], f.size() - off - 2)) stats_.ttl_raised++;
    }
    if (off + 2 <= f.size() && rd16(&f[off]) == kEthIpv4) {
      if (fixIpv4Checksum(&f[off + 2], f.size() - off - 2)) stats_.ip_csum_fixed++;
    }
  } else {
    ParseOptions po;
    po.verify_checksums = false;
    PacketInfo pi = parsePacket(rec.linktype, rec.data, rec.caplen, rec.wirelen, po);
    if (pi.ip_version != 4 && pi.ip_version != 6) {
      stats_.not_ip++;
      return f;
    }
    f.resize(14);
    f[12] = pi.ip_version == 4 ? 0x08 : 0x86;
    f[13] = pi.ip_version == 4 ? 0x00 : 0xdd;
    f.insert(f.end(), rec.data + pi.l3_offset, rec.data + rec.caplen);
    if (routed && raiseTtl(&f[14], f.size() - 14)) stats_.ttl_raised++;
    if (pi.ip_version == 4 && fixIpv4Checksum(&f[14], f.size() - 14)) stats_.ip_csum_fixed++;
    std::memset(&f[6], 0, 6);  // Fixed below like a zero source MAC.
  }
  int s = routed ? routedSide(f) : 0;
  if (side) *side = s;
  std::memcpy(&f[0], dst_mac_[s], 6);
  static const uint8_t kZero[6] = {}, kFixed[6] = {0x02, 0, 0, 0, 0, 0x01};
  if (std::memcmp(&f[6], kZero, 6) == 0 || (f[6] & 1)) {
    std::memcpy(&f[6], kFixed, 6);
    if (rec.linktype == 1) stats_.mac_fixed++;
  }
  return f;
}

void KernelRig::inject(const TraceRecord& rec) {
  stats_.records++;
  int side = 0;
  std::vector<uint8_t> f = rewrite(rec, &side);
  if (f.empty()) {
    if (rec.linktype == 1) stats_.send_failed++;
    return;
  }
  if (::send(packet_[side].get(), f.data(), f.size(), 0) == ssize_t(f.size())) {
    stats_.sent++;
    stats_.right_side += side;
  } else {
    stats_.send_failed++;
  }
}

Result<Json> KernelRig::dump(int settle_ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
  std::vector<std::pair<SortKey, Json>> rows;
  Status s = ct_.dump([&](kern::NfctPtr ct) {
    SortKey k;
    Json j = entryJson(ct.get(), &k);
    rows.emplace_back(std::move(k), std::move(j));
  });
  if (!s.ok()) return s;
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  Json out = Json::array();
  for (auto& r : rows) out.push_back(std::move(r.second));
  return out;
}

std::string rigUnavailableReason(RigMode mode) {
  auto rig = KernelRig::create(mode);
  return rig.ok() ? "" : rig.status().message();
}

Result<Json> replayThroughKernel(const std::string& path, RigStats* stats, RigMode mode,
                                 RigMode* built) {
  auto reader = TraceReader::open(path);
  if (!reader.ok()) return reader.status();
  auto rig = KernelRig::create(mode);
  if (!rig.ok()) return rig.status();
  if (built) *built = rig.value()->mode();
  TraceRecord rec;
  while (!kern::Interrupt::interrupted() && reader.value()->next(rec)) rig.value()->inject(rec);
  auto table = rig.value()->dump();
  if (stats) *stats = rig.value()->stats();
  return table;
}

}  // namespace ctsim::oracle

#include "properties/fuzz/sequence.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "properties/workload.h"
#include "sim/packet_builder.h"

namespace ctsim::props::fuzz {

// emu-hw's occupancy series is off or coarse: days of simulated time would otherwise cost
// millions of samples per run (bounded per gap, but not across many steps).
const char* const kSpecs[16] = {
    "dummy",
    "dummy:name=d2",
    "recorder:path=/dev/null",
    "emu-hw:capacity=2,sample_interval=60s",
    "dummy:name=d3,add_error=28",
    ("emu-hw:name=emu2,capacity=4,add_fail=0.3,upd_fail=0.2,insert_latency=fixed:2ms,seed=7,"
     "sample_interval=0"),
    "dummy:name=nocan,can_offload=false",
    "emu-hw:name=emu3,capacity=3,batch=true,mirror=true,sample_interval=0",
    "dummy:name=d4",
    "recorder:name=rec2,path=/dev/null",
    "emu-hw:name=emu4,capacity=1,sample_interval=0",
    "dummy:name=d5,add_error=95",
    "emu-hw:name=emu5,capacity=8,insert_latency=uniform:0ms:40ms,seed=3,sample_interval=0",
    "dummy",  // a second registration under a taken name (EEXIST) when 0 is registered.
    "recorder:name=rec3,path=/dev/null,can_offload=false",
    "emu-hw:name=emu6,capacity=2,aging=5s,sample_interval=0",
};
const char* const kNames[16] = {"dummy", "d2",    "recorder", "emu-hw", "d3",   "emu2",
                                "nocan", "emu3",  "d4",       "rec2",   "emu4", "d5",
                                "emu5",  "dummy", "rec3",     "emu6"};

namespace {

constexpr const char* kV4Hosts[4] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "192.168.7.7"};
constexpr const char* kV6Hosts[4] = {"2001:db8::1", "2001:db8::2", "2001:db8::3", "fe80::7"};
constexpr const char* kV4Router = "192.0.2.254";
constexpr const char* kV6Router = "2001:db8::fe";
constexpr uint16_t kPorts[4] = {1000, 1001, 53, 80};
constexpr uint16_t kZones[4] = {0, 7, 100, 0};
constexpr int64_t kGaps[16] = {0,  0,   0,    0,    1,     1,     2,     5,
                               10, 100, 1000, 3000, 10000, 29000, 31000, 61000};
constexpr int64_t kDurations[16] = {1,     10,    100,   1000,  5000,   10000,  19999,   20000,
                                    30000, 31000, 60000, 61000, 120000, 600000, 3600000, 86401000};
constexpr uint8_t kTcpFlags[16] = {kTcpSyn,
                                   kTcpSyn | kTcpAck,
                                   kTcpAck,
                                   kTcpPsh | kTcpAck,
                                   kTcpFin | kTcpAck,
                                   kTcpRst,
                                   kTcpRst | kTcpAck,
                                   kTcpFin,
                                   kTcpSyn | kTcpRst,
                                   kTcpSyn | kTcpFin,
                                   0,
                                   kTcpUrg | kTcpAck,
                                   kTcpSyn | kTcpEce | kTcpCwr,
                                   kTcpAck,
                                   kTcpPsh | kTcpAck,
                                   kTcpFin | kTcpPsh | kTcpAck};
constexpr size_t kPayloads[4] = {0, 1, 10, 100};
constexpr int64_t kSweepIntervals[4] = {20000, 1000, 5000, 100000};
constexpr uint32_t kConnLimits[4] = {3000000, 3, 8, 32};
constexpr uint32_t kZone7Limits[4] = {0, 1, 2, 5};
struct IcmpType {
  uint8_t type, code;
};
constexpr IcmpType kIcmp4Errors[8] = {{3, 3},  {3, 1}, {3, 4}, {11, 0},
                                      {12, 0}, {5, 1}, {4, 0}, {3, 13}};
constexpr IcmpType kIcmp6Errors[8] = {{1, 4}, {1, 0}, {1, 3}, {2, 0},
                                      {3, 0}, {3, 1}, {4, 0}, {4, 1}};
constexpr int kAddErrors[4] = {0, ENOSPC, EIO, EOPNOTSUPP};
constexpr uint64_t kAddCounts[4] = {0, 1, 2, 1000};
constexpr uint64_t kUpdCounts[4] = {0, 1, 3, 1000};

// Reads bytes; past the end every byte is 0.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool done() const { return pos_ >= size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// The endpoints of a packet op (bytes A and B).
struct Flow {
  bool v6 = false;
  bool from_server = false;
  uint16_t zone = 0;
  int client = 0, server = 0;  // host indexes.
  uint16_t cport = 0, sport = 0;
  uint8_t detail = 0;  // B's high nibble.
  uint32_t key = 0;    // identifies the flow for sequence tracking.

  static Flow of(uint8_t a, uint8_t b) {
    Flow f;
    f.client = a & 3;
    f.server = (a >> 2) & 3;
    f.v6 = a & 0x10;
    f.zone = kZones[(a >> 5) & 3];
    f.from_server = a & 0x80;
    f.cport = kPorts[b & 3];
    f.sport = kPorts[(b >> 2) & 3];
    f.detail = b >> 4;
    f.key = uint32_t(a & 0x7f) | (uint32_t(b & 0x0f) << 8);
    return f;
  }
  const char* host(int i) const { return v6 ? kV6Hosts[i] : kV4Hosts[i]; }
  const char* src() const { return host(from_server ? server : client); }
  const char* dst() const { return host(from_server ? client : server); }
  uint16_t srcPort() const { return from_server ? sport : cport; }
  uint16_t dstPort() const { return from_server ? cport : sport; }
  // A builder with the VLAN tag and IP header of this flow's direction.
  PacketBuilder builder() const {
    PacketBuilder b;
    if (zone != 0) b.vlan(zone);
    v6 ? b.ipv6(src(), dst()) : b.ipv4(src(), dst());
    return b;
  }
  std::string text() const {
    std::ostringstream o;
    o << src() << ':' << srcPort() << " > " << dst() << ':' << dstPort() << " zone " << zone;
    return o.str();
  }
};

// A packet sent earlier (for ICMP errors to quote).
struct Sent {
  std::vector<uint8_t> ip;  // the IP packet.
  uint8_t version = 4;
  IpAddr src, dst;
  uint16_t zone = 0;
};

std::string flagsText(uint8_t f) {
  static const char kLetters[] = "FSRPAUEC";
  std::string s;
  for (int i = 0; i < 8; ++i) {
    if (f & (1 << i)) s += kLetters[i];
  }
  return s.empty() ? "none" : s;
}

class Decoder {
 public:
  Decoder(const uint8_t* data, size_t size, std::vector<std::string>* notes)
      : in_(data, size), notes_(notes) {}

  Scenario run() {
    uint8_t h0 = in_.byte(), h1 = in_.byte();
    seed_ = in_.byte();
    RunConfig& c = sc_.config;
    c.profile = Profile::kStrict;
    for (int i = 0; i < 8; ++i) {
      if (h0 & (1 << i)) c.providers.push_back(kSpecs[i]);
    }
    c.sweep_interval_ms = kSweepIntervals[h1 & 3];
    c.tcp_seq_check = !(h1 & 4);
    c.conn_limit = kConnLimits[(h1 >> 3) & 3];
    if (uint32_t z = kZone7Limits[(h1 >> 5) & 3]; z != 0) c.zone_limits[7] = z;
    if (notes_ != nullptr) {
      std::ostringstream o;
      o << "# providers:";
      for (const std::string& p : c.providers) o << ' ' << p;
      o << "; sweep " << c.sweep_interval_ms << " ms; tcp-seq-check "
        << (c.tcp_seq_check ? "on" : "off") << "; conn-limit " << c.conn_limit;
      for (const auto& [z, n] : c.zone_limits) o << "; zone " << z << " limit " << n;
      notes_->push_back(o.str());
    }
    while (!in_.done()) step();
    return std::move(sc_);
  }

 private:
  void step() {
    uint8_t op = in_.byte();
    int n = op >> 4;
    switch (op & 0x0f) {
      case 0:
        udp(n);
        break;
      case 1:
      case 2:
        tcpOp(n);
        break;
      case 3:
        echo(n);
        break;
      case 4:
        icmpError(n);
        break;
      case 5:
        other(n);
        break;
      case 6:
        fragments(n);
        break;
      case 7:
        addStep(sc_, Step::Kind::kAdvance, kDurations[n]);
        note("advance " + std::to_string(kDurations[n]) + " ms");
        break;
      case 8:
        addStep(sc_, Step::Kind::kSweep);
        note("sweep");
        break;
      case 9:
        addStep(sc_, Step::Kind::kFlush);
        note("flush");
        break;
      case 10:
        addStep(sc_, Step::Kind::kFlushZone, 0, kZones[n & 3]);
        note("flush-zone " + std::to_string(kZones[n & 3]));
        break;
      case 11:
        named(Step::Kind::kRegister, kSpecs[n]);
        break;
      case 12:
        // The registry's rule: unregister providers with no live offloaded connection (OVS does
        // it at module teardown). A flush first makes every provider idle.
        addStep(sc_, Step::Kind::kFlush);
        note("flush (before unregistering)");
        named(Step::Kind::kUnregister, kNames[n]);
        break;
      case 13:
        fault(n, in_.byte());
        break;
      case 14:
        handshake(n);
        break;
      default:
        if (!last_frame_.empty()) {
          packet(last_frame_, kGaps[n], "again: " + last_note_);
        }
        break;
    }
  }

  // A registration or unregistration step.
  void named(Step::Kind kind, const char* arg) {
    Step s;
    s.kind = kind;
    s.arg = arg;
    note(std::string(stepKindName(kind)) + " " + s.arg);
    sc_.steps.push_back(std::move(s));
  }

  void note(std::string text) {
    if (notes_ != nullptr) notes_->push_back(std::move(text));
  }

  // Appends a packet step and remembers it (duplicates, ICMP quotes).
  void packet(std::vector<uint8_t> frame, int64_t gap, std::string text) {
    last_frame_ = frame;
    last_note_ = text;
    note("packet +" + std::to_string(gap) + " ms " + text);
    addPacket(sc_, std::move(frame), gap);
  }
  void remember(const Flow& f, const PacketBuilder& b) {
    Sent s;
    s.ip = b.buildIp();
    s.version = f.v6 ? 6 : 4;
    s.src = ipAddr(f.src());
    s.dst = ipAddr(f.dst());
    s.zone = f.zone;
    recent_[recent_next_++ % 8] = std::move(s);
    recent_count_ = std::min<size_t>(recent_count_ + 1, 8);
  }
  // Payload size, bad checksums (B's detail nibble).
  PacketBuilder& finish(PacketBuilder& b, const Flow& f) {
    b.payload(kPayloads[f.detail & 3]);
    if (f.detail & 4) b.badL4Checksum();
    if ((f.detail & 8) && !f.v6) b.badIpChecksum();
    return b;
  }
  std::string checksums(const Flow& f) const {
    std::string s = " len " + std::to_string(kPayloads[f.detail & 3]);
    if (f.detail & 4) s += " bad-l4-csum";
    if ((f.detail & 8) && !f.v6) s += " bad-ip-csum";
    return s;
  }

  void udp(int n) {
    uint8_t a = in_.byte(), bb = in_.byte();
    Flow f = Flow::of(a, bb);
    PacketBuilder b = f.builder();
    b.udp(f.srcPort(), f.dstPort());
    finish(b, f);
    remember(f, b);
    packet(b.build(), kGaps[n], "udp " + f.text() + checksums(f));
  }

  // The next initial sequence number.
  uint32_t isn() { return uint32_t(seed_) * 2654435761u + 0x9e3779b9u * ++isns_; }

  // One TCP segment of flow `f` with flags `flags`; `mode` as byte C's bits 4-6.
  void segment(const Flow& f, uint8_t flags, int mode, uint8_t c, bool zero_window, int64_t gap) {
    Seq& s = seqs_[f.key];
    int me = f.from_server ? 1 : 0, peer = 1 - me;
    size_t len = kPayloads[f.detail & 3];
    if ((flags & kTcpSyn) && mode < 4) {
      s.next[me] = isn();
      s.known[me] = true;
    }
    if (!s.known[me]) {
      s.next[me] = isn();
      s.known[me] = true;
    }
    uint32_t seq = s.next[me];
    uint32_t ack = (flags & kTcpAck) && s.known[peer] ? s.next[peer] : 0;
    switch (mode) {
      case 4:
        seq += 0x40000000u;
        break;
      case 5:
        ack += 0x10000000u;
        break;
      case 6:
        seq = uint32_t(c) * 0x01010101u ^ uint32_t(seed_) << 8;
        ack = ~seq;
        break;
      case 7:
        seq -= 1;
        break;
      default:
        s.next[me] += uint32_t(len) + ((flags & kTcpSyn) ? 1 : 0) + ((flags & kTcpFin) ? 1 : 0);
        break;
    }
    PacketBuilder b = f.builder();
    b.tcp(f.srcPort(), f.dstPort(), flags, seq, ack, zero_window ? 0 : 65535);
    finish(b, f);
    remember(f, b);
    packet(b.build(), gap,
           "tcp " + f.text() + " " + flagsText(flags) + " seq " + std::to_string(seq) + " ack " +
               std::to_string(ack) + (zero_window ? " win 0" : "") + checksums(f));
  }

  void tcpOp(int n) {
    uint8_t a = in_.byte(), bb = in_.byte(), c = in_.byte();
    Flow f = Flow::of(a, bb);
    segment(f, kTcpFlags[c & 15], (c >> 4) & 7, c, c & 0x80, kGaps[n]);
  }

  void handshake(int n) {
    uint8_t a = in_.byte(), bb = in_.byte();
    Flow f = Flow::of(a & 0x7f, bb & 0x0f);  // from the client, no payload or bad checksum.
    segment(f, kTcpSyn, 0, 0, false, kGaps[n]);
    f.from_server = true;
    segment(f, kTcpSyn | kTcpAck, 0, 0, false, 0);
    f.from_server = false;
    segment(f, kTcpAck, 0, 0, false, 0);
  }

  void echo(int n) {
    uint8_t a = in_.byte(), bb = in_.byte();
    Flow f = Flow::of(a, bb);
    bool reply = f.detail & 1;
    uint16_t id = (f.detail & 2) ? 2 : 1;
    PacketBuilder b = f.builder();
    b.icmpEcho(!reply, id);
    if (f.detail & 4) b.badL4Checksum();
    remember(f, b);
    packet(b.build(), kGaps[n],
           std::string("icmp echo ") + (reply ? "reply " : "request ") + f.text() + " id " +
               std::to_string(id) + ((f.detail & 4) ? " bad-l4-csum" : ""));
  }

  void icmpError(int n) {
    uint8_t e = in_.byte(), ff = in_.byte();
    Sent q;
    if (recent_count_ == 0) {
      q.ip = PacketBuilder().ipv4(kV4Hosts[0], kV4Hosts[1]).udp(1000, 53).payload(8).buildIp();
      q.src = ipAddr(kV4Hosts[0]);
      q.dst = ipAddr(kV4Hosts[1]);
    } else {
      size_t back = (e & 7) % recent_count_;
      q = recent_[(recent_next_ - 1 - back) % 8];
    }
    std::vector<uint8_t> quoted = q.ip;
    if (e & 8) {
      size_t hdr = q.version == 4 ? size_t(quoted[0] & 0x0f) * 4 : 40;
      if (quoted.size() > hdr + 8) quoted.resize(hdr + 8);
    }
    bool router = e & 0x10;
    IpAddr from = router ? ipAddr(q.version == 4 ? kV4Router : kV6Router) : q.dst;
    int zi = (e >> 5) & 3;
    uint16_t zone = zi == 0 ? q.zone : kZones[zi];
    IcmpType t = q.version == 4 ? kIcmp4Errors[ff & 7] : kIcmp6Errors[ff & 7];
    PacketBuilder b;
    if (zone != 0) b.vlan(zone);
    b.ip(q.version, from, q.src).icmpError(t.type, t.code, quoted);
    packet(b.build(), kGaps[n],
           "icmp error " + std::to_string(t.type) + "/" + std::to_string(t.code) + " quoting " +
               std::to_string((e & 7) % std::max<size_t>(recent_count_, 1)) + " back" +
               ((e & 8) ? " (cut)" : "") + (router ? " from a router" : "") + " zone " +
               std::to_string(zone));
  }

  void other(int n) {
    uint8_t a = in_.byte(), bb = in_.byte();
    Flow f = Flow::of(a, bb);
    PacketBuilder b = f.builder();
    bool gre = f.detail & 1;
    if (gre) {
      b.ipProto(47).payload(8);
    } else {
      b.sctp(f.srcPort(), f.dstPort(), 0x1000u + seed_);
    }
    remember(f, b);
    packet(b.build(), kGaps[n], std::string(gre ? "gre " : "sctp ") + f.text());
  }

  void fragments(int n) {
    uint8_t a = in_.byte(), bb = in_.byte();
    Flow f = Flow::of(a, bb);
    PacketBuilder whole = f.builder();
    whole.udp(f.srcPort(), f.dstPort()).payload(40);
    std::vector<uint8_t> ip = whole.buildIp();
    size_t hdr = f.v6 ? 40 : 20;
    std::vector<uint8_t> l4(ip.begin() + std::ptrdiff_t(hdr), ip.end());
    std::vector<uint8_t> head(l4.begin(), l4.begin() + 16), tail(l4.begin() + 16, l4.end());
    uint32_t id = 0x100u + ++frag_ids_;
    PacketBuilder first = f.builder(), second = f.builder();
    first.rawL4(17, head).fragment(0, true, id);
    second.rawL4(17, tail).fragment(16, false, id);
    bool swap = f.detail & 1;
    packet((swap ? second : first).build(), kGaps[n],
           "udp fragment " + std::string(swap ? "2/2 " : "1/2 ") + f.text());
    packet((swap ? first : second).build(), 0,
           "udp fragment " + std::string(swap ? "1/2 " : "2/2 ") + f.text());
    remember(f, whole);
  }

  void fault(int n, uint8_t ff) {
    Step s;
    s.kind = Step::Kind::kFault;
    s.arg = kNames[n];
    s.faults.add_error = kAddErrors[ff & 3];
    s.faults.add_error_left = s.faults.add_error != 0 ? kAddCounts[(ff >> 2) & 3] : 0;
    s.faults.upd_zero_left = kUpdCounts[(ff >> 4) & 3];
    s.faults.refuse = ff & 0x40;
    std::ostringstream o;
    o << "fault " << s.arg << " add_error=" << s.faults.add_error
      << " add_count=" << s.faults.add_error_left << " upd_zero=" << s.faults.upd_zero_left
      << " refuse=" << (s.faults.refuse ? 1 : 0);
    note(o.str());
    sc_.steps.push_back(std::move(s));
  }

  // Sequence numbers of a TCP flow: the next one each side sends (0 client, 1 server).
  struct Seq {
    uint32_t next[2] = {0, 0};
    bool known[2] = {false, false};
  };

  Input in_;
  std::vector<std::string>* notes_;
  Scenario sc_;
  uint8_t seed_ = 0;
  uint32_t isns_ = 0;
  uint32_t frag_ids_ = 0;
  std::map<uint32_t, Seq> seqs_;
  Sent recent_[8];
  size_t recent_next_ = 0, recent_count_ = 0;
  std::vector<uint8_t> last_frame_;
  std::string last_note_;
};

}  // namespace

Scenario decodeSequence(const uint8_t* data, size_t size, std::vector<std::string>* notes) {
  return Decoder(data, size, notes).run();
}

std::string describeSequence(const uint8_t* data, size_t size) {
  std::vector<std::string> notes;
  decodeSequence(data, size, &notes);
  std::string out;
  for (const std::string& n : notes) out += n + "\n";
  return out;
}

std::string runSequence(const uint8_t* data, size_t size, const ProviderFactory& factory) {
  auto r = runScenario(decodeSequence(data, size), factory);
  if (!r.ok()) return "the run could not start: " + r.status().toString() + "\n";
  std::string out;
  for (const Violation& v : r.value().violations) out += formatViolation(v) + "\n";
  return out;
}

Result<std::vector<uint8_t>> readSequenceFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(ENOENT, path + ": cannot open");
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// ---- SequenceWriter --------------------------------------------------------------------------

SequenceWriter::SequenceWriter(uint8_t providers, uint8_t config, uint8_t seed)
    : bytes_{providers, config, seed} {}

SequenceWriter& SequenceWriter::op(int code, int nibble, std::initializer_list<uint8_t> args) {
  bytes_.push_back(uint8_t((nibble & 15) << 4 | (code & 15)));
  bytes_.insert(bytes_.end(), args);
  return *this;
}

SequenceWriter& SequenceWriter::udp(uint8_t a, uint8_t b, int gap) { return op(0, gap, {a, b}); }
SequenceWriter& SequenceWriter::tcp(uint8_t a, uint8_t b, uint8_t c, int gap) {
  return op(1, gap, {a, b, c});
}
SequenceWriter& SequenceWriter::icmpEcho(uint8_t a, uint8_t b, int gap) {
  return op(3, gap, {a, b});
}
SequenceWriter& SequenceWriter::icmpError(uint8_t e, uint8_t f, int gap) {
  return op(4, gap, {e, f});
}
SequenceWriter& SequenceWriter::other(uint8_t a, uint8_t b, int gap) { return op(5, gap, {a, b}); }
SequenceWriter& SequenceWriter::fragments(uint8_t a, uint8_t b, int gap) {
  return op(6, gap, {a, b});
}
SequenceWriter& SequenceWriter::advance(int i) { return op(7, i, {}); }
SequenceWriter& SequenceWriter::sweep() { return op(8, 0, {}); }
SequenceWriter& SequenceWriter::flush() { return op(9, 0, {}); }
SequenceWriter& SequenceWriter::flushZone(int i) { return op(10, i, {}); }
SequenceWriter& SequenceWriter::registerSpec(int i) { return op(11, i, {}); }
SequenceWriter& SequenceWriter::unregister(int i) { return op(12, i, {}); }
SequenceWriter& SequenceWriter::fault(int i, uint8_t f) { return op(13, i, {f}); }
SequenceWriter& SequenceWriter::handshake(uint8_t a, uint8_t b, int gap) {
  return op(14, gap, {a, b});
}
SequenceWriter& SequenceWriter::duplicate(int gap) { return op(15, gap, {}); }

std::vector<std::pair<std::string, std::vector<uint8_t>>> seedSequences() {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> out;
  // Registrations, faults and expiry: dummy + emu-hw from the start, a handshake, UDP both ways
  // in two zones, an add fault, a late registration, idle time past the UDP timeout, sweeps, an
  // unregistration of an idle provider and a flush.
  out.emplace_back("registrations-faults-expiry", SequenceWriter(0x09, 0x01, 42)
                                                      .handshake(0x04, 0x0c)
                                                      .udp(0x04, 0x08)
                                                      .udp(0x84, 0x08, 4)
                                                      .fault(0, 0x05)
                                                      .udp(0x24, 0x09)
                                                      .registerSpec(1)
                                                      .udp(0x04, 0x09, 8)
                                                      .icmpError(0x00, 0x00, 4)
                                                      .advance(11)
                                                      .sweep()
                                                      .advance(3)
                                                      .tcp(0x04, 0x0c, 0x04)
                                                      .unregister(1)
                                                      .fault(3, 0x31)
                                                      .udp(0x44, 0x08)
                                                      .advance(15)
                                                      .flush()
                                                      .bytes());
  // TCP life: handshake, data both ways, FIN/ACK close, then RST on a second flow, in IPv6.
  out.emplace_back("tcp-lifecycle-v6", SequenceWriter(0x01, 0x00, 7)
                                           .handshake(0x14, 0x1c)
                                           .tcp(0x14, 0x1c | 0x20, 0x03, 4)
                                           .tcp(0x94, 0x1c | 0x20, 0x03, 4)
                                           .tcp(0x14, 0x1c, 0x04, 5)
                                           .tcp(0x94, 0x1c, 0x04, 5)
                                           .tcp(0x14, 0x1c, 0x02, 5)
                                           .handshake(0x14, 0x1d)
                                           .tcp(0x94, 0x1d, 0x06)
                                           .icmpEcho(0x18, 0x00)
                                           .icmpEcho(0x98, 0x10)
                                           .icmpError(0x08, 0x00)
                                           .advance(14)
                                           .sweep()
                                           .bytes());
  // Limits and collisions: small global and zone limits, many UDP flows, fragments, SCTP, GRE,
  // invalid TCP flags, duplicates and zone flushes.
  out.emplace_back("limits-and-oddities", SequenceWriter(0xff, 0x2b, 1)
                                              .udp(0x20, 0x01)
                                              .udp(0x24, 0x02)
                                              .udp(0x28, 0x03)
                                              .udp(0x20, 0x05)
                                              .fragments(0x04, 0x02)
                                              .fragments(0x05, 0x12)
                                              .other(0x04, 0x07)
                                              .other(0x04, 0x1c)
                                              .tcp(0x04, 0x07, 0x08)
                                              .tcp(0x04, 0x07, 0x09)
                                              .tcp(0x04, 0x07, 0x0a)
                                              .duplicate(1)
                                              .flushZone(1)
                                              .advance(9)
                                              .bytes());
  return out;
}

}  // namespace ctsim::props::fuzz

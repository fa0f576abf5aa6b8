// The hostile-file catalogue of issue 10 (documented case by case in traces/hostile.md): each
// test writes one bad capture itself, replays it through the real `ctsim replay` binary and
// checks the documented outcome: exit code 2 with one line naming the file and the reason, or a
// complete replay (exit 0) whose report counts the oddity (record_oddities, parser outcomes,
// trace_error with the record number).  Time going backwards or jumping must not break expiry.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "sim/packet_builder.h"

namespace ctsim {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;
using nlohmann::json;

constexpr int64_t kT0 = 1700000000;  // 2023-11-14, seconds.

void le32(Bytes& b, uint32_t x) {
  for (int i = 0; i < 4; ++i) b.push_back(uint8_t(x >> (8 * i)));
}
void le16(Bytes& b, uint16_t x) {
  b.push_back(uint8_t(x));
  b.push_back(uint8_t(x >> 8));
}

// A UDP flow's packet on Ethernet; flows differ by source port.
Bytes udpFrame(uint16_t sport) {
  return PacketBuilder().ipv4("10.1.1.1", "10.2.2.2").udp(sport, 53).payload(12).build();
}

// One classic-pcap record; caplen/wirelen default to the data's size (-1).
struct Rec {
  int64_t sec;
  Bytes data;
  int64_t caplen = -1;
  int64_t wirelen = -1;
};

// A little-endian microsecond pcap file.
Bytes pcap(const std::vector<Rec>& recs, uint32_t snaplen = 65535, uint32_t linktype = 1) {
  Bytes b;
  le32(b, 0xa1b2c3d4);
  le16(b, 2);
  le16(b, 4);
  le32(b, 0);
  le32(b, 0);
  le32(b, snaplen);
  le32(b, linktype);
  for (const Rec& r : recs) {
    le32(b, uint32_t(r.sec));
    le32(b, 0);
    le32(b, uint32_t(r.caplen < 0 ? int64_t(r.data.size()) : r.caplen));
    le32(b, uint32_t(r.wirelen < 0 ? int64_t(r.data.size()) : r.wirelen));
    b.insert(b.end(), r.data.begin(), r.data.end());
  }
  return b;
}

// A pcapng block: type, total length, body padded to 4 bytes, total length again.
Bytes block(uint32_t type, Bytes body) {
  body.resize((body.size() + 3) / 4 * 4, 0);
  Bytes b;
  le32(b, type);
  le32(b, uint32_t(body.size() + 12));
  b.insert(b.end(), body.begin(), body.end());
  le32(b, uint32_t(body.size() + 12));
  return b;
}
Bytes sectionHeader() {
  Bytes body;
  le32(body, 0x1A2B3C4D);
  le16(body, 1);
  le16(body, 0);
  le32(body, 0xffffffff);  // Section length -1 (unknown), 64 bits.
  le32(body, 0xffffffff);
  return block(0x0A0D0D0A, body);
}
Bytes interfaceDescription() {
  Bytes body;
  le16(body, 1);  // EN10MB.
  le16(body, 0);
  le32(body, 65535);
  return block(1, body);
}
Bytes enhancedPacket(int64_t sec, const Bytes& data) {
  uint64_t us = uint64_t(sec) * 1000000;
  Bytes body;
  le32(body, 0);  // Interface 0.
  le32(body, uint32_t(us >> 32));
  le32(body, uint32_t(us));
  le32(body, uint32_t(data.size()));
  le32(body, uint32_t(data.size()));
  body.insert(body.end(), data.begin(), data.end());
  return block(6, body);
}
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes b;
  for (const Bytes& p : parts) b.insert(b.end(), p.begin(), p.end());
  return b;
}

struct Outcome {
  int exit_code = -1;
  std::string err;  // stderr.
  json report;      // The JSON report (null when none was written).
};

class HostileFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ctsim-hostile-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes 'bytes' as 'name' and replays it: `ctsim replay FILE -q --report R.json`.
  Outcome replay(const std::string& name, const Bytes& bytes) {
    std::string file = (dir_ / name).string();
    std::ofstream(file, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    std::string report = (dir_ / "report.json").string(), err = (dir_ / "stderr.txt").string();
    fs::remove(report);
    std::string cmd = std::string("'") + CTSIM_BIN + "' replay '" + file +
                      "' -q --no-summary --report '" + report + "' 2> '" + err + "'";
    int status = std::system(cmd.c_str());
    Outcome o;
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::stringstream e;
    e << std::ifstream(err).rdbuf();
    o.err = e.str();
    if (fs::exists(report)) o.report = json::parse(std::ifstream(report));
    return o;
  }

  // Expects exit code 2 and exactly one line on stderr naming the file and containing 'reason'.
  void expectRefused(const std::string& name, const Bytes& bytes, const std::string& reason) {
    Outcome o = replay(name, bytes);
    EXPECT_EQ(o.exit_code, 2) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_NE(o.err.find(name + ": "), std::string::npos) << o.err;
    EXPECT_NE(o.err.find(reason), std::string::npos) << o.err;
    EXPECT_TRUE(o.report.is_null());
  }

  // Expects a complete replay (exit 0, report complete) and returns the report.
  json expectReplayed(const std::string& name, const Bytes& bytes) {
    Outcome o = replay(name, bytes);
    EXPECT_EQ(o.exit_code, 0) << o.err;
    if (o.report.is_null()) {
      ADD_FAILURE() << "no report for " << name;
      return json::object();
    }
    EXPECT_TRUE(o.report["complete"].get<bool>());
    EXPECT_TRUE(o.report["accounting"]["balanced"].get<bool>()) << o.report["accounting"];
    return o.report;
  }

  // The end-of-trace error of a replay that stopped at 'record' with 'reason' in the message.
  void expectStoppedAt(const json& r, uint64_t record, const std::string& reason) {
    ASSERT_TRUE(r.contains("trace_error")) << r.dump();
    EXPECT_EQ(r["trace_error"]["record"].get<uint64_t>(), record);
    std::string why = r["trace_error"]["reason"].get<std::string>();
    EXPECT_NE(why.find("record " + std::to_string(record) + ": "), std::string::npos) << why;
    EXPECT_NE(why.find(reason), std::string::npos) << why;
  }

  fs::path dir_;
};

uint64_t oddity(const json& r, const char* name) {
  return r["record_oddities"].value(name, uint64_t{0});
}

// Not a capture at all: refused, one line.
TEST_F(HostileFiles, NotACapture) {
  std::string text = "hello, this is not a capture\n";
  expectRefused("text.pcap", Bytes(text.begin(), text.end()), "not a pcap or pcapng capture");
}

// An empty file: refused, one line.
TEST_F(HostileFiles, EmptyFile) { expectRefused("empty.pcap", {}, "empty file"); }

// A file header cut after 12 of its 24 bytes: refused, one line.
TEST_F(HostileFiles, TruncatedFileHeader) {
  Bytes b = pcap({});
  b.resize(12);
  expectRefused("short.pcap", b, "truncated file header");
}

// A record cut in its data: the records before it are replayed, the stop is reported with the
// record's number and libpcap's reason (exit 0: the replay of what exists is complete).
TEST_F(HostileFiles, TruncatedRecord) {
  Bytes b = pcap({{kT0, udpFrame(1000)}, {kT0 + 1, udpFrame(1001)}});
  b.resize(b.size() - 5);
  json r = expectReplayed("cut.pcap", b);
  EXPECT_EQ(r["records"].get<uint64_t>(), 1u);
  expectStoppedAt(r, 2, "truncated");
}

// A record header cut after 7 of its 16 bytes: same, record 2.
TEST_F(HostileFiles, TruncatedRecordHeader) {
  Bytes b = pcap({{kT0, udpFrame(1000)}, {kT0 + 1, udpFrame(1001)}});
  b.resize(24 + 16 + udpFrame(1000).size() + 7);
  expectStoppedAt(expectReplayed("cut-header.pcap", b), 2, "header bytes");
}

// A huge captured length (2^31 - 1) stops the trace at that record with libpcap's reason; no
// allocation of that size happens (the sanitizer build would report it).
TEST_F(HostileFiles, HugeCapturedLength) {
  Bytes b = pcap({{kT0, udpFrame(1000)}, {kT0 + 1, udpFrame(1001), 0x7fffffff, 0x7fffffff}});
  expectStoppedAt(expectReplayed("huge.pcap", b), 2, "invalid packet capture length 2147483647");
}

// A captured length above the snap length (but within libpcap's limit) is accepted as libpcap
// does (its first snap-length bytes: headers complete, payload cut) and counted.
TEST_F(HostileFiles, CapturedLengthAboveSnapLength) {
  Bytes big = udpFrame(1001);
  big.resize(big.size() + 100, 0);  // Trailing bytes after the UDP datagram.
  json r = expectReplayed("snap.pcap", pcap({{kT0, udpFrame(1000)}, {kT0 + 1, big}}, 64));
  EXPECT_EQ(r["records"].get<uint64_t>(), 2u);
  EXPECT_EQ(r["engine"]["created"].get<uint64_t>(), 2u);
  EXPECT_EQ(oddity(r, "caplen_above_snaplen"), 1u);  // the 100-byte record, not the 54-byte one.
}

// Zero-length records are replayed and counted: zero_length 2, parser outcome truncated 2.
TEST_F(HostileFiles, ZeroLengthRecords) {
  json r = expectReplayed(
      "zero.pcap",
      pcap(
          {{kT0, udpFrame(1000)}, {kT0 + 1, {}}, {kT0 + 2, {}, 0, 60}, {kT0 + 3, udpFrame(1001)}}));
  EXPECT_EQ(oddity(r, "zero_length"), 2u);
  EXPECT_EQ(r["outcomes"].value("truncated", uint64_t{0}), 2u);
  EXPECT_EQ(r["engine"]["created"].get<uint64_t>(), 2u);
}

// More bytes captured than were on the wire: replayed, counted.
TEST_F(HostileFiles, CapturedLengthAboveWireLength) {
  json r = expectReplayed("wire.pcap", pcap({{kT0, udpFrame(1000), -1, 20}}));
  EXPECT_EQ(oddity(r, "caplen_above_wirelen"), 1u);
}

// Time going backwards is counted, and expiry still works: flow C stamped 50 s before flow B
// expires like the others (UDP, 30 s), so at T0+200 only D and the new A' are left.
TEST_F(HostileFiles, TimeBackwardsKeepsExpiry) {
  json r = expectReplayed("back.pcap", pcap({{kT0, udpFrame(1000)},
                                             {kT0 + 100, udpFrame(1001)},
                                             {kT0 + 50, udpFrame(1002)},
                                             {kT0 + 200, udpFrame(1003)},
                                             {kT0 + 201, udpFrame(1000)}}));
  EXPECT_EQ(oddity(r, "time_backwards"), 1u);
  EXPECT_EQ(r["engine"]["created"].get<uint64_t>(), 5u);  // A' is a new connection.
  EXPECT_EQ(r["engine"]["removed"].get<uint64_t>(), 3u);  // A, B and C expired.
  EXPECT_EQ(r["connections"]["udp"]["OTHER_FIRST"].get<uint64_t>(), 2u);
}

// A jump of ten years forward is counted; everything before it expires; a jump back to 1970
// afterwards is counted as going backwards and creates its connection normally.
TEST_F(HostileFiles, TimeJumpsYears) {
  const int64_t ten_years = int64_t(10) * 365 * 86400;
  json r = expectReplayed("jump.pcap", pcap({{kT0, udpFrame(1000)},
                                             {kT0 + ten_years, udpFrame(1001)},
                                             {kT0 + ten_years + 1, udpFrame(1000)},
                                             {1, udpFrame(1002)}}));
  EXPECT_EQ(oddity(r, "time_jump_over_1d"), 1u);
  EXPECT_EQ(oddity(r, "time_backwards"), 1u);
  EXPECT_EQ(r["engine"]["created"].get<uint64_t>(), 4u);
  EXPECT_EQ(r["engine"]["removed"].get<uint64_t>(), 1u);  // The first A, swept at the jump.
}

// An unknown link type: every record is replayed and counted as unsupported_link; nothing is
// tracked.
TEST_F(HostileFiles, UnknownLinkType) {
  json r = expectReplayed("link.pcap",
                          pcap({{kT0, udpFrame(1000)}, {kT0 + 1, udpFrame(1001)}}, 65535, 147));
  EXPECT_EQ(r["outcomes"].value("unsupported_link", uint64_t{0}), 2u);
  EXPECT_EQ(r["engine"]["created"].get<uint64_t>(), 0u);
}

// A pcapng block of an unknown type between two packets is skipped (as the pcapng format
// requires of readers) and counted; both packets are replayed. A custom block (0x0BAD, a type
// of the format) is skipped without being counted.
TEST_F(HostileFiles, PcapngUnknownBlock) {
  Bytes b = cat({sectionHeader(), interfaceDescription(), enhancedPacket(kT0, udpFrame(1000)),
                 block(0x0BAD, Bytes(8, 0xab)), block(0x7777, Bytes(8, 0xcd)),
                 enhancedPacket(kT0 + 1, udpFrame(1001))});
  json r = expectReplayed("unknown-block.pcapng", b);
  EXPECT_EQ(r["records"].get<uint64_t>(), 2u);
  EXPECT_FALSE(r.contains("trace_error"));
  EXPECT_EQ(oddity(r, "pcapng_unknown_block"), 1u);
}

// A pcapng block claiming 1 GiB stops the trace at that record with the size in the reason.
TEST_F(HostileFiles, PcapngOversizedBlock) {
  Bytes huge;
  le32(huge, 6);
  le32(huge, 0x40000000);
  huge.resize(40, 0);
  Bytes b =
      cat({sectionHeader(), interfaceDescription(), enhancedPacket(kT0, udpFrame(1000)), huge});
  expectStoppedAt(expectReplayed("big-block.pcapng", b), 2, "block size 1073741824");
}

// A pcapng block whose trailing length differs from its header's stops the trace there.
TEST_F(HostileFiles, PcapngBlockLengthMismatch) {
  Bytes epb = enhancedPacket(kT0, udpFrame(1000));
  epb[epb.size() - 4] ^= 0x40;
  Bytes b = cat({sectionHeader(), interfaceDescription(), epb});
  expectStoppedAt(expectReplayed("mismatch.pcapng", b), 1, "don't match");
}

// A pcapng packet before any interface description: refused, one line.
TEST_F(HostileFiles, PcapngPacketBeforeInterface) {
  expectRefused("no-idb.pcapng", cat({sectionHeader(), enhancedPacket(kT0, udpFrame(1000))}),
                "before any Interface Description");
}

}  // namespace
}  // namespace ctsim

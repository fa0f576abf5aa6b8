#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "sim/packet_builder.h"
#include "sim/pcap_writer.h"
#include "sim/record_oddities.h"
#include "sim/trace_reader.h"

namespace ctsim {
namespace {

namespace fs = std::filesystem;

class TraceIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ctsim-trace-io-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void writeBytes(const std::string& name, const std::vector<uint8_t>& bytes) const {
    FILE* f = std::fopen(path(name).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  fs::path dir_;
};

void put32(std::vector<uint8_t>& v, uint32_t x, bool big) {
  for (int i = 0; i < 4; ++i) v.push_back(uint8_t(big ? x >> (24 - 8 * i) : x >> (8 * i)));
}
void put16(std::vector<uint8_t>& v, uint16_t x, bool big) {
  v.push_back(uint8_t(big ? x >> 8 : x));
  v.push_back(uint8_t(big ? x : x >> 8));
}

// A classic pcap file built by hand: `nsec` picks the magic, `big` the byte order.
std::vector<uint8_t> classicPcap(bool nsec, bool big, const std::vector<std::vector<uint8_t>>& pkts,
                                 uint32_t subsec, uint32_t linktype = 1) {
  std::vector<uint8_t> f;
  put32(f, nsec ? 0xa1b23c4d : 0xa1b2c3d4, big);
  put16(f, 2, big);
  put16(f, 4, big);
  put32(f, 0, big);
  put32(f, 0, big);
  put32(f, 65535, big);
  put32(f, linktype, big);
  for (const auto& p : pkts) {
    put32(f, 1700000000, big);
    put32(f, subsec, big);
    put32(f, uint32_t(p.size()), big);
    put32(f, uint32_t(p.size()), big);
    f.insert(f.end(), p.begin(), p.end());
  }
  return f;
}

std::vector<uint8_t> samplePacket() {
  return PacketBuilder().ipv4("10.1.1.1", "10.2.2.2").udp(1000, 53).payload(12).build();
}

// PcapWriter output reads back with the same records and nanosecond timestamps.
TEST_F(TraceIoTest, WriterRoundTripKeepsNanoseconds) {
  auto w = PcapWriter::create(path("out.pcap"), 1);
  ASSERT_TRUE(w.ok()) << w.status().toString();
  auto pkt = samplePacket();
  w.value()->write(1700000000123456789, pkt.data(), uint32_t(pkt.size()));
  w.value()->write(1700000001000000001, pkt.data(), 20, uint32_t(pkt.size()));
  ASSERT_TRUE(w.value()->close().ok());

  auto r = TraceReader::open(path("out.pcap"));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r.value()->format(), CaptureFormat::kPcapNsec);
  EXPECT_EQ(r.value()->linktype(), 1u);
  TraceRecord rec;
  ASSERT_TRUE(r.value()->next(rec));
  EXPECT_EQ(rec.index, 1u);
  EXPECT_EQ(rec.ts_ns, 1700000000123456789);
  EXPECT_EQ(rec.caplen, pkt.size());
  EXPECT_EQ(std::vector<uint8_t>(rec.data, rec.data + rec.caplen), pkt);
  ASSERT_TRUE(r.value()->next(rec));
  EXPECT_EQ(rec.ts_ns, 1700000001000000001);
  EXPECT_EQ(rec.caplen, 20u);
  EXPECT_EQ(rec.wirelen, pkt.size());
  EXPECT_FALSE(r.value()->next(rec));
  EXPECT_FALSE(r.value()->end().error);
}

// Micro- and nanosecond pcap in both byte orders are read with the right timestamps.
TEST_F(TraceIoTest, ClassicPcapBothPrecisionsAndByteOrders) {
  for (bool nsec : {false, true}) {
    for (bool big : {false, true}) {
      std::string name = std::string(nsec ? "ns" : "us") + (big ? "-be" : "-le") + ".pcap";
      writeBytes(name, classicPcap(nsec, big, {samplePacket(), samplePacket()}, 123456));
      auto r = TraceReader::open(path(name));
      ASSERT_TRUE(r.ok()) << name << ": " << r.status().toString();
      EXPECT_EQ(r.value()->format(), nsec ? CaptureFormat::kPcapNsec : CaptureFormat::kPcap);
      EXPECT_EQ(r.value()->bigEndian(), big) << name;
      TraceRecord rec;
      int n = 0;
      while (r.value()->next(rec)) {
        ++n;
        EXPECT_EQ(rec.ts_ns, 1700000000000000000 + (nsec ? 123456 : 123456000)) << name;
        EXPECT_EQ(rec.caplen, samplePacket().size());
      }
      EXPECT_EQ(n, 2) << name;
      EXPECT_FALSE(r.value()->end().error) << name;
    }
  }
}

// A minimal pcapng (section header, interface description, two enhanced packet blocks).
TEST_F(TraceIoTest, PcapngIsRead) {
  std::vector<uint8_t> f;
  put32(f, 0x0a0d0d0a, false);  // SHB
  put32(f, 28, false);
  put32(f, 0x1a2b3c4d, false);
  put16(f, 1, false);
  put16(f, 0, false);
  put32(f, 0xffffffff, false);
  put32(f, 0xffffffff, false);
  put32(f, 28, false);
  put32(f, 1, false);  // IDB
  put32(f, 20, false);
  put16(f, 1, false);
  put16(f, 0, false);
  put32(f, 65535, false);
  put32(f, 20, false);
  auto pkt = samplePacket();
  uint32_t padded = uint32_t((pkt.size() + 3) & ~size_t(3));
  for (uint32_t i = 0; i < 2; ++i) {
    uint32_t len = 32 + padded;
    put32(f, 6, false);  // EPB
    put32(f, len, false);
    put32(f, 0, false);
    uint64_t ts_us = 1700000000000000ull + i;
    put32(f, uint32_t(ts_us >> 32), false);
    put32(f, uint32_t(ts_us), false);
    put32(f, uint32_t(pkt.size()), false);
    put32(f, uint32_t(pkt.size()), false);
    f.insert(f.end(), pkt.begin(), pkt.end());
    f.resize(f.size() + (padded - pkt.size()), 0);
    put32(f, len, false);
    // After the first packet: a block of an unknown type, then a custom block (known).
    for (uint32_t type : {0x1234u, 0xbadu}) {
      if (i != 0) break;
      put32(f, type, false);
      put32(f, 20, false);
      put32(f, 0xabababab, false);
      put32(f, 0xabababab, false);
      put32(f, 20, false);
    }
  }
  writeBytes("a.pcapng", f);
  auto r = TraceReader::open(path("a.pcapng"));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r.value()->format(), CaptureFormat::kPcapng);
  TraceRecord rec;
  ASSERT_TRUE(r.value()->next(rec));
  EXPECT_EQ(rec.ts_ns, 1700000000000000000);
  EXPECT_EQ(rec.unknown_blocks, 1u);  // the file's count, with the first record.
  ASSERT_TRUE(r.value()->next(rec));
  EXPECT_EQ(rec.ts_ns, 1700000000000001000);
  EXPECT_EQ(rec.unknown_blocks, 0u);
  EXPECT_FALSE(r.value()->next(rec));
  EXPECT_FALSE(r.value()->end().error);
}

// A pcapng whose interfaces differ in link type (which libpcap refuses) is read record by record
// with each record's own link type and timestamp resolution.
TEST_F(TraceIoTest, PcapngMixedInterfaces) {
  std::vector<uint8_t> f;
  auto block = [&](uint32_t type, const std::vector<uint8_t>& body) {
    put32(f, type, false);
    put32(f, uint32_t(12 + body.size()), false);
    f.insert(f.end(), body.begin(), body.end());
    put32(f, uint32_t(12 + body.size()), false);
  };
  std::vector<uint8_t> shb;
  put32(shb, 0x1a2b3c4d, false);
  put16(shb, 1, false);
  put16(shb, 0, false);
  put32(shb, 0xffffffff, false);
  put32(shb, 0xffffffff, false);
  block(0x0a0d0d0a, shb);
  std::vector<uint8_t> idb0;  // Ethernet, microseconds.
  put16(idb0, 1, false);
  put16(idb0, 0, false);
  put32(idb0, 65535, false);
  block(1, idb0);
  std::vector<uint8_t> idb1;  // raw IPv4, nanoseconds (if_tsresol 9), another snaplen.
  put16(idb1, 228, false);
  put16(idb1, 0, false);
  put32(idb1, 1500, false);
  put16(idb1, 9, false);
  put16(idb1, 1, false);
  idb1.insert(idb1.end(), {9, 0, 0, 0});
  put16(idb1, 0, false);
  put16(idb1, 0, false);
  block(1, idb1);
  auto epb = [&](uint32_t ifid, uint64_t ticks, std::vector<uint8_t> pkt) {
    std::vector<uint8_t> b;
    put32(b, ifid, false);
    put32(b, uint32_t(ticks >> 32), false);
    put32(b, uint32_t(ticks), false);
    put32(b, uint32_t(pkt.size()), false);
    put32(b, uint32_t(pkt.size()), false);
    pkt.resize((pkt.size() + 3) & ~size_t(3), 0);
    b.insert(b.end(), pkt.begin(), pkt.end());
    block(6, b);
  };
  epb(0, 1700000000000001ull, samplePacket());
  block(0x80001234, std::vector<uint8_t>(8, 0));  // unknown, after the interfaces were seen.
  epb(1, 1700000000000000007ull,
      PacketBuilder().link(kLinkIpv4).ipv4("1.1.1.1", "2.2.2.2").udp(1, 2).build());
  writeBytes("mixed.pcapng", f);

  auto r = TraceReader::open(path("mixed.pcapng"));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_TRUE(r.value()->mixedInterfaces());
  TraceRecord rec;
  ASSERT_TRUE(r.value()->next(rec));
  EXPECT_EQ(rec.linktype, 1u);
  EXPECT_EQ(rec.ts_ns, 1700000000000001000);
  EXPECT_FALSE(rec.above_snaplen);
  EXPECT_EQ(rec.unknown_blocks, 1u);
  ASSERT_TRUE(r.value()->next(rec));
  EXPECT_EQ(rec.linktype, 228u);
  EXPECT_EQ(rec.ts_ns, 1700000000000000007);
  EXPECT_FALSE(rec.above_snaplen);  // 28 bytes, snap length 1500.
  EXPECT_EQ(rec.unknown_blocks, 0u);
  EXPECT_FALSE(r.value()->next(rec));
  EXPECT_FALSE(r.value()->end().error) << r.value()->end().reason;
}

// A file cut in the middle of a record ends the trace with a reason; earlier records stay read.
TEST_F(TraceIoTest, CutRecordEndsTraceWithReason) {
  auto bytes = classicPcap(false, false, {samplePacket(), samplePacket()}, 0);
  bytes.resize(bytes.size() - 5);
  writeBytes("cut.pcap", bytes);
  auto r = TraceReader::open(path("cut.pcap"));
  ASSERT_TRUE(r.ok());
  TraceRecord rec;
  EXPECT_TRUE(r.value()->next(rec));
  EXPECT_FALSE(r.value()->next(rec));
  EXPECT_TRUE(r.value()->end().error);
  EXPECT_EQ(r.value()->end().at_record, 2u);
  EXPECT_NE(r.value()->end().reason.find("truncated"), std::string::npos)
      << r.value()->end().reason;
}

// A record header with an impossible captured length ends the trace with a reason.
TEST_F(TraceIoTest, ImpossibleLengthEndsTraceWithReason) {
  auto bytes = classicPcap(false, false, {samplePacket()}, 0);
  auto more = classicPcap(false, false, {samplePacket()}, 0);
  bytes.insert(bytes.end(), more.begin() + 24, more.end());
  size_t second = 24 + 16 + samplePacket().size();
  bytes[second + 8] = 0xff;  // caplen 0x..ff..
  bytes[second + 11] = 0x7f;
  writeBytes("huge.pcap", bytes);
  auto r = TraceReader::open(path("huge.pcap"));
  ASSERT_TRUE(r.ok());
  TraceRecord rec;
  EXPECT_TRUE(r.value()->next(rec));
  EXPECT_FALSE(r.value()->next(rec));
  EXPECT_TRUE(r.value()->end().error);
  EXPECT_EQ(r.value()->end().at_record, 2u);
  EXPECT_FALSE(r.value()->end().reason.empty());
}

// A classic-pcap record captured beyond the file's snap length (within libpcap's limit) comes
// cut to the snap length, flagged; one exactly at the snap length is not; the records after it
// read normally. RecordOddities counts it, and the pcapng unknown blocks.
TEST_F(TraceIoTest, OdditiesTheReaderSees) {
  auto big = samplePacket();
  big.resize(100, 0xee);
  auto exact = samplePacket();
  exact.resize(64, 0);
  auto bytes = classicPcap(false, false, {samplePacket(), big, exact, samplePacket()}, 0);
  bytes[16] = 64;  // snaplen 64: the second record (100 bytes) is above it.
  bytes[17] = 0;
  writeBytes("snap.pcap", bytes);
  auto r = TraceReader::open(path("snap.pcap"));
  ASSERT_TRUE(r.ok());
  RecordOddities odd;
  TraceRecord rec;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(r.value()->next(rec)) << i;
    EXPECT_EQ(rec.above_snaplen, i == 1) << i;
    EXPECT_EQ(rec.caplen, i == 1 || i == 2 ? 64u : samplePacket().size()) << i;
    odd.see(rec);
  }
  EXPECT_FALSE(r.value()->next(rec));
  EXPECT_FALSE(r.value()->end().error);
  EXPECT_EQ(odd.counts().at("caplen_above_snaplen"), 1u);
  EXPECT_EQ(odd.counts().count("pcapng_unknown_block"), 0u);
  rec.unknown_blocks = 3;
  odd.see(rec);
  EXPECT_EQ(odd.counts().at("pcapng_unknown_block"), 3u);
}

// Files that are not captures give one clear error each.
TEST_F(TraceIoTest, BadFilesAreClearErrors) {
  auto missing = TraceReader::open(path("nope.pcap"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ENOENT);
  EXPECT_EQ(missing.status().message(), "no such file");

  writeBytes("text.pcap", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '\n'});
  auto text = TraceReader::open(path("text.pcap"));
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("not a pcap or pcapng"), std::string::npos);

  auto header = classicPcap(false, false, {}, 0);
  header.resize(12);
  writeBytes("short.pcap", header);
  auto shorth = TraceReader::open(path("short.pcap"));
  ASSERT_FALSE(shorth.ok());
  EXPECT_NE(shorth.status().message().find("truncated"), std::string::npos)
      << shorth.status().message();

  writeBytes("empty.pcap", {});
  EXPECT_FALSE(TraceReader::open(path("empty.pcap")).ok());
}

}  // namespace
}  // namespace ctsim

#pragma once
// Byte-coded sequences for the fuzz target fuzz_sequence: any byte string decodes to a
// props::Scenario (packets, time steps, sweeps, flushes, registrations, provider faults) that
// runs through engine + registry + providers with the invariant checker watching, profile
// strict. The same decoder replays kept cases (traces/regressions/*.seq) in the normal tests.
//
// Format (a missing byte reads as 0, so every input decodes; nothing is ever rejected):
//   header, 3 bytes:
//     H0  providers registered before the first step: bit i registers kSpecs[i] (i < 8).
//     H1  bits 0-1 sweep interval {20000, 1000, 5000, 100000} ms; bit 2 TCP sequence checks
//         off; bits 3-4 global connection limit {3000000, 3, 8, 32}; bits 5-6 limit of zone 7
//         {none, 1, 2, 5}.
//     H2  seed of the initial sequence numbers.
//   then ops, each one byte OP (low nibble: the op, high nibble N: its small argument) and the
//   argument bytes the op takes:
//     0 UDP A B          1, 2 TCP A B C        3 ICMP echo A B      4 ICMP error E F
//     5 other IP protocol (SCTP, GRE) A B      6 UDP in two IP fragments A B
//     7 advance time by kDurations[N]   8 sweep   9 flush all   10 flush zone (zone pool, N & 3)
//     11 register kSpecs[N]    12 flush all, then unregister kNames[N] (the registry's rule:
//        only idle providers are unregistered)    13 fault F into kNames[N]
//     14 TCP handshake (SYN, SYN-ACK, ACK, with tracked sequence numbers) A B (A's bit 7 and
//        B's high nibble ignored)
//     15 the previous packet again (a duplicate)
//   For packets, N indexes the gap before the packet (kGaps, ms). Pools: hosts {10.0.0.1,
//   10.0.0.2, 10.0.0.3, 192.168.7.7} or {2001:db8::1, ::2, ::3, fe80::7}, ports {1000, 1001,
//   53, 80}, zones {0, 7, 100, 0}.
//     A  bits 0-1 client host, 2-3 server host, 4 IPv6, 5-6 zone (VLAN id, 0 untagged), 7 sent
//        by the server (reply direction).
//     B  bits 0-1 client port, 2-3 server port; bits 4-7 a detail: UDP/TCP: bits 4-5 payload
//        {0, 1, 10, 100}, bit 6 bad L4 checksum, bit 7 bad IPv4 checksum; ICMP echo: bit 4
//        reply, bit 5 id 2 (else 1), bit 6 bad checksum; other: bit 4 GRE (else SCTP);
//        fragments: bit 4 second fragment first.
//     C  TCP: bits 0-3 flags (kTcpFlags), bits 4-6 sequence mode (0-3 tracked; 4 seq far out
//        of window; 5 wrong ack; 6 both from the byte; 7 one byte back), bit 7 zero window.
//     E  ICMP error: bits 0-2 which of the last 8 packets is quoted, bit 3 quote cut to 8 L4
//        bytes, bit 4 sent by a router (else by the quoted packet's destination), bits 5-6
//        zone override (0: the quoted packet's zone).
//     F  ICMP error: bits 0-2 type/code (kIcmp4Errors / kIcmp6Errors). Fault: bits 0-1
//        add_error {0, ENOSPC, EIO, EOPNOTSUPP}, bits 2-3 how many conn_adds {0, 1, 2, 1000},
//        bits 4-5 conn_updates answering 0 {0, 1, 3, 1000}, bit 6 can_offload refuses.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "properties/harness.h"
#include "sim/status.h"

namespace ctsim::props::fuzz {

// Provider specs a sequence can register (by index) and the names they register under.
extern const char* const kSpecs[16];
extern const char* const kNames[16];

// Decodes `size` bytes into a scenario (profile strict). Never fails. `notes`, when given,
// receives one line per step saying what it is ("tcp 10.0.0.1:1000 > 10.0.0.2:80 S ...").
Scenario decodeSequence(const uint8_t* data, size_t size,
                        std::vector<std::string>* notes = nullptr);
inline Scenario decodeSequence(const std::vector<uint8_t>& bytes) {
  return decodeSequence(bytes.data(), bytes.size());
}

// Runs the decoded scenario; returns its violations formatted one per line ("" when clean).
std::string runSequence(const uint8_t* data, size_t size,
                        const ProviderFactory& factory = defaultProviderFactory());

// A sequence as text: its configuration, then one step per line (to look at a kept case or a
// finding).
std::string describeSequence(const uint8_t* data, size_t size);

// Reads a .seq file (the raw bytes).
Result<std::vector<uint8_t>> readSequenceFile(const std::string& path);

// Writes sequences op by op (the seed writer and tests use it; the decoder is the reference).
class SequenceWriter {
 public:
  SequenceWriter(uint8_t providers, uint8_t config, uint8_t seed);
  // Packet ops: `a`, `b`, `c` as in the format above; `gap` indexes kGaps.
  SequenceWriter& udp(uint8_t a, uint8_t b, int gap = 0);
  SequenceWriter& tcp(uint8_t a, uint8_t b, uint8_t c, int gap = 0);
  SequenceWriter& handshake(uint8_t a, uint8_t b, int gap = 0);
  SequenceWriter& icmpEcho(uint8_t a, uint8_t b, int gap = 0);
  SequenceWriter& icmpError(uint8_t e, uint8_t f, int gap = 0);
  SequenceWriter& other(uint8_t a, uint8_t b, int gap = 0);
  SequenceWriter& fragments(uint8_t a, uint8_t b, int gap = 0);
  SequenceWriter& duplicate(int gap = 0);
  // Other ops: `i` indexes kDurations / the zone pool / kSpecs / kNames.
  SequenceWriter& advance(int i);
  SequenceWriter& sweep();
  SequenceWriter& flush();
  SequenceWriter& flushZone(int i);
  SequenceWriter& registerSpec(int i);
  SequenceWriter& unregister(int i);
  SequenceWriter& fault(int i, uint8_t f);
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  SequenceWriter& op(int code, int nibble, std::initializer_list<uint8_t> args);
  std::vector<uint8_t> bytes_;
};

// Hand-made sequences (the fuzzer's seeds and the first kept regression case), by name.
std::vector<std::pair<std::string, std::vector<uint8_t>>> seedSequences();

}  // namespace ctsim::props::fuzz

// `ctsim trace-info FILE...`: what is in a capture, as ctsim's parser sees it.
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "sim/trace_stats.h"

namespace ctsim::cli {
namespace {

// "2009-03-04T05:06:07.123456789Z" (UTC).
std::string formatTime(int64_t ts_ns) {
  int64_t sec = ts_ns / 1000000000;
  int64_t ns = ts_ns % 1000000000;
  if (ns < 0) {
    ns += 1000000000;
    --sec;
  }
  time_t t = time_t(sec);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09" PRId64 "Z", ns);
  return buf;
}

nlohmann::json toJson(const TraceStats& st) {
  nlohmann::json j;
  j["file"] = st.path;
  j["format"] = captureFormatName(st.format);
  j["byte_order"] = st.big_endian ? "big-endian" : "little-endian";
  j["linktype"] = {{"number", st.linktype},
                   {"name", linkTypeName(st.linktype)},
                   {"supported", isSupportedLinkType(st.linktype)}};
  j["snaplen"] = st.snaplen;
  j["mixed_interfaces"] = st.mixed_interfaces;
  j["records"] = st.records;
  j["captured_bytes"] = st.captured_bytes;
  j["wire_bytes"] = st.wire_bytes;
  if (st.records > 0) {
    j["first_ts"] = formatTime(st.first_ts_ns);
    j["last_ts"] = formatTime(st.last_ts_ns);
    j["first_ts_ns"] = st.first_ts_ns;
    j["last_ts_ns"] = st.last_ts_ns;
    j["span_s"] = st.spanSeconds();
  }
  j["timestamps_backwards"] = st.ts_backwards;
  nlohmann::json outcomes = nlohmann::json::object();
  for (int i = 0; i < kOutcomeCount; ++i) {
    outcomes[std::string(outcomeName(Outcome(i)))] = st.outcomes[i];
  }
  j["outcomes"] = outcomes;
  nlohmann::json trunc = nlohmann::json::object();
  for (int i = 0; i < kLayerCount; ++i) {
    if (st.truncated_at[i] != 0) trunc[std::string(layerName(Layer(i)))] = st.truncated_at[i];
  }
  j["truncated_at"] = trunc;
  nlohmann::json why = nlohmann::json::object();
  for (int i = 0; i < kMalformationCount; ++i) {
    if (st.malformed_why[i] != 0) {
      why[std::string(malformationName(Malformation(i)))] = st.malformed_why[i];
    }
  }
  j["malformed"] = why;
  j["l3"] = {{"ipv4", st.ipv4},
             {"ipv6", st.ipv6},
             {"non_ip", st.records - st.ipv4 - st.ipv6},
             {"fragments", st.fragments}};
  j["bad_checksums"] = {{"ip", st.ip_csum_bad}, {"l4", st.l4_csum_bad}};
  nlohmann::json l4 = nlohmann::json::object();
  nlohmann::json flows = nlohmann::json::object();
  for (int i = 0; i < kL4FamilyCount; ++i) {
    l4[std::string(l4FamilyName(L4Family(i)))] = st.l4_packets[i];
    flows[std::string(l4FamilyName(L4Family(i)))] = st.flows[i];
  }
  l4["icmpv6"] = st.icmpv6_packets;
  l4["sctp"] = st.sctp_packets;
  j["l4"] = l4;
  j["flows"] = flows;
  if (st.end.error) {
    j["end"] = {{"status", "error"}, {"at_record", st.end.at_record}, {"reason", st.end.reason}};
  } else {
    j["end"] = {{"status", "eof"}};
  }
  return j;
}

void printText(const TraceStats& st) {
  std::printf("%s\n", st.path.c_str());
  std::printf("  format      %s (%s), snaplen %u\n", captureFormatName(st.format),
              st.big_endian ? "big-endian" : "little-endian", st.snaplen);
  std::printf("  link type   %s (%u)%s%s\n", linkTypeName(st.linktype).c_str(), st.linktype,
              isSupportedLinkType(st.linktype) ? "" : " - unsupported",
              st.mixed_interfaces ? " (first interface; interfaces differ, each record is read "
                                    "with its own)"
                                  : "");
  std::printf("  records     %" PRIu64 " (%" PRIu64 " bytes captured, %" PRIu64 " on the wire)\n",
              st.records, st.captured_bytes, st.wire_bytes);
  if (st.records > 0) {
    std::printf("  time        %s .. %s, span %.6f s", formatTime(st.first_ts_ns).c_str(),
                formatTime(st.last_ts_ns).c_str(), st.spanSeconds());
    if (st.ts_backwards != 0) std::printf(" (goes backwards %" PRIu64 " times)", st.ts_backwards);
    std::printf("\n");
  }
  std::printf("  outcomes   ");
  for (int i = 0; i < kOutcomeCount; ++i) {
    std::printf(" %s %" PRIu64 "%s", std::string(outcomeName(Outcome(i))).c_str(), st.outcomes[i],
                i + 1 < kOutcomeCount ? "," : "\n");
  }
  for (int i = 0; i < kLayerCount; ++i) {
    if (st.truncated_at[i] != 0) {
      std::printf("    truncated in %s: %" PRIu64 "\n", std::string(layerName(Layer(i))).c_str(),
                  st.truncated_at[i]);
    }
  }
  for (int i = 0; i < kMalformationCount; ++i) {
    if (st.malformed_why[i] != 0) {
      std::printf("    malformed, %s: %" PRIu64 "\n",
                  std::string(malformationName(Malformation(i))).c_str(), st.malformed_why[i]);
    }
  }
  std::printf("  network     ipv4 %" PRIu64 ", ipv6 %" PRIu64 ", non-ip %" PRIu64
              ", fragments %" PRIu64 "; bad checksums: ip %" PRIu64 ", l4 %" PRIu64 "\n",
              st.ipv4, st.ipv6, st.records - st.ipv4 - st.ipv6, st.fragments, st.ip_csum_bad,
              st.l4_csum_bad);
  std::printf("  transport   tcp %" PRIu64 ", udp %" PRIu64 ", icmp %" PRIu64 " (icmpv6 %" PRIu64
              "), other %" PRIu64 " (sctp %" PRIu64 ")\n",
              st.l4_packets[0], st.l4_packets[1], st.l4_packets[2], st.icmpv6_packets,
              st.l4_packets[3], st.sctp_packets);
  std::printf("  flows       tcp %" PRIu64 ", udp %" PRIu64 ", icmp %" PRIu64 ", other %" PRIu64
              "\n",
              st.flows[0], st.flows[1], st.flows[2], st.flows[3]);
  if (st.end.error) {
    std::printf("  end         stopped at record %" PRIu64 ": %s\n", st.end.at_record,
                st.end.reason.c_str());
  } else {
    std::printf("  end         end of file\n");
  }
}

struct TraceInfoArgs {
  std::vector<std::string> files;
  bool json = false;
  bool no_checksums = false;
};

}  // namespace

void addTraceInfoCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<TraceInfoArgs>();
  CLI::App* cmd = app.add_subcommand("trace-info", "Describe capture files as ctsim parses them");
  cmd->add_option("files", args->files, "pcap or pcapng files")->required();
  cmd->add_flag("--json", args->json, "one JSON object per file, one per line");
  cmd->add_flag("--no-checksums", args->no_checksums, "do not verify checksums");
  cmd->callback([args, &exit_code]() {
    ParseOptions opts;
    opts.verify_checksums = !args->no_checksums;
    bool first = true;
    for (const std::string& f : args->files) {
      auto st = collectTraceStats(f, opts);
      if (!st.ok()) {
        std::fflush(stdout);
        std::fprintf(stderr, "ctsim: %s: %s\n", f.c_str(), st.status().message().c_str());
        exit_code = kExitBadInput;
        continue;
      }
      if (args->json) {
        std::printf("%s\n", toJson(st.value()).dump().c_str());
      } else {
        if (!first) std::printf("\n");
        printText(st.value());
      }
      first = false;
    }
  });
}

}  // namespace ctsim::cli

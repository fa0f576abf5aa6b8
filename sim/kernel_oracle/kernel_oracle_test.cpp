#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sim/kernel_oracle/compare.h"
#include "sim/kernel_oracle/rig.h"
#include "traces/generator.h"

namespace ctsim::oracle {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

std::string corpus() {
  const char* env = std::getenv("CTSIM_CORPUS");
  return env ? env : CTSIM_CORPUS_DEFAULT;
}

std::map<std::string, std::string> rulesOrDie() {
  auto r = loadDifferenceRules(CTSIM_DIFFERENCES_TSV);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r.value() : std::map<std::string, std::string>{};
}

// Compares one capture's ctsim table with a kernel table; returns the unexplained differences
// as text (empty when all are explained) and counts the explained ones by rule.
std::string unexplained(const std::string& capture, const Json& kernel, ct::ClockMode clock,
                        const std::map<std::string, std::string>& rules,
                        std::map<std::string, uint64_t>* by_rule, std::ostream* all = nullptr) {
  auto mine = ctsimFinalTable(capture, clock);
  if (!mine.ok()) return capture + ": " + mine.status().message() + "\n";
  std::string out;
  for (const Difference& d : compareTables(mine.value(), kernelRows(kernel), rules, clock)) {
    if (all) {
      *all << fs::path(capture).filename().string() << '\t' << d.kind << '\t' << d.key << '\t'
           << d.detail << '\t' << (d.rule.empty() ? "-" : d.rule) << '\n';
    }
    if (d.rule.empty()) {
      out += fs::path(capture).filename().string() + ": " + d.kind + " " + d.key + " " + d.detail +
             "\n";
    } else if (d.matching.size() > 1) {
      out += fs::path(capture).filename().string() + ": " + d.kind + " " + d.key +
             " fits more than one rule:";
      for (const std::string& r : d.matching) out += " " + r;
      out += "\n";
    } else if (by_rule) {
      (*by_rule)[d.rule]++;
    }
  }
  return out;
}

// The differences file names only rules the comparison implements, each with a reason.
TEST(KernelOracle, DifferencesFileIsWellFormed) {
  auto r = loadDifferenceRules(CTSIM_DIFFERENCES_TSV);
  ASSERT_TRUE(r.ok()) << r.status().message();
  for (const auto& [rule, reason] : r.value()) EXPECT_FALSE(reason.empty()) << rule;
  EXPECT_EQ(r.value().size(), knownRules().size()) << "every implemented rule is listed";
}

// On every corpus capture with a stored kernel table, ctsim's final table (trace clock, no end
// flush) differs from the kernel's only as the differences file explains.
TEST(KernelOracle, CorpusAgreesExceptListedDifferences) {
  fs::path dir = fs::path(corpus()) / "oracle" / "kernel";
  if (!fs::exists(dir)) GTEST_SKIP() << "no corpus at " << dir << " (set CTSIM_CORPUS)";
  auto rules = rulesOrDie();
  std::map<std::string, uint64_t> by_rule;
  std::string bad;
  size_t files = 0;
  // Every difference and the rule that explains it, for review.
  fs::path listing =
      fs::path(CTSIM_BINARY_DIR) / "sim" / "kernel_oracle" / "corpus-differences.tsv";
  fs::create_directories(listing.parent_path());
  std::ofstream all(listing);
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".json") continue;
    fs::path capture = fs::path(corpus()) / "public" / e.path().stem();
    if (!fs::exists(capture)) continue;
    std::ifstream in(e.path());
    Json kernel = Json::parse(in);
    bad += unexplained(capture.string(), kernel, ct::ClockMode::kTrace, rules, &by_rule, &all);
    files++;
  }
  EXPECT_GT(files, 0u);
  for (const auto& [rule, n] : by_rule)
    std::printf("  %-36s %llu\n", rule.c_str(), (unsigned long long)n);
  EXPECT_EQ(bad, "") << "unexplained differences (add a rule to differences.tsv only with a "
                        "reason that holds)";
}

// A difference no rule explains is reported: with an empty rule set the corpus shows some.
TEST(KernelOracle, UnlistedDifferencesFail) {
  fs::path json = fs::path(corpus()) / "oracle" / "kernel" / "ndpi__synscan.pcap.json";
  fs::path capture = fs::path(corpus()) / "public" / "ndpi__synscan.pcap";
  if (!fs::exists(json) || !fs::exists(capture)) GTEST_SKIP() << "no corpus at " << corpus();
  std::ifstream in(json);
  Json kernel = Json::parse(in);
  EXPECT_NE(unexplained(capture.string(), kernel, ct::ClockMode::kTrace, {}, nullptr), "");
}

// A stored capture's two final tables (ctsim's on the trace clock, the kernel's), or why not.
struct Stored {
  CtsimTable mine;
  std::vector<TableRow> kernel;
  std::string missing;  // Non-empty: not in the corpus (skip).
  std::string error;    // Non-empty: ctsim could not replay it.
};
Stored stored(const std::string& name) {
  Stored s;
  fs::path json = fs::path(corpus()) / "oracle" / "kernel" / (name + ".json");
  fs::path capture = fs::path(corpus()) / "public" / name;
  if (!fs::exists(json) || !fs::exists(capture)) {
    s.missing = "no " + name + " in the corpus at " + corpus();
    return s;
  }
  std::ifstream in(json);
  s.kernel = kernelRows(Json::parse(in));
  auto mine = ctsimFinalTable(capture.string(), ct::ClockMode::kTrace);
  if (mine.ok()) {
    s.mine = std::move(mine).value();
  } else {
    s.error = mine.status().message();
  }
  return s;
}

// Every rule is needed: for each, a named capture whose comparison passes with all rules and
// fails without that one, on exactly the differences the rule explained (no other rule takes
// them over).  A new rule must come with its capture here.
TEST(KernelOracle, EachRuleIsNeededOnItsCapture) {
  const std::map<std::string, std::string> needs = {
      {"kernel-ignores-checksums", "zeek__ecdsa-cert.pcap"},
      {"fragments-reassembled-differently", "ndpi__dnscrypt-v1-and-resolver-pings.pcap"},
      {"kernel-tracks-sctp", "ndpi__sctp.cap"},
      {"kernel-tcp-port-zero", "zeek__rotation.pcap"},
      {"kernel-deletes-unreplied-on-rst", "ndpi__synscan.pcap"},
      {"trace-clock-expiry", "zeek__one-sided-2745.pcap"},
      {"tcp-fin-close-named-differently", "suricata-verify__tfo.pcap"},
      {"kernel-fin-retransmit-closes", "ndpi__alexa-app.pcapng"},
      {"kernel-liberal-pickup", "zeek__smtp.pcap"},
      {"kernel-window-stricter", "zeek__handshake-reorder.pcap"},
  };
  for (const std::string& rule : knownRules()) EXPECT_TRUE(needs.count(rule)) << rule;
  auto all = rulesOrDie();
  for (const auto& [rule, name] : needs) {
    Stored s = stored(name);
    if (!s.missing.empty()) GTEST_SKIP() << s.missing;
    ASSERT_EQ(s.error, "");
    const CtsimTable& mine = s.mine;
    const std::vector<TableRow>& kernel = s.kernel;
    std::set<std::string> explained;  // kind + key of the differences `rule` explains.
    for (const Difference& d : compareTables(mine, kernel, all, ct::ClockMode::kTrace)) {
      EXPECT_FALSE(d.rule.empty()) << name << ": " << d.kind << " " << d.key << d.detail;
      if (d.rule == rule) explained.insert(d.kind + " " + d.key);
    }
    EXPECT_FALSE(explained.empty()) << rule << " explains nothing on " << name;
    auto without = all;
    without.erase(rule);
    std::set<std::string> left;
    for (const Difference& d : compareTables(mine, kernel, without, ct::ClockMode::kTrace)) {
      if (d.rule.empty()) left.insert(d.kind + " " + d.key);
    }
    EXPECT_EQ(left, explained) << "without " << rule << " on " << name;
  }
}

// A wrong final table is caught: on a capture whose tables agree except for explained
// differences, each perturbation of ctsim's table (a wrong TCP state or reply flag on a
// connection that otherwise matches, a missing connection, an extra one) is exactly one
// unexplained difference.
TEST(KernelOracle, PerturbedTableIsUnexplained) {
  Stored s = stored("suricata-verify__denial6-5.pcap");
  if (!s.missing.empty()) GTEST_SKIP() << s.missing;
  ASSERT_EQ(s.error, "");
  auto rules = rulesOrDie();
  const CtsimTable& mine = s.mine;
  const std::vector<TableRow>& kernel = s.kernel;
  auto diffs = compareTables(mine, kernel, rules, ct::ClockMode::kTrace);
  std::set<std::string> differing;
  for (const Difference& d : diffs) {
    ASSERT_FALSE(d.rule.empty()) << d.kind << " " << d.key << d.detail;
    differing.insert(d.key);
  }
  // A TCP connection (and a UDP one) on which the two tables agree.
  auto agreeing = [&](uint8_t proto) -> int {
    for (size_t i = 0; i < mine.rows.size(); i++) {
      const TableRow& r = mine.rows[i];
      if (r.proto != proto || differing.count(r.key)) continue;
      for (const TableRow& k : kernel) {
        if (k.key == r.key) return int(i);
      }
    }
    return -1;
  };
  int tcp = agreeing(6), udp = agreeing(17);
  ASSERT_GE(tcp, 0);
  ASSERT_GE(udp, 0);
  auto unexplainedAfter = [&](const std::function<void(CtsimTable&)>& perturb) {
    CtsimTable t = mine;
    perturb(t);
    std::vector<std::string> out;
    for (const Difference& d : compareTables(t, kernel, rules, ct::ClockMode::kTrace)) {
      if (d.rule.empty()) out.push_back(d.kind + " " + d.key);
    }
    return out;
  };
  const std::string tcp_key = mine.rows[size_t(tcp)].key;
  const std::string udp_key = mine.rows[size_t(udp)].key;
  for (const char* state : {"SYN_SENT", "ESTABLISHED", "FIN_WAIT", "CLOSE"}) {
    if (mine.rows[size_t(tcp)].tcp_state == state) continue;
    EXPECT_EQ(unexplainedAfter([&](CtsimTable& t) {
                t.rows[size_t(tcp)].tcp_state = state;
                t.rows[size_t(tcp)].raw_state = state;
              }),
              std::vector<std::string>{"tcp_state " + tcp_key})
        << state;
  }
  EXPECT_EQ(unexplainedAfter(
                [&](CtsimTable& t) { t.rows[size_t(udp)].replied = !t.rows[size_t(udp)].replied; }),
            std::vector<std::string>{"replied " + udp_key});
  EXPECT_EQ(unexplainedAfter([&](CtsimTable& t) { t.rows.erase(t.rows.begin() + tcp); }),
            std::vector<std::string>{"only_kernel " + tcp_key});
  EXPECT_EQ(unexplainedAfter([&](CtsimTable& t) {
              TableRow extra = t.rows[size_t(udp)];
              extra.key = "udp 192.0.2.1:1 -> 192.0.2.2:2 zone=0";
              extra.rev_key = "udp 192.0.2.2:2 -> 192.0.2.1:1 zone=0";
              extra.flow_id = flowId(4, 17, "192.0.2.1", 1, "192.0.2.2", 2);
              t.rows.push_back(extra);
            }),
            std::vector<std::string>{"only_ctsim udp 192.0.2.1:1 -> 192.0.2.2:2 zone=0"});
}

// The close-naming rule fits only the close it describes: a connection it explains (ctsim CLOSE
// with both pf peers FIN_WAIT_2, kernel TIME_WAIT) becomes unexplained when ctsim's state is
// made ESTABLISHED or its peers those of a RST (TIME_WAIT/TIME_WAIT).
TEST(KernelOracle, CloseNamingRuleKeepsItsTeeth) {
  Stored s = stored("suricata-verify__tfo.pcap");
  if (!s.missing.empty()) GTEST_SKIP() << s.missing;
  ASSERT_EQ(s.error, "");
  auto rules = rulesOrDie();
  const CtsimTable& mine = s.mine;
  const std::vector<TableRow>& kernel = s.kernel;
  std::string key;
  for (const Difference& d : compareTables(mine, kernel, rules, ct::ClockMode::kTrace)) {
    if (d.rule == "tcp-fin-close-named-differently") key = d.key;
  }
  ASSERT_NE(key, "");
  auto ruleAfter = [&](const std::function<void(TableRow&)>& perturb) {
    CtsimTable t = mine;
    for (TableRow& r : t.rows) {
      if (r.key == key) perturb(r);
    }
    for (const Difference& d : compareTables(t, kernel, rules, ct::ClockMode::kTrace)) {
      if (d.key == key && d.kind == "tcp_state") return d.rule.empty() ? "-" : d.rule;
    }
    return std::string("no difference");
  };
  EXPECT_EQ(ruleAfter([](TableRow&) {}), "tcp-fin-close-named-differently");
  EXPECT_EQ(ruleAfter([](TableRow& r) {
              r.tcp_state = r.raw_state = "ESTABLISHED";
              r.peer[0] = r.peer[1] = CTSIM_TCPS_ESTABLISHED;
            }),
            "-");
  EXPECT_EQ(ruleAfter([](TableRow& r) { r.peer[0] = r.peer[1] = CTSIM_TCPS_TIME_WAIT; }), "-");
}

// The live rig reproduces stored kernel tables entry for entry (timeouts aside): the oracle
// command's output has the corpus files' shape and content.
TEST(KernelOracleLive, RigMatchesStoredTables) {
  std::string why = rigUnavailableReason(RigMode::kBridge);
  if (!why.empty()) GTEST_SKIP() << "bridge rig unavailable: " << why;
  for (const char* name : {"zeek__smtp.pcap", "zeek__ipv6.pcap", "zeek__5-pings.pcap",
                           "suricata-verify__gre-sample.pcap", "ndpi__sctp.cap"}) {
    fs::path json = fs::path(corpus()) / "oracle" / "kernel" / (std::string(name) + ".json");
    fs::path capture = fs::path(corpus()) / "public" / name;
    if (!fs::exists(json) || !fs::exists(capture)) GTEST_SKIP() << "no corpus at " << corpus();
    auto live = replayThroughKernel(capture.string(), nullptr, RigMode::kBridge);
    ASSERT_TRUE(live.ok()) << live.status().message();
    std::ifstream in(json);
    Json stored = Json::parse(in);
    ASSERT_EQ(live.value().size(), stored.size()) << name;
    for (size_t i = 0; i < stored.size(); i++) {
      Json a = live.value()[i], b = stored[i];
      a.erase("timeout");
      b.erase("timeout");
      EXPECT_EQ(a, b) << name << " entry " << i;
    }
  }
}

// Generated traffic (TCP with FIN/RST/open teardowns, UDP, ICMP, IPv6, a port scan) through
// the live kernel: ctsim agrees except for listed differences.
TEST(KernelOracleLive, GeneratedTraceAgrees) {
  fs::path dir = fs::path(CTSIM_BINARY_DIR) / "sim" / "kernel_oracle";
  fs::create_directories(dir);
  for (RigMode rig : {RigMode::kBridge, RigMode::kRouted}) {
    std::string why = rigUnavailableReason(rig);
    if (!why.empty()) {
      std::printf("  %s rig unavailable: %s\n", rigModeName(rig), why.c_str());
      continue;
    }
    std::map<std::string, uint64_t> by_rule;
    for (uint64_t seed : {1, 2, 3}) {
      traces::GenConfig cfg;
      cfg.seed = seed;
      cfg.flows = 300;
      cfg.port_scan = 20;
      fs::path pcap = dir / ("generated-" + std::to_string(seed) + ".pcap");
      auto gen = traces::generate(cfg, pcap.string());
      ASSERT_TRUE(gen.ok()) << gen.status().message();
      auto kernel = replayThroughKernel(pcap.string(), nullptr, rig);
      ASSERT_TRUE(kernel.ok()) << kernel.status().message();
      EXPECT_GT(kernel.value().size(), 0u);
      EXPECT_EQ(
          unexplained(pcap.string(), kernel.value(), ct::ClockMode::kTrace, rulesOrDie(), &by_rule),
          "")
          << rigModeName(rig) << " rig, seed " << seed;
    }
    for (const auto& [rule, n] : by_rule) {
      std::printf("  %s rig: %-36s %llu\n", rigModeName(rig), rule.c_str(), (unsigned long long)n);
    }
  }
  std::string why = rigUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "kernel rig unavailable: " << why;
}

// Why the routed rig cannot have an entry the bridge rig has: the router neither forwards nor
// delivers a packet with a loopback or multicast address (IPv4 127/8, 224/4; IPv6 ::1, ff00::/8)
// or an IPv6 link-local one (fe80::/10) as source or destination.  "" when none applies.
std::string notRouted(const Json& e) {
  for (const char* end : {"src", "dst"}) {
    std::string a = e["orig"][end].get<std::string>();
    if (e["l3"] == "ipv4") {
      int first = std::atoi(a.c_str());
      if (first == 127) return "loopback";
      if (first >= 224 && first <= 239) return "multicast";
    } else {
      if (a == "::1") return "loopback";
      if (a.rfind("ff", 0) == 0) return "multicast";
      if (a.rfind("fe8", 0) == 0 || a.rfind("fe9", 0) == 0 || a.rfind("fea", 0) == 0 ||
          a.rfind("feb", 0) == 0) {
        return "link-local";
      }
    }
  }
  return "";
}

// The routed rig (a router namespace, for kernels without br_netfilter) gives the bridge rig's
// table (the stored one; timeouts aside) on these captures, except for entries of packets a
// router does not forward, each with its reason (notRouted); it has no entry of its own.
TEST(KernelOracleLive, RoutedRigAgreesWithBridgeRig) {
  std::string why = rigUnavailableReason(RigMode::kRouted);
  if (!why.empty()) GTEST_SKIP() << "routed rig unavailable: " << why;
  std::map<std::string, uint64_t> by_reason;
  size_t same = 0;
  for (const char* name : {"zeek__smtp.pcap", "zeek__ipv6.pcap", "zeek__5-pings.pcap",
                           "suricata-verify__gre-sample.pcap", "ndpi__sctp.cap",
                           "ndpi__gnutella.pcap", "suricata-verify__ftp-passive-mode.pcap"}) {
    fs::path json = fs::path(corpus()) / "oracle" / "kernel" / (std::string(name) + ".json");
    fs::path capture = fs::path(corpus()) / "public" / name;
    if (!fs::exists(json) || !fs::exists(capture)) GTEST_SKIP() << "no corpus at " << corpus();
    RigMode built = RigMode::kAuto;
    auto live = replayThroughKernel(capture.string(), nullptr, RigMode::kRouted, &built);
    ASSERT_TRUE(live.ok()) << live.status().message();
    EXPECT_EQ(built, RigMode::kRouted);
    std::ifstream in(json);
    Json stored = Json::parse(in);
    std::map<std::string, Json> routed;
    for (Json e : live.value()) {
      e.erase("timeout");
      routed[e["l4"].dump() + e["orig"].dump()] = e;
    }
    for (Json e : stored) {
      e.erase("timeout");
      auto it = routed.find(e["l4"].dump() + e["orig"].dump());
      if (it == routed.end()) {
        std::string reason = notRouted(e);
        EXPECT_NE(reason, "") << name << ": only the bridge rig has " << e.dump();
        by_reason[reason]++;
        continue;
      }
      EXPECT_EQ(it->second, e) << name;
      routed.erase(it);
      same++;
    }
    for (const auto& [key, e] : routed) ADD_FAILURE() << name << ": only routed: " << e.dump();
  }
  std::printf("  equal entries %zu\n", same);
  for (const auto& [reason, n] : by_reason)
    std::printf("  only in the bridge rig, %-10s %llu\n", reason.c_str(), (unsigned long long)n);
  EXPECT_GT(same, 0u);
}

// auto picks the bridge rig where br_netfilter is, and the routed one elsewhere.
TEST(KernelOracleLive, AutoPicksBridgeOnlyWithBrNetfilter) {
  std::string why = rigUnavailableReason(RigMode::kRouted);
  if (!why.empty()) GTEST_SKIP() << "kernel rig unavailable: " << why;
  auto rig = KernelRig::create(RigMode::kAuto);
  ASSERT_TRUE(rig.ok()) << rig.status().message();
  bool bridge_ok = rigUnavailableReason(RigMode::kBridge).empty();
  EXPECT_EQ(rig.value()->mode(), bridge_ok ? RigMode::kBridge : RigMode::kRouted);
}

}  // namespace
}  // namespace ctsim::oracle

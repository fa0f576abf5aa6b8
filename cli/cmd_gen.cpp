// `ctsim gen OUT.pcap [options]`: seeded synthetic workloads (see traces/generator.h).
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "traces/generator.h"

namespace ctsim::cli {
namespace {

struct GenArgs {
  std::string out;
  traces::GenConfig config;
  std::string mix;
  std::string teardown;
  bool quiet = false;
};

// Parses "a=0.7,b=0.3" into the named shares; false with `why` on an unknown name or bad number.
bool parseShares(const std::string& text, const std::map<std::string, double*>& names,
                 std::string& why) {
  for (auto& [name, share] : names) *share = 0;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto eq = item.find('=');
    std::string key = item.substr(0, eq);
    auto it = names.find(key);
    if (eq == std::string::npos || it == names.end()) {
      why = "'" + item + "' is not NAME=SHARE with a known name";
      return false;
    }
    try {
      size_t used = 0;
      *it->second = std::stod(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      why = "'" + item + "' has no number after '='";
      return false;
    }
  }
  return true;
}

int runGen(GenArgs& a) {
  traces::GenConfig& c = a.config;
  std::string why;
  if (!a.mix.empty() &&
      !parseShares(a.mix, {{"tcp", &c.tcp_share}, {"udp", &c.udp_share}, {"icmp", &c.icmp_share}},
                   why)) {
    std::fprintf(stderr, "ctsim gen: --mix: %s\n", why.c_str());
    return kExitBadInput;
  }
  if (!a.teardown.empty() &&
      !parseShares(a.teardown,
                   {{"fin", &c.fin_share}, {"rst", &c.rst_share}, {"none", &c.none_share}}, why)) {
    std::fprintf(stderr, "ctsim gen: --teardown: %s\n", why.c_str());
    return kExitBadInput;
  }
  auto s = traces::generate(c, a.out);
  if (!s.ok()) {
    std::fprintf(stderr, "ctsim gen: %s: %s\n", a.out.c_str(), s.status().message().c_str());
    return kExitBadInput;
  }
  const traces::GenSummary& g = s.value();
  if (!a.quiet) {
    std::printf("%s: seed %" PRIu64 ", %" PRIu64 " packets, %" PRIu64 " bytes, %.3f s\n",
                a.out.c_str(), c.seed, g.packets, g.bytes, double(g.last_ns - g.first_ns) / 1e9);
    std::printf("  connections: tcp %" PRIu64 ", udp %" PRIu64 ", icmp %" PRIu64 " (ipv6 %" PRIu64
                ", elephants %" PRIu64 ", idle %" PRIu64 ", churned %" PRIu64 ")\n",
                g.tcp_flows, g.udp_flows, g.icmp_flows, g.ipv6_flows, g.elephants, g.idle_flows,
                g.churned_flows);
    if (g.syn_flood_packets + g.port_scan_probes > 0) {
      std::printf("  syn flood %" PRIu64 " packets, port scan %" PRIu64 " probes\n",
                  g.syn_flood_packets, g.port_scan_probes);
    }
  }
  return kExitOk;
}

}  // namespace

void addGenCommand(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<GenArgs>();
  traces::GenConfig& c = a->config;
  CLI::App* cmd = app.add_subcommand("gen", "Generate a seeded synthetic workload as pcap");
  cmd->add_option("out", a->out, "output pcap file")->required();
  cmd->add_option("--seed", c.seed, "random seed (printed)")->capture_default_str();
  cmd->add_option("--flows", c.flows, "connections")->capture_default_str();
  cmd->add_option("--cps", c.cps, "new connections per second")->capture_default_str();
  cmd->add_option("--duration", c.duration_s, "no connection starts after S seconds (0: none)");
  cmd->add_option("--mix", a->mix, "protocol mix, e.g. tcp=0.7,udp=0.25,icmp=0.05");
  cmd->add_option("--ipv6", c.ipv6_share, "share of IPv6 connections")->capture_default_str();
  cmd->add_option("--elephants", c.elephant_share, "share of elephant connections")
      ->capture_default_str();
  cmd->add_option("--mice-exchanges", c.mice_exchanges, "mean exchanges of a mouse")
      ->capture_default_str();
  cmd->add_option("--elephant-exchanges", c.elephant_exchanges, "exchanges of an elephant")
      ->capture_default_str();
  cmd->add_option("--teardown", a->teardown, "TCP teardown mix, e.g. fin=0.8,rst=0.1,none=0.1");
  cmd->add_option("--idle", c.idle_share, "share of connections that go idle once mid-flow");
  cmd->add_option("--idle-gap", c.idle_gap_s, "idle gap in seconds")->capture_default_str();
  cmd->add_option("--churn", c.churn_share, "share of connections reusing a finished tuple");
  cmd->add_option("--syn-flood", c.syn_flood, "SYN flood packets (never answered)");
  cmd->add_option("--port-scan", c.port_scan, "port scan probes (answered by RST)");
  cmd->add_option("--rtt-ms", c.rtt_ms, "mean round-trip time")->capture_default_str();
  cmd->add_option("--think-ms", c.think_ms, "mean pause between exchanges")->capture_default_str();
  cmd->add_option("--vlan", c.vlan, "802.1Q tag on every frame (0: none)");
  cmd->add_flag("-q,--quiet", a->quiet, "print nothing on success");
  cmd->callback([a, &exit_code] { exit_code = runGen(*a); });
}

}  // namespace ctsim::cli

#include "reports/report.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "reports/json_schema.h"

namespace ctsim::reports {

using nlohmann::json;

namespace {

double ratio(uint64_t a, uint64_t b) { return b == 0 ? 0.0 : double(a) / double(b); }

json percentilesJson(const Percentiles& p) {
  return {{"count", p.count}, {"p50", p.p50},     {"p90", p.p90},
          {"p99", p.p99},     {"p99.9", p.p99_9}, {"max", p.max}};
}

// At most 101 points (value, fraction of samples <= value) of the empirical CDF.
json cdfJson(std::vector<double> v) {
  json out = json::array();
  if (v.empty()) return out;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  size_t last = SIZE_MAX;
  for (int i = 0; i <= 100; ++i) {
    size_t idx = i == 0 ? 0 : std::min(n - 1, size_t(std::ceil(double(i) / 100 * double(n))) - 1);
    if (idx == last) continue;
    last = idx;
    out.push_back({v[idx], double(idx + 1) / double(n)});
  }
  return out;
}

// A metric: one value per run.
void addMetric(json& metrics, const std::string& name, const char* unit, const char* better,
               const char* clock, double value) {
  json& m = metrics[name];
  if (m.is_null())
    m = {{"unit", unit}, {"better", better}, {"clock", clock}, {"values", json::array()}};
  m["values"].push_back(value);
}

uint64_t sumValues(const std::map<std::string, uint64_t>& m) {
  uint64_t s = 0;
  for (const auto& [k, v] : m) s += v;
  return s;
}

json summaryJson(const ct::ReplaySummary& s) {
  json j;
  j["packets"] = s.packets;
  j["fast_path_consumed"] = s.fast_path_consumed;
  j["ct_state"] = s.by_ct_state;
  j["outcomes"] = s.by_outcome;
  j["fragments"] = {{"held", s.held_fragments},
                    {"reassembled", s.reassembled},
                    {"ipf_accepted", s.ipf.accepted},
                    {"ipf_completed", s.ipf.completed},
                    {"ipf_too_small", s.ipf.too_small},
                    {"ipf_overlap", s.ipf.overlap},
                    {"ipf_over_limit", s.ipf.over_limit},
                    {"ipf_expired_lists", s.ipf.expired_lists},
                    {"ipf_reassembly_failed", s.ipf.reass_failed}};
  j["connections"] = s.conns;
  j["connections_expired_at_end"] = s.conns_expired_at_end;
  j["connections_flushed_at_end"] = s.flushed_at_end;
  j["engine"] = {{"created", s.engine.conns_created},
                 {"removed", s.engine.conns_removed},
                 {"limit_drops", s.engine.limit_drops},
                 {"tcp_port_reuse", s.engine.port_reuse},
                 {"sweeps", s.engine.sweeps},
                 {"swept", s.engine.swept},
                 {"sweep_bound_hits", s.engine.sweep_bound_hits}};
  if (s.trace_error) {
    j["trace_error"] = {{"record", s.trace_error_record}, {"reason", s.trace_error_reason}};
  }
  return j;
}

json fastPathJson(const FastPathRun& f) {
  const FastPathStats& s = f.stats;
  json series = json::array();
  size_t stride = std::max<size_t>(1, (s.occupancy.size() + 999) / 1000);
  for (size_t i = 0; i < s.occupancy.size(); i += stride) {
    const FastPathOccupancySample& o = s.occupancy[i];
    series.push_back({o.t_ns, o.entries, o.active});
  }
  json off = percentilesJson(percentiles(f.offload_us));
  off["cdf"] = cdfJson(f.offload_us);
  return {{"name", f.name},
          {"config", s.config},
          {"hits", {{"packets", s.hit_packets}, {"bytes", s.hit_bytes}}},
          {"sent_up", {{"packets", s.up_packets}, {"bytes", s.up_bytes}}},
          {"misses", {{"packets", s.miss_packets}, {"bytes", s.miss_bytes}}},
          {"misses_before_active",
           {{"packets", s.miss_pending_packets}, {"bytes", s.miss_pending_bytes}}},
          {"hit_ratio",
           {{"packets", ratio(s.hit_packets, s.hit_packets + s.miss_packets)},
            {"bytes", ratio(s.hit_bytes, s.hit_bytes + s.miss_bytes)}}},
          {"occupancy",
           {{"capacity", s.capacity},
            {"entries", s.entries},
            {"peak", s.entries_peak},
            {"active", s.active},
            {"interval_ns", s.occupancy_interval_ns},
            {"series", series}}},
          {"failures", s.failures},
          {"counters", s.counters},
          {"offload_latency_us", off},
          {"insertion_latency_us", percentilesJson(percentiles(f.insertion_us))}};
}

json offloadJson(const OffloadRun& r, uint64_t consumed, uint64_t up) {
  json j;
  j["profile"] = profileName(r.profile);
  j["netdev"] = {{"name", "p0"}, {"port", 1}};
  const ct::HookCounts& c = r.counts;
  j["hooks"] = {{"conn_add", c.add},
                {"conn_add_failed", c.add_failed},
                {"conn_established", c.est},
                {"conn_del_requested", c.del_requested},
                {"conn_del", c.del},
                {"conn_del_at_end", c.del_at_end},
                {"conn_update", c.upd},
                {"conn_update_kept", c.upd_kept},
                {"update_batches", c.upd_batches},
                {"shutdown_flushes", c.shutdown_flushes}};
  j["errors"] = json::object();
  for (const auto& [op, codes] : r.errors) j["errors"][op] = codes;
  j["providers"] = json::array();
  for (const ProviderInfo& p : r.providers) {
    json calls = json::object();
    for (int i = 0; i < kCallbackCount; ++i) {
      calls[callbackName(static_cast<Callback>(i))] = p.calls[size_t(i)];
    }
    json latency = json::object();
    for (int i = 0; i < kCallbackCount; ++i) {
      const LatencySummary& l = p.latency[size_t(i)];
      if (l.count == 0) continue;
      latency[callbackName(static_cast<Callback>(i))] = {
          {"count", l.count}, {"mean", double(l.sum_ns) / double(l.count)},
          {"p50", l.p50_ns},  {"p90", l.p90_ns},
          {"p99", l.p99_ns},  {"p99.9", l.p999_ns},
          {"max", l.max_ns}};
    }
    json fault = nullptr;
    if (p.fault.kind != FaultKind::kNone) {
      fault = {{"kind", faultKindName(p.fault.kind)},
               {"callback", callbackName(p.fault.callback)},
               {"message", p.fault.message}};
    }
    j["providers"].push_back(
        {{"name", p.name},
         {"origin", p.origin},
         {"calls", calls},
         {"call_latency_ns", latency},
         {"fault", fault},
         {"skipped_calls", p.skipped_calls},
         {"conn_add_errors", p.add_errors},
         {"first_conn_add_error",
          p.first_add_error != 0 ? json(errnoName(p.first_add_error)) : json(nullptr)}});
  }
  j["fast_path_packets"] = {{"consumed", consumed}, {"sent_up", up}};
  j["fast_paths"] = json::array();
  for (const FastPathRun& f : r.fast_paths) j["fast_paths"].push_back(fastPathJson(f));
  return j;
}

// The seed of a configuration string ("... seed=42 ..."), if any.
std::optional<uint64_t> seedOf(const std::string& config) {
  size_t at = config.find("seed=");
  while (at != std::string::npos && at > 0 && std::isalnum((unsigned char)config[at - 1])) {
    at = config.find("seed=", at + 1);
  }
  if (at == std::string::npos) return std::nullopt;
  char* end = nullptr;
  unsigned long long v = std::strtoull(config.c_str() + at + 5, &end, 10);
  if (end == config.c_str() + at + 5) return std::nullopt;
  return uint64_t(v);
}

void addRunMetrics(json& m, const RunData& run) {
  const ct::ReplaySummary& s = run.summary;
  uint64_t ops = sumValues(s.hook_calls);
  double wall = run.wall_s > 0 ? run.wall_s : 1e-9;
  addMetric(m, "wall_seconds", "s", "lower", "wall", run.wall_s);
  addMetric(m, "throughput.packets_per_s", "1/s", "higher", "wall", double(s.packets) / wall);
  addMetric(m, "throughput.connections_per_s", "1/s", "higher", "wall",
            double(s.engine.conns_created) / wall);
  if (run.offload)
    addMetric(m, "throughput.ops_per_s", "1/s", "higher", "wall", double(ops) / wall);
  addMetric(m, "packets", "packets", "none", "count", double(s.packets));
  addMetric(m, "connections_created", "connections", "none", "count",
            double(s.engine.conns_created));
  if (!run.offload) return;
  const OffloadRun& o = *run.offload;
  addMetric(m, "hooks.conn_add_failed", "calls", "lower", "count", double(o.counts.add_failed));
  for (const ProviderInfo& p : o.providers) {
    for (Callback cb : {Callback::kConnAdd, Callback::kConnDel, Callback::kConnUpdate,
                        Callback::kConnEstablished}) {
      const LatencySummary& l = p.latency[size_t(cb)];
      if (l.count == 0) continue;
      std::string base = "provider." + p.name + "." + callbackName(cb);
      addMetric(m, base + ".p50_ns", "ns", "lower", "wall", double(l.p50_ns));
      addMetric(m, base + ".p99_ns", "ns", "lower", "wall", double(l.p99_ns));
    }
  }
  for (const FastPathRun& f : o.fast_paths) {
    std::string base = "fast_path." + f.name;
    Percentiles p = percentiles(f.offload_us);
    addMetric(m, base + ".offload_latency_us.p50", "us", "lower", "trace", p.p50);
    addMetric(m, base + ".offload_latency_us.p90", "us", "lower", "trace", p.p90);
    addMetric(m, base + ".offload_latency_us.p99", "us", "lower", "trace", p.p99);
    addMetric(m, base + ".offload_latency_us.p99.9", "us", "lower", "trace", p.p99_9);
    addMetric(m, base + ".offload_latency_us.max", "us", "lower", "trace", p.max);
    const FastPathStats& st = f.stats;
    addMetric(m, base + ".hit_ratio.packets", "ratio", "higher", "trace",
              ratio(st.hit_packets, st.hit_packets + st.miss_packets));
    addMetric(m, base + ".failures", "failures", "lower", "count", double(sumValues(st.failures)));
    addMetric(m, base + ".occupancy.peak", "entries", "none", "count", double(st.entries_peak));
  }
}

}  // namespace

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  p.count = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t rank = size_t(std::ceil(q * double(v.size())));
    return v[rank == 0 ? 0 : std::min(rank, v.size()) - 1];
  };
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  p.p99_9 = at(0.999);
  p.max = v.back();
  return p;
}

json buildReport(const ReportContext& ctx, const std::vector<RunData>& runs) {
  const RunData& run = runs.back();
  const ct::ReplaySummary& s = run.summary;
  json j = summaryJson(s);  // the summary's fields stay at the top level (`--json` before v1).
  j["schema"] = kSchemaName;
  j["version"] = kSchemaVersion;
  j["tool"] = {{"name", "ctsim"}, {"version", CTSIM_VERSION}};
  bool complete = true;
  std::string why;
  for (const RunData& r : runs) {
    if (!r.complete) {
      complete = false;
      why = r.interrupted_by;
    }
  }
  j["complete"] = complete;
  j["interrupted_by"] = complete ? json(nullptr) : json(why);
  j["command_line"] = ctx.command_line;
  j["options"] = ctx.options;
  std::string names;
  j["inputs"] = json::array();
  uint64_t records = 0;
  for (const InputFile& in : ctx.inputs) {
    names += (names.empty() ? "" : "+") + in.name;
    records += in.records;
    j["inputs"].push_back({{"name", in.name},
                           {"path", in.path},
                           {"sha256", in.sha256},
                           {"bytes", in.bytes},
                           {"records", in.records}});
  }
  j["file"] = names;
  j["records"] = records;
  j["record_oddities"] = run.record_oddities;
  j["runs"] = runs.size();
  j["trace_time"] = {{"first_ns", s.first_ns},
                     {"last_ns", s.last_ns},
                     {"span_s", double(s.last_ns - s.first_ns) / 1e9}};

  // The engine's counters in detail.
  uint64_t invalid = 0;
  for (const auto& [state, n] : s.by_ct_state) {
    if (state.find("inv") != std::string::npos) invalid += n;
  }
  json not_parsed = json::object();
  for (const auto& [outcome, n] : s.by_outcome) {
    if (outcome != "parsed") not_parsed[outcome] = n;
  }
  j["conntrack"] = {
      {"created", s.created},
      {"removed", s.removed},
      {"invalid",
       {{"ct_state_invalid", invalid}, {"by_reason", s.invalid_by_reason}, {"parser", not_parsed}}},
      {"hook_calls", s.hook_calls}};

  // Accounting: every packet in exactly one bucket.
  json buckets = json::object();
  uint64_t total = 0;
  for (const auto& [state, n] : s.by_ct_state) {
    buckets["ct_state " +
            (state.empty() || state == "0" ? std::string("none (held fragment)") : state)] = n;
    total += n;
  }
  buckets["fast path"] = s.fast_path_consumed;
  total += s.fast_path_consumed;
  j["accounting"] = {
      {"packets", s.packets}, {"buckets", buckets}, {"balanced", total == s.packets}};

  uint64_t ops = sumValues(s.hook_calls);
  double wall = run.wall_s > 0 ? run.wall_s : 1e-9;
  j["throughput"] = {{"wall_s", run.wall_s},
                     {"packets_per_s", double(s.packets) / wall},
                     {"connections_per_s", double(s.engine.conns_created) / wall},
                     {"ops_per_s", double(ops) / wall},
                     {"ops", ops}};

  json rows = json::array();
  for (const ct::TimelineBucket& b : s.timeline) {
    rows.push_back({b.t_ns, b.packets, b.bytes, b.fast_path_hits, b.conns_created, b.conns_removed,
                    b.hook_ops});
  }
  j["timeline"] = {{"interval_ns", s.timeline_interval_ns},
                   {"columns",
                    {"t_ns", "packets", "bytes", "fast_path_hits", "conns_created", "conns_removed",
                     "hook_ops"}},
                   {"rows", rows}};

  j["seed"] = nullptr;
  j["seeds"] = json::object();
  if (run.offload) {
    j["offload"] = offloadJson(*run.offload, s.fast_path_consumed, s.fast_path_up);
    for (const FastPathRun& f : run.offload->fast_paths) {
      if (auto seed = seedOf(f.stats.config)) {
        j["seeds"][f.name] = *seed;
        if (j["seed"].is_null()) j["seed"] = *seed;
      }
    }
  } else {
    j["offload"] = nullptr;
  }
  if (run.explain.is_object()) j["explain"] = run.explain;
  json metrics = json::object();
  for (const RunData& r : runs) addRunMetrics(metrics, r);
  j["metrics"] = metrics;
  return j;
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(ENOENT, "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string chartJsPath() {
  const char* env = std::getenv("CTSIM_CHART_JS");
  if (env != nullptr && *env != '\0') return env;
  return "/usr/share/javascript/chart.js/chart.min.js";
}

std::vector<std::string> validateReport(const json& report) {
  return validateJson(json::parse(schemaText()), report);
}

Result<json> mergeReports(const std::vector<json>& reports) {
  if (reports.empty()) return Status(EINVAL, "no report");
  json out = reports.front();
  auto shas = [](const json& r) {
    std::vector<std::string> v;
    for (const json& in : r["inputs"]) v.push_back(in["sha256"].get<std::string>());
    return v;
  };
  for (size_t i = 1; i < reports.size(); ++i) {
    const json& r = reports[i];
    if (shas(r) != shas(out))
      return Status(EINVAL, "report " + std::to_string(i + 1) + ": other inputs");
    for (auto it = r["metrics"].begin(); it != r["metrics"].end(); ++it) {
      json& m = out["metrics"][it.key()];
      if (m.is_null()) {
        m = it.value();
      } else {
        for (const json& v : it.value()["values"]) m["values"].push_back(v);
      }
    }
    out["runs"] = out["runs"].get<uint64_t>() + r["runs"].get<uint64_t>();
    if (!r["complete"].get<bool>()) {
      out["complete"] = false;
      out["interrupted_by"] = r["interrupted_by"];
    }
  }
  return out;
}

}  // namespace ctsim::reports

namespace ctsim::reports {

std::string errnoName(int code) {
  switch (code) {
    case ENOSPC:
      return "ENOSPC";
    case EBUSY:
      return "EBUSY";
    case EEXIST:
      return "EEXIST";
    case EINVAL:
      return "EINVAL";
    case EIO:
      return "EIO";
    case ENODATA:
      return "ENODATA";
    case ENOMEM:
      return "ENOMEM";
    case EAGAIN:
      return "EAGAIN";
    case EOPNOTSUPP:
      return "EOPNOTSUPP";
    case ENOENT:
      return "ENOENT";
    case EALREADY:
      return "EALREADY";
    case ETIMEDOUT:
      return "ETIMEDOUT";
    case EPERM:
      return "EPERM";
    default:
      return "E" + std::to_string(code);
  }
}

}  // namespace ctsim::reports

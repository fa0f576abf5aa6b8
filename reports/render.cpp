// Renderers of a replay report (text, Markdown, HTML) and the comparison of two reports. They
// read only the report's JSON.
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "reports/report.h"

namespace ctsim::reports {

using nlohmann::json;

namespace {

uint64_t u64(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0;
}
double num(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}
bool hasOffload(const json& r) { return r.contains("offload") && r["offload"].is_object(); }

std::string joinCounts(const json& m) {
  std::string out;
  for (auto it = m.begin(); it != m.end(); ++it) {
    out += (out.empty() ? "" : ", ") + it.key() + " " + it.value().dump();
  }
  return out;
}

// "12.3k" style numbers for tables.
std::string si(double v) {
  if (v >= 1e9) return fmt("%.2fG", v / 1e9);
  if (v >= 1e6) return fmt("%.2fM", v / 1e6);
  if (v >= 1e4) return fmt("%.1fk", v / 1e3);
  if (v == std::floor(v)) return fmt("%.0f", v);
  return fmt("%.3g", v);
}

// Replaces "</" so that text can sit inside a <script> element.
std::string scriptSafe(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' && i + 1 < s.size() && s[i + 1] == '/') {
      out += "<\\/";
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string commandLine(const json& r) {
  std::string out;
  for (const json& a : r["command_line"]) {
    std::string s = a.get<std::string>();
    bool quote = s.empty() || s.find_first_of(" \t'\"$|&;<>*?") != std::string::npos;
    out += (out.empty() ? "" : " ") + (quote ? "'" + s + "'" : s);
  }
  return out;
}

std::string statusLine(const json& r) {
  if (r["complete"].get<bool>()) return "complete";
  return "INCOMPLETE (stopped by " + r["interrupted_by"].get<std::string>() + ")";
}

// "PROVIDER FAILED in CALLBACK (KIND): MESSAGE; N calls skipped" and/or the conn_add errors of
// one provider of the report, as lines with 'indent'; "" for a provider with neither.
std::string providerTroubleLine(const json& p, const char* indent) {
  std::string o;
  std::string name = p["name"].get<std::string>();
  if (p.contains("fault") && p["fault"].is_object()) {
    const json& f = p["fault"];
    o += fmt("%sprovider %s FAILED in %s (%s): %s; %" PRIu64 " later calls skipped\n", indent,
             name.c_str(), f["callback"].get<std::string>().c_str(),
             f["kind"].get<std::string>().c_str(), f["message"].get<std::string>().c_str(),
             u64(p, "skipped_calls"));
  }
  if (p.contains("conn_add_errors") && u64(p, "conn_add_errors") > 0) {
    o += fmt("%sprovider %s returned %" PRIu64 " conn_add errors (first: %s)\n", indent,
             name.c_str(), u64(p, "conn_add_errors"),
             p["first_conn_add_error"].is_string()
                 ? p["first_conn_add_error"].get<std::string>().c_str()
                 : "?");
  }
  return o;
}

}  // namespace

// See report.h.
std::string fmt(const char* f, ...) {
  va_list ap;
  va_start(ap, f);
  va_list again;
  va_copy(again, ap);
  int n = std::vsnprintf(nullptr, 0, f, ap);
  va_end(ap);
  std::string s(n > 0 ? size_t(n) + 1 : 1, '\0');
  if (n > 0) std::vsnprintf(s.data(), s.size(), f, again);
  va_end(again);
  s.resize(n > 0 ? size_t(n) : 0);
  return s;
}

std::string htmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string renderText(const json& r) {
  std::string o;
  o += fmt("%s: %" PRIu64 " packets", r["file"].get<std::string>().c_str(), u64(r, "packets"));
  if (u64(r, "fast_path_consumed") != 0) {
    o += fmt(" (%" PRIu64 " handled in a fast path only, the rest by the engine)",
             u64(r, "fast_path_consumed"));
  }
  o += "\n";
  if (!r["complete"].get<bool>()) o += "report: " + statusLine(r) + "\n";
  o += "packets by ct_state:\n";
  for (auto it = r["ct_state"].begin(); it != r["ct_state"].end(); ++it) {
    o += fmt("  %-16s %" PRIu64 "\n", it.key().c_str(), it.value().get<uint64_t>());
  }
  o += "packets by parser outcome:\n";
  for (auto it = r["outcomes"].begin(); it != r["outcomes"].end(); ++it) {
    o += fmt("  %-16s %" PRIu64 "\n", it.key().c_str(), it.value().get<uint64_t>());
  }
  const json& fr = r["fragments"];
  o += fmt("fragments: held %" PRIu64 ", reassembled %" PRIu64 ", too small %" PRIu64
           ", overlap %" PRIu64 "\n",
           u64(fr, "held"), u64(fr, "reassembled"), u64(fr, "ipf_too_small"),
           u64(fr, "ipf_overlap"));
  o += fmt("connections left in the table, by protocol and state (%" PRIu64
           " expired at the end):\n",
           u64(r, "connections_expired_at_end"));
  for (auto p = r["connections"].begin(); p != r["connections"].end(); ++p) {
    for (auto st = p.value().begin(); st != p.value().end(); ++st) {
      o += fmt("  %-8s %-16s %" PRIu64 "\n", p.key().c_str(), st.key().c_str(),
               st.value().get<uint64_t>());
    }
  }
  const json& e = r["engine"];
  o += fmt("engine: created %" PRIu64 ", removed %" PRIu64 ", limit drops %" PRIu64
           ", port reuse %" PRIu64 "\n",
           u64(e, "created"), u64(e, "removed"), u64(e, "limit_drops"), u64(e, "tcp_port_reuse"));
  if (r.contains("record_oddities") && !r["record_oddities"].empty()) {
    o += "records replayed despite oddities: " + joinCounts(r["record_oddities"]) + "\n";
  }
  if (r.contains("trace_error")) {
    o += fmt("trace ended at record %" PRIu64 ": %s\n", u64(r["trace_error"], "record"),
             r["trace_error"]["reason"].get<std::string>().c_str());
  }
  const json& t = r["throughput"];
  o += fmt("throughput (wall %.3f s): %s packets/s, %s connections/s, %s ops/s\n", num(t, "wall_s"),
           si(num(t, "packets_per_s")).c_str(), si(num(t, "connections_per_s")).c_str(),
           si(num(t, "ops_per_s")).c_str());
  if (!hasOffload(r)) return o;
  const json& off = r["offload"];
  const json& h = off["hooks"];
  o += fmt("offload (profile %s, netdev p0 port 1):\n", off["profile"].get<std::string>().c_str());
  o += fmt("  hook calls: conn_add %" PRIu64 " (%" PRIu64 " failed), conn_established %" PRIu64
           ", conn_del %" PRIu64 " of %" PRIu64 " removals (%" PRIu64
           " at the end flush), conn_update %" PRIu64 " (%" PRIu64 " kept) in %" PRIu64
           " batches, shutdown flush %" PRIu64 "\n",
           u64(h, "conn_add"), u64(h, "conn_add_failed"), u64(h, "conn_established"),
           u64(h, "conn_del"), u64(h, "conn_del_requested"), u64(h, "conn_del_at_end"),
           u64(h, "conn_update"), u64(h, "conn_update_kept"), u64(h, "update_batches"),
           u64(h, "shutdown_flushes"));
  for (auto it = off["errors"].begin(); it != off["errors"].end(); ++it) {
    o += "  " + it.key() + " errors: " + joinCounts(it.value()) + "\n";
  }
  for (const json& p : off["providers"]) {
    std::string calls;
    for (auto it = p["calls"].begin(); it != p["calls"].end(); ++it) {
      if (it.value().get<uint64_t>() == 0) continue;
      calls += (calls.empty() ? "" : ", ") + it.key() + " " + it.value().dump();
    }
    o += fmt("  provider %s (%s): %s\n", p["name"].get<std::string>().c_str(),
             p["origin"].get<std::string>().c_str(), calls.empty() ? "no calls" : calls.c_str());
    std::string lat;
    for (const char* cb : {"conn_add", "conn_del", "conn_update"}) {
      if (!p["call_latency_ns"].contains(cb)) continue;
      const json& l = p["call_latency_ns"][cb];
      lat += (lat.empty() ? "" : "; ") + std::string(cb) + " p50 " + l["p50"].dump() + " p99 " +
             l["p99"].dump() + " max " + l["max"].dump();
    }
    if (!lat.empty()) o += "    call latency (wall, ns): " + lat + "\n";
    o += providerTroubleLine(p, "    ");
  }
  if (!off["fast_paths"].empty()) {
    o += fmt("  packets handled in a fast path only: %" PRIu64 " (hit but sent up: %" PRIu64 ")\n",
             u64(off["fast_path_packets"], "consumed"), u64(off["fast_path_packets"], "sent_up"));
  }
  for (const json& f : off["fast_paths"]) {
    const json& occ = f["occupancy"];
    o += fmt("  fast path %s: hit ratio %.1f%% of packets, %.1f%% of bytes; entries peak %" PRIu64
             " of capacity %" PRIu64 ", %" PRIu64 " at the end\n",
             f["name"].get<std::string>().c_str(), 100 * num(f["hit_ratio"], "packets"),
             100 * num(f["hit_ratio"], "bytes"), u64(occ, "peak"), u64(occ, "capacity"),
             u64(occ, "entries"));
    const json& l = f["offload_latency_us"];
    o += fmt("    offload latency (first packet -> active, trace time, us): n %" PRIu64
             ", p50 %.1f, p90 %.1f, p99 %.1f, p99.9 %.1f, max %.1f\n",
             u64(l, "count"), num(l, "p50"), num(l, "p90"), num(l, "p99"), num(l, "p99.9"),
             num(l, "max"));
    std::string fails = joinCounts(f["failures"]);
    o += "    failures: " + (fails.empty() ? std::string("none") : fails) + "\n";
  }
  return o;
}

std::string renderMarkdown(const json& r) {
  std::string o;
  bool ok = r["complete"].get<bool>();
  o += fmt("### ctsim replay: `%s` %s\n\n", r["file"].get<std::string>().c_str(),
           ok ? "" : ("- **" + statusLine(r) + "**").c_str());
  const json& t = r["throughput"];
  const json& e = r["engine"];
  o += fmt("**%" PRIu64 " packets**, %" PRIu64
           " connections over %.3f s of trace time; wall %.3f "
           "s: **%s packets/s**, %s connections/s, %s ops/s",
           u64(r, "packets"), u64(e, "created"), num(r["trace_time"], "span_s"), num(t, "wall_s"),
           si(num(t, "packets_per_s")).c_str(), si(num(t, "connections_per_s")).c_str(),
           si(num(t, "ops_per_s")).c_str());
  if (u64(r, "runs") > 1) o += fmt(" (last of %" PRIu64 " runs)", u64(r, "runs"));
  o += ".";
  if (hasOffload(r)) o += " Profile `" + r["offload"]["profile"].get<std::string>() + "`.";
  if (!r["seed"].is_null()) o += " Seed " + r["seed"].dump() + ".";
  o += "\n\n";
  const json& acc = r["accounting"];
  o += "Packets: " + joinCounts(acc["buckets"]) +
       (acc["balanced"].get<bool>() ? " (every packet in exactly one bucket)"
                                    : " (**buckets do not add up**)") +
       ".\n\n";
  if (hasOffload(r)) {
    const json& off = r["offload"];
    if (!off["fast_paths"].empty()) {
      o += "| fast path | hit ratio (packets) | offload latency p50 / p90 / p99 / p99.9 / max "
           "(us, trace time) | peak / capacity | failures |\n|---|---|---|---|---|\n";
      for (const json& f : off["fast_paths"]) {
        const json& l = f["offload_latency_us"];
        std::string fails = joinCounts(f["failures"]);
        o += fmt("| %s | %.1f%% | %s / %s / %s / %s / %s (n=%" PRIu64 ") | %" PRIu64
                 " / %s | %s |\n",
                 f["name"].get<std::string>().c_str(), 100 * num(f["hit_ratio"], "packets"),
                 si(num(l, "p50")).c_str(), si(num(l, "p90")).c_str(), si(num(l, "p99")).c_str(),
                 si(num(l, "p99.9")).c_str(), si(num(l, "max")).c_str(), u64(l, "count"),
                 u64(f["occupancy"], "peak"),
                 u64(f["occupancy"], "capacity") == 0
                     ? "unlimited"
                     : std::to_string(u64(f["occupancy"], "capacity")).c_str(),
                 fails.empty() ? "none" : fails.c_str());
      }
      o += "\n";
    }
    o += "| provider | conn_add | conn_established | conn_del | conn_update | flush | conn_add "
         "p50 / p99 (ns, wall) |\n|---|---|---|---|---|---|---|\n";
    for (const json& p : off["providers"]) {
      const json& c = p["calls"];
      std::string lat = "-";
      if (p["call_latency_ns"].contains("conn_add")) {
        const json& l = p["call_latency_ns"]["conn_add"];
        lat = l["p50"].dump() + " / " + l["p99"].dump();
      }
      o +=
          fmt("| %s | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %s |\n",
              p["name"].get<std::string>().c_str(), u64(c, "conn_add"), u64(c, "conn_established"),
              u64(c, "conn_del"), u64(c, "conn_update"), u64(c, "flush"), lat.c_str());
    }
    o += "\n";
    for (const json& p : off["providers"]) o += providerTroubleLine(p, "");
    for (auto it = off["errors"].begin(); it != off["errors"].end(); ++it) {
      o += "Errors of " + it.key() + ": " + joinCounts(it.value()) + ".\n\n";
    }
  }
  if (r.contains("explain") && r["explain"].is_object()) {
    const json& e = r["explain"];
    o += fmt("### Why not offloaded\n\n%" PRIu64 " of %" PRIu64 " connections offloaded.\n\n",
             u64(e, "offloaded"), u64(e, "connections"));
    o += "| reason | connections | packets | example |\n|---|---|---|---|\n";
    for (const json& row : e["reasons"]) {
      o += fmt("| %s | %" PRIu64 " | %" PRIu64 " | `%s` |\n",
               row["reason"].get<std::string>().c_str(), u64(row, "connections"),
               u64(row, "packets"), row["example"].get<std::string>().c_str());
    }
    o += "\n";
    if (!e["disagreements"].empty()) {
      o += "| disagreement | connections | example |\n|---|---|---|\n";
      for (const json& d : e["disagreements"]) {
        o += fmt("| %s | %" PRIu64 " | `%s` |\n", d["kind"].get<std::string>().c_str(),
                 u64(d, "connections"), d["example"].get<std::string>().c_str());
      }
      o += "\n";
    }
  }
  o += "<details><summary>Details</summary>\n\n";
  o += "| input | records | sha256 |\n|---|---|---|\n";
  for (const json& in : r["inputs"]) {
    o += fmt("| %s | %" PRIu64 " | `%s` |\n", in["name"].get<std::string>().c_str(),
             u64(in, "records"), in["sha256"].get<std::string>().substr(0, 16).c_str());
  }
  o += "\nConnections created: ";
  std::string created;
  for (auto p = r["conntrack"]["created"].begin(); p != r["conntrack"]["created"].end(); ++p) {
    uint64_t n = 0;
    for (auto s = p.value().begin(); s != p.value().end(); ++s) n += s.value().get<uint64_t>();
    created += (created.empty() ? "" : ", ") + p.key() + " " + std::to_string(n);
  }
  o += (created.empty() ? "none" : created) + ". Removed: ";
  std::string removed;
  for (auto rs = r["conntrack"]["removed"].begin(); rs != r["conntrack"]["removed"].end(); ++rs) {
    uint64_t n = 0;
    for (auto p = rs.value().begin(); p != rs.value().end(); ++p) {
      for (auto s = p.value().begin(); s != p.value().end(); ++s) n += s.value().get<uint64_t>();
    }
    removed += (removed.empty() ? "" : ", ") + rs.key() + " " + std::to_string(n);
  }
  o += (removed.empty() ? "none" : removed) +
       ". Invalid packets: " + r["conntrack"]["invalid"]["ct_state_invalid"].dump() +
       (r["conntrack"]["invalid"].value("by_reason", json::object()).empty()
            ? std::string()
            : " by reason: " + joinCounts(r["conntrack"]["invalid"]["by_reason"])) +
       " (parser: " +
       (r["conntrack"]["invalid"]["parser"].empty()
            ? std::string("all parsed")
            : joinCounts(r["conntrack"]["invalid"]["parser"])) +
       ").\n\n";
  o += "Command: `" + commandLine(r) + "`\n\n</details>\n";
  return o;
}

std::string renderHtml(const json& r, const std::string& chart_js) {
  std::string title = "ctsim replay: " + r["file"].get<std::string>();
  std::string o;
  o += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
       htmlEscape(title) + "</title>\n";
  o += R"(<style>
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1.2em}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em}
.card h3{margin:.2em 0 .5em;font-size:1em}
.chart{position:relative;height:300px}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}
.warn{background:#fee;border:1px solid #c00;padding:.5em}
pre{background:#f6f6f6;padding:.6em;overflow:auto;white-space:pre-wrap}
</style>
)";
  o += "<script>window.ctsimErrors=[];window.addEventListener('error',function(e){"
       "window.ctsimErrors.push(String(e.message));});</script>\n";
  o += "<script>/* Chart.js, inlined from Debian's libjs-chart.js */\n" + scriptSafe(chart_js) +
       "\n</script>\n";
  o += "<script id=\"report\" type=\"application/json\">" + scriptSafe(r.dump()) + "</script>\n";
  o += "</head><body>\n<h1>" + htmlEscape(title) + "</h1>\n";
  if (!r["complete"].get<bool>()) {
    o += "<p class=\"warn\">This report is incomplete: the replay was " +
         htmlEscape(statusLine(r)) + ".</p>\n";
  }
  o += "<pre>" + htmlEscape(renderText(r)) + "</pre>\n";
  o += R"(<div class="grid">
<div class="card"><h3>Offload latency CDF per provider (first packet to entry active, trace time)</h3><div class="chart"><canvas id="chart-offload-cdf"></canvas></div></div>
<div class="card"><h3>Occupancy and hit ratio over trace time</h3><div class="chart"><canvas id="chart-occupancy"></canvas></div></div>
<div class="card"><h3>Packets, connections and offload ops per second of trace time</h3><div class="chart"><canvas id="chart-rates"></canvas></div></div>
<div class="card"><h3>Failures by cause</h3><div class="chart"><canvas id="chart-failures"></canvas></div></div>
<div class="card"><h3>Why connections were not offloaded (primary reason)</h3><div class="chart"><canvas id="chart-reasons"></canvas></div></div>
<div class="card"><h3>Disagreements between hardware and software</h3><div id="disagreements"></div></div>
</div>
<p id="ctsim-status"></p>
<script>
(function () {
  var R = JSON.parse(document.getElementById('report').textContent);
  var colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf'];
  var off = R.offload || {fast_paths: [], providers: [], errors: {}};
  var t0 = R.timeline.rows.length ? R.timeline.rows[0][0] : 0;
  var step = R.timeline.interval_ns / 1e9;
  function secs(ns) { return (ns - t0) / 1e9; }
  function lin(title) { return {type: 'linear', title: {display: true, text: title}}; }
  var base = {animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
              normalized: true, plugins: {legend: {position: 'bottom'}}};
  function opts(scales) { return Object.assign({}, base, {scales: scales}); }
  var charts = [];
  // 1. Offload latency CDF.
  charts.push(new Chart(document.getElementById('chart-offload-cdf'), {
    type: 'line',
    data: {datasets: off.fast_paths.map(function (f, i) {
      return {label: f.name, stepped: true, pointRadius: 0, borderColor: colors[i % 7],
              data: f.offload_latency_us.cdf.map(function (p) { return {x: p[0], y: p[1]}; })};
    })},
    options: opts({x: lin('us'), y: Object.assign(lin('fraction of connections'), {min: 0, max: 1})})
  }));
  // 2. Occupancy per fast path and hit ratio per timeline bucket.
  var occ = [];
  off.fast_paths.forEach(function (f, i) {
    occ.push({label: f.name + ' entries', pointRadius: 0, borderColor: colors[i % 7], yAxisID: 'y',
              data: f.occupancy.series.map(function (s) { return {x: secs(s[0]), y: s[1]}; })});
  });
  occ.push({label: 'hit ratio (all fast paths)', pointRadius: 0, borderColor: '#555',
            borderDash: [4, 3], yAxisID: 'y1',
            data: R.timeline.rows.filter(function (b) { return b[1] > 0; }).map(function (b) {
              return {x: secs(b[0]), y: b[3] / b[1]}; })});
  charts.push(new Chart(document.getElementById('chart-occupancy'), {
    type: 'line', data: {datasets: occ},
    options: opts({x: lin('trace time (s)'), y: Object.assign(lin('entries'), {min: 0}),
                   y1: Object.assign(lin('hit ratio'), {min: 0, max: 1, position: 'right',
                                                        grid: {drawOnChartArea: false}})})
  }));
  // 3. Rates per second of trace time.
  function rate(col) {
    return R.timeline.rows.map(function (b) { return {x: secs(b[0]), y: b[col] / step}; });
  }
  charts.push(new Chart(document.getElementById('chart-rates'), {
    type: 'line',
    data: {datasets: [
      {label: 'packets/s', pointRadius: 0, borderColor: colors[0], data: rate(1)},
      {label: 'new connections/s', pointRadius: 0, borderColor: colors[2], data: rate(4)},
      {label: 'offload ops/s', pointRadius: 0, borderColor: colors[1], data: rate(6)}]},
    options: opts({x: lin('trace time (s)'), y: Object.assign(lin('per second'), {min: 0})})
  }));
  // 4. Failures by cause: fast path failures, then hook errors.
  var labels = [], values = [];
  off.fast_paths.forEach(function (f) {
    Object.keys(f.failures).forEach(function (k) { labels.push(f.name + ': ' + k); values.push(f.failures[k]); });
  });
  Object.keys(off.errors).forEach(function (op) {
    Object.keys(off.errors[op]).forEach(function (k) { labels.push(op + ': ' + k); values.push(off.errors[op][k]); });
  });
  if (labels.length === 0) { labels.push('no failures'); values.push(0); }
  charts.push(new Chart(document.getElementById('chart-failures'), {
    type: 'bar',
    data: {labels: labels, datasets: [{label: 'failures', backgroundColor: colors[1], data: values}]},
    options: Object.assign({}, base, {parsing: true, indexAxis: 'y'})
  }));
  // 5. Primary reasons of the connections not offloaded, and the disagreements as a table.
  var ex = R.explain || {reasons: [], disagreements: []};
  var rl = ex.reasons.map(function (r) { return r.reason; });
  var rv = ex.reasons.map(function (r) { return r.connections; });
  if (rl.length === 0) { rl.push(R.explain ? 'every connection offloaded' : 'no lifecycles'); rv.push(0); }
  charts.push(new Chart(document.getElementById('chart-reasons'), {
    type: 'bar',
    data: {labels: rl, datasets: [{label: 'connections', backgroundColor: colors[0], data: rv}]},
    options: Object.assign({}, base, {parsing: true, indexAxis: 'y'})
  }));
  var dt = document.getElementById('disagreements');
  function cell(tag, text) { var c = document.createElement(tag); c.textContent = text; return c; }
  if (ex.disagreements.length === 0) {
    dt.appendChild(cell('p', R.explain ? 'none' : 'no lifecycles (replayed with --no-lifecycles)'));
  } else {
    var t = document.createElement('table'), h = document.createElement('tr');
    ['kind', 'connections', 'example', 'meaning'].forEach(function (x) { h.appendChild(cell('th', x)); });
    t.appendChild(h);
    ex.disagreements.forEach(function (d) {
      var tr = document.createElement('tr');
      [d.kind, String(d.connections), d.example, d.description].forEach(function (x) {
        tr.appendChild(cell('td', x)); });
      t.appendChild(tr);
    });
    dt.appendChild(t);
  }
  // Marker for automated checks: charts drawn (non-blank canvas) of charts made.
  var drawn = 0;
  charts.forEach(function (c) {
    var ctx = c.canvas.getContext('2d');
    var px = ctx.getImageData(0, 0, c.canvas.width, c.canvas.height).data;
    for (var i = 3; i < px.length; i += 4) { if (px[i] !== 0) { drawn++; break; } }
  });
  var s = document.getElementById('ctsim-status');
  s.setAttribute('data-charts', String(charts.length));
  s.setAttribute('data-drawn', String(drawn));
  s.setAttribute('data-errors', String(window.ctsimErrors.length));
  s.textContent = 'charts drawn: ' + drawn + ' of ' + charts.length;
})();
</script>
)";
  o += "<p>Report schema " + htmlEscape(r["schema"].get<std::string>()) + " v" +
       r["version"].dump() + "; command: <code>" + htmlEscape(commandLine(r)) +
       "</code></p>\n</body></html>\n";
  return o;
}

CompareResult compareReports(const json& base, const json& next, const CompareOptions& opt) {
  struct Row {
    std::string name, line;
    int order;  // 0 regression, 1 improvement, 2 other moves.
  };
  std::vector<Row> rows;
  CompareResult out;
  auto stats = [](const json& values, double* med, double* lo, double* hi) {
    std::vector<double> v;
    for (const json& x : values) v.push_back(x.get<double>());
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    *med = n == 0 ? 0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
    *lo = n == 0 ? 0 : v.front();
    *hi = n == 0 ? 0 : v.back();
    return n;
  };
  auto show = [](double med, double lo, double hi, size_t n) {
    if (n <= 1) return si(med);
    double spread = med == 0 ? 0 : (hi - lo) / std::fabs(med) * 100;
    return si(med) + fmt(" ±%.1f%% (n=%zu)", spread / 2, n);
  };
  const json& bm = base["metrics"];
  const json& nm = next["metrics"];
  for (auto it = bm.begin(); it != bm.end(); ++it) {
    if (!nm.contains(it.key())) continue;
    const json& b = it.value();
    const json& n = nm[it.key()];
    if (opt.skip_wall && b["clock"] == "wall") continue;
    double bmed, blo, bhi, nmed, nlo, nhi;
    size_t bn = stats(b["values"], &bmed, &blo, &bhi);
    size_t nn = stats(n["values"], &nmed, &nlo, &nhi);
    double change = bmed == nmed ? 0 : (bmed == 0 ? INFINITY : (nmed - bmed) / std::fabs(bmed));
    if (std::fabs(change) < 0.001) continue;  // did not move.
    std::string better = b["better"].get<std::string>();
    double bad = better == "lower" ? change : better == "higher" ? -change : 0;
    std::string verdict;
    int order = 2;
    // Beyond the threshold and, with repetitions on both sides, outside the other side's range.
    bool separated = bn < 2 || nn < 2 || (better == "lower" ? nlo > bhi : nhi < blo);
    bool good_separated = bn < 2 || nn < 2 || (better == "lower" ? nhi < blo : nlo > bhi);
    if (better == "none") {
      verdict = "changed";
    } else if (bad > opt.threshold && separated) {
      verdict = "**regression**";
      order = 0;
      out.regressions.push_back(it.key());
    } else if (-bad > opt.threshold && good_separated) {
      verdict = "improvement";
      order = 1;
    } else {
      verdict = "within threshold/noise";
    }
    std::string pct = std::isinf(change) ? "new" : fmt("%+.1f%%", change * 100);
    rows.push_back({it.key(),
                    "| " + it.key() + " | " + show(bmed, blo, bhi, bn) + " | " +
                        show(nmed, nlo, nhi, nn) + " | " + pct + " | " +
                        b["unit"].get<std::string>() + ", " + b["clock"].get<std::string>() +
                        (better == "none" ? "" : ", " + better + " is better") + " | " + verdict +
                        " |\n",
                    order});
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.order < b.order; });
  std::string& o = out.markdown;
  o += fmt("### ctsim report compare (threshold %.1f%%)\n\n", opt.threshold * 100);
  auto shas = [](const json& r) {
    std::string s;
    for (const json& in : r["inputs"]) s += in["sha256"].get<std::string>();
    return s;
  };
  if (shas(base) != shas(next)) o += "Note: the two reports replayed different inputs.\n\n";
  if (!next["complete"].get<bool>()) o += "Note: the new report is incomplete.\n\n";
  if (rows.empty()) {
    o += "Nothing moved.\n\n";
  } else {
    o += "| metric | base | new | change | unit | verdict |\n|---|---|---|---|---|---|\n";
    for (const Row& r : rows) o += r.line;
    o += "\n";
  }
  o += out.regressions.empty()
           ? std::string("No regression beyond the threshold.\n")
           : fmt("**%zu regression(s)** beyond the threshold.\n", out.regressions.size());
  return out;
}

}  // namespace ctsim::reports

#include "properties/script.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/parser.h"
#include "sim/pcap_writer.h"
#include "sim/trace_reader.h"

namespace ctsim::props {

namespace fs = std::filesystem;

Status writeScript(const Scenario& sc, const std::string& script_path, const std::string& pcap_path,
                   const std::vector<std::string>& expect) {
  auto w = PcapWriter::create(pcap_path, kLinkEthernet);
  if (!w.ok()) return w.status();
  std::ostringstream o;
  o << "ctsim-script 1\n";
  o << "# replay: ctsim replay --script " << fs::path(script_path).filename().string() << "\n";
  const RunConfig& c = sc.config;
  o << "profile " << profileName(c.profile) << "\n";
  o << "sweep-interval " << c.sweep_interval_ms << "\n";
  if (c.conn_limit != RunConfig().conn_limit) o << "conn-limit " << c.conn_limit << "\n";
  for (const auto& [z, n] : c.zone_limits) o << "zone-limit " << z << " " << n << "\n";
  if (!c.tcp_seq_check) o << "tcp-seq-check off\n";
  if (c.batch_hooks) o << "batch-hooks on\n";
  for (const std::string& p : c.providers) o << "provider " << p << "\n";
  bool same_dir = fs::path(script_path).parent_path() == fs::path(pcap_path).parent_path();
  o << "pcap " << (same_dir ? fs::path(pcap_path).filename().string() : pcap_path) << "\n";
  o << "start " << sc.start_ns << "\n";
  int64_t now_ns = sc.start_ns;
  for (const Step& s : sc.steps) {
    switch (s.kind) {
      case Step::Kind::kPacket:
        now_ns += s.ms * 1000000;
        w.value()->write(now_ns, s.frame.data(), uint32_t(s.frame.size()));
        o << "packet " << s.ms << "\n";
        break;
      case Step::Kind::kAdvance:
        now_ns += s.ms * 1000000;
        o << "advance " << s.ms << "\n";
        break;
      case Step::Kind::kSweep:
        o << "sweep\n";
        break;
      case Step::Kind::kFlush:
        o << "flush\n";
        break;
      case Step::Kind::kFlushZone:
        o << "flush-zone " << s.zone << "\n";
        break;
      case Step::Kind::kRegister:
        o << "register " << s.arg << "\n";
        break;
      case Step::Kind::kUnregister:
        o << "unregister " << s.arg << "\n";
        break;
      case Step::Kind::kFault:
        o << "fault " << s.arg << " add_error=" << s.faults.add_error
          << " add_count=" << s.faults.add_error_left << " upd_zero=" << s.faults.upd_zero_left
          << " refuse=" << (s.faults.refuse ? 1 : 0) << "\n";
        break;
    }
  }
  for (const std::string& e : expect) o << "expect " << e << "\n";
  Status st = w.value()->close();
  if (!st.ok()) return st;
  std::ofstream out(script_path);
  out << o.str();
  out.close();
  if (!out) return Status(EIO, "cannot write " + script_path);
  return Status();
}

namespace {

template <typename T>
bool parseNum(const std::string& s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<Scenario> readScript(const std::string& script_path, std::vector<std::string>* expect) {
  std::ifstream in(script_path);
  if (!in) return Status(ENOENT, script_path + ": cannot open");
  Scenario sc;
  std::string line, pcap;
  int lineno = 0;
  std::vector<std::pair<int, Step>> steps;  // line number, step (packets without frames yet).
  auto bad = [&](const std::string& why) {
    return Status(EINVAL, script_path + ":" + std::to_string(lineno) + ": " + why);
  };
  bool header = false;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream ls(line);
    std::string word;
    if (!(ls >> word)) continue;
    std::vector<std::string> args;
    for (std::string a; ls >> a;) args.push_back(a);
    auto num = [&](size_t i, auto* out) { return i < args.size() && parseNum(args[i], out); };
    if (!header) {
      if (word != "ctsim-script" || args.size() != 1 || args[0] != "1") {
        return bad("expected 'ctsim-script 1'");
      }
      header = true;
      continue;
    }
    Step st;
    if (word == "profile" && args.size() == 1) {
      auto p = parseProfile(args[0]);
      if (!p.ok()) return bad(p.status().message());
      sc.config.profile = p.value();
    } else if (word == "sweep-interval" && num(0, &sc.config.sweep_interval_ms)) {
    } else if (word == "conn-limit" && num(0, &sc.config.conn_limit)) {
    } else if (word == "zone-limit" && args.size() == 2) {
      uint16_t z = 0;
      uint32_t n = 0;
      if (!num(0, &z) || !num(1, &n)) return bad("zone-limit ZONE N");
      sc.config.zone_limits[z] = n;
    } else if (word == "tcp-seq-check" && args.size() == 1 &&
               (args[0] == "on" || args[0] == "off")) {
      sc.config.tcp_seq_check = args[0] == "on";
    } else if (word == "batch-hooks" && args.size() == 1 && (args[0] == "on" || args[0] == "off")) {
      sc.config.batch_hooks = args[0] == "on";
    } else if (word == "provider" && args.size() == 1) {
      sc.config.providers.push_back(args[0]);
    } else if (word == "pcap" && args.size() == 1) {
      pcap = args[0];
    } else if (word == "start" && num(0, &sc.start_ns)) {
    } else if (word == "packet" && (args.empty() || num(0, &st.ms))) {
      st.kind = Step::Kind::kPacket;
      steps.emplace_back(lineno, st);
    } else if (word == "advance" && num(0, &st.ms)) {
      st.kind = Step::Kind::kAdvance;
      steps.emplace_back(lineno, st);
    } else if (word == "sweep" && args.empty()) {
      st.kind = Step::Kind::kSweep;
      steps.emplace_back(lineno, st);
    } else if (word == "flush" && args.empty()) {
      st.kind = Step::Kind::kFlush;
      steps.emplace_back(lineno, st);
    } else if (word == "flush-zone" && num(0, &st.zone)) {
      st.kind = Step::Kind::kFlushZone;
      steps.emplace_back(lineno, st);
    } else if ((word == "register" || word == "unregister") && args.size() == 1) {
      st.kind = word == "register" ? Step::Kind::kRegister : Step::Kind::kUnregister;
      st.arg = args[0];
      steps.emplace_back(lineno, st);
    } else if (word == "fault" && !args.empty()) {
      st.kind = Step::Kind::kFault;
      st.arg = args[0];
      for (size_t i = 1; i < args.size(); ++i) {
        size_t eq = args[i].find('=');
        std::string k = args[i].substr(0, eq),
                    v = eq == std::string::npos ? "" : args[i].substr(eq + 1);
        int refuse = 0;
        bool ok = (k == "add_error" && parseNum(v, &st.faults.add_error)) ||
                  (k == "add_count" && parseNum(v, &st.faults.add_error_left)) ||
                  (k == "upd_zero" && parseNum(v, &st.faults.upd_zero_left)) ||
                  (k == "refuse" && parseNum(v, &refuse));
        if (!ok) return bad("bad fault option '" + args[i] + "'");
        if (k == "refuse") st.faults.refuse = refuse != 0;
      }
      steps.emplace_back(lineno, st);
    } else if (word == "expect" && args.size() == 1) {
      if (expect != nullptr) expect->push_back(args[0]);
    } else {
      return bad("unknown or malformed line '" + word + "'");
    }
  }
  if (!header) return Status(EINVAL, script_path + ": empty script");
  std::unique_ptr<TraceReader> reader;
  if (!pcap.empty()) {
    fs::path p(pcap);
    if (p.is_relative()) p = fs::path(script_path).parent_path() / p;
    auto r = TraceReader::open(p.string());
    if (!r.ok()) return Status(r.status().code(), p.string() + ": " + r.status().message());
    reader = std::move(r).value();
  }
  int64_t now_ns = sc.start_ns;
  for (auto& [ln, st] : steps) {
    lineno = ln;
    if (st.kind == Step::Kind::kPacket) {
      TraceRecord rec;
      if (!reader || !reader->next(rec)) return bad("packet step without a pcap record");
      st.frame.assign(rec.data, rec.data + rec.caplen);
      st.ms = rec.ts_ns > now_ns ? (rec.ts_ns - now_ns) / 1000000 : 0;
      now_ns += st.ms * 1000000;
    } else if (st.kind == Step::Kind::kAdvance) {
      now_ns += st.ms * 1000000;
    }
    sc.steps.push_back(std::move(st));
  }
  return sc;
}

Status runScript(const std::string& script_path, ScriptOutcome* out,
                 const ProviderFactory& factory) {
  std::vector<std::string> expect;
  auto sc = readScript(script_path, &expect);
  if (!sc.ok()) return sc.status();
  auto rep = runScenario(sc.value(), factory);
  if (!rep.ok()) return rep.status();
  out->report = std::move(rep).value();
  out->expected = expect;
  std::set<std::string> got = out->report.violated();
  out->reproduced = !expect.empty();
  for (const std::string& e : expect) out->reproduced &= got.count(e) > 0;
  return Status();
}

Result<std::string> saveCounterexample(const Scenario& scenario, const std::string& name,
                                       const std::vector<std::string>& expect, std::string dir) {
  if (dir.empty()) {
    const char* env = std::getenv("CTSIM_COUNTEREXAMPLE_DIR");
    dir = env != nullptr && *env != '\0' ? env : fs::temp_directory_path().string();
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string script = (fs::path(dir) / (name + ".script")).string();
  std::string pcap = (fs::path(dir) / (name + ".pcap")).string();
  Status st = writeScript(scenario, script, pcap, expect);
  if (!st.ok()) return st;
  return script;
}

}  // namespace ctsim::props

#include "properties/conformance.h"

#include <fnmatch.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "properties/harness.h"
#include "properties/invariants.h"
#include "properties/script.h"
#include "properties/workload.h"
#include "providers/builtin.h"
#include "providers/conn.h"
#include "providers/plugin_loader.h"
#include "sim/parser.h"
#include "sim/pcap_writer.h"
#include "sim/trace_reader.h"
#include "traces/generator.h"

#ifndef CTSIM_BUNDLED_TRACE
#define CTSIM_BUNDLED_TRACE "traces/bundled/mixed-small.pcap"
#endif

namespace ctsim::props {

namespace {

namespace fs = std::filesystem;

constexpr const char* kUut = "@uut";  // the provider under test, in scenario provider lists.

// A test's verdict, built by the test body.
struct Verdict {
  TestOutcome outcome = TestOutcome::kPass;
  std::string message;
  static Verdict pass() { return {}; }
  static Verdict fail(std::string m) { return {TestOutcome::kFail, std::move(m)}; }
  static Verdict skip(std::string m) { return {TestOutcome::kSkip, std::move(m)}; }
};

// Records every call of a wrapped provider.
class Log final : public CallSink {
 public:
  std::mutex mu;                    // guards calls (dispatch may run on several threads).
  std::vector<ProviderCall> calls;  // every call, in order.
  void onCall(RecordingProvider&, const ProviderCall& c) override {
    std::lock_guard lock(mu);
    calls.push_back(c);
  }
  size_t count(CallOp op, const ::conn* c = nullptr) const {
    size_t n = 0;
    for (const ProviderCall& x : calls) n += x.op == op && (c == nullptr || x.conn == c);
    return n;
  }
  // Of those, the ops of batches (ProviderCall::in_batch).
  size_t countInBatch(CallOp op) const {
    size_t n = 0;
    for (const ProviderCall& x : calls) n += x.op == op && x.in_batch;
    return n;
  }
};

// Connections for direct dispatch (no engine): UDP 10.0.0.1:(3000+i) -> 10.0.0.2:53.
std::vector<std::unique_ptr<::conn>> makeConns(int n) {
  std::vector<std::unique_ptr<::conn>> out;
  for (int i = 0; i < n; ++i) {
    auto c = std::make_unique<::conn>();
    c->key_fwd.af = CTSIM_AF_INET;
    c->key_fwd.proto = 17;
    uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
    std::memcpy(c->key_fwd.src, a, 4);
    std::memcpy(c->key_fwd.dst, b, 4);
    c->key_fwd.ports.src = uint16_t(3000 + i);
    c->key_fwd.ports.dst = 53;
    c->state = CTSIM_CS_OTHER_FIRST;
    out.push_back(std::move(c));
  }
  return out;
}

// A registry with the provider under test (and optional peers) for direct dispatch.
struct Bench {
  std::unique_ptr<Registry> reg;
  RecordingProvider* uut = nullptr;  // owned by reg.
  Log log;                           // the provider under test's calls.
  long long now = 5000;              // the registry clock (ms).
  ::netdev dev;                      // input netdev p0, port 1.
  std::vector<std::unique_ptr<::conn>> conns;
  // Direct calls to the provider (outside a dispatch) see this registry's clock through
  // ctsim_now_ms(), as calls from the engine do; without it "now" would read 0 there, and a
  // provider answering conn_update with "now" for any connection would pass as answering 0.
  std::optional<ScopedCurrentRegistry> current;

  static long long clock(void* self) { return static_cast<Bench*>(self)->now; }
  ct_offload_ctx ctx(size_t i, bool with_dev = true) {
    return makeCtx(*conns[i], with_dev ? &dev : nullptr);
  }
};

}  // namespace

const char* testOutcomeName(TestOutcome o) {
  switch (o) {
    case TestOutcome::kPass:
      return "PASS";
    case TestOutcome::kFail:
      return "FAIL";
    case TestOutcome::kSkip:
      return "SKIP";
  }
  return "?";
}

size_t ConformanceReport::count(TestOutcome o) const {
  size_t n = 0;
  for (const TestResult& t : tests) n += t.outcome == o;
  return n;
}

std::string xmlEscape(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (ch < 0x20 && ch != '\n' && ch != '\t' && ch != '\r') {
          out += "?";  // not representable in XML 1.0.
        } else {
          out += char(ch);
        }
    }
  }
  return out;
}

std::string formatSummary(const ConformanceReport& r) {
  std::string out = "conformance: provider " + r.provider + ", profile " + profileName(r.profile) +
                    ", seed " + std::to_string(r.seed) + "\n";
  for (const TestResult& t : r.tests) {
    out += std::string(testOutcomeName(t.outcome)) + "  " + t.name;
    if (!t.message.empty()) out += "  -- " + t.message;
    out += "\n";
  }
  size_t inv = 0;
  for (const TestResult& t : r.tests) inv += t.name.rfind("invariant.", 0) == 0;
  out += std::to_string(r.tests.size()) + " tests (" + std::to_string(inv) +
         " invariants): " + std::to_string(r.count(TestOutcome::kPass)) + " passed, " +
         std::to_string(r.count(TestOutcome::kFail)) + " failed, " +
         std::to_string(r.count(TestOutcome::kSkip)) + " skipped\n";
  return out;
}

std::string junitXml(const ConformanceReport& r) {
  std::map<std::string, std::vector<const TestResult*>> groups;
  std::vector<std::string> order;
  for (const TestResult& t : r.tests) {
    std::string g = t.name.substr(0, t.name.find('.'));
    if (!groups.count(g)) order.push_back(g);
    groups[g].push_back(&t);
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<testsuites name=\"ctsim-conformance\" tests=\"" + std::to_string(r.tests.size()) +
         "\" failures=\"" + std::to_string(r.count(TestOutcome::kFail)) + "\" skipped=\"" +
         std::to_string(r.count(TestOutcome::kSkip)) + "\">\n";
  for (const std::string& g : order) {
    const auto& ts = groups[g];
    size_t fail = 0, skip = 0;
    double secs = 0;
    for (const TestResult* t : ts) {
      fail += t->outcome == TestOutcome::kFail;
      skip += t->outcome == TestOutcome::kSkip;
      secs += t->seconds;
    }
    out += "  <testsuite name=\"" + xmlEscape(g) + "\" tests=\"" + std::to_string(ts.size()) +
           "\" failures=\"" + std::to_string(fail) + "\" skipped=\"" + std::to_string(skip) +
           "\" errors=\"0\" time=\"" + std::to_string(secs) + "\">\n";
    out += "    <properties>\n      <property name=\"provider\" value=\"" + xmlEscape(r.provider) +
           "\"/>\n      <property name=\"profile\" value=\"" + profileName(r.profile) +
           "\"/>\n      <property name=\"seed\" value=\"" + std::to_string(r.seed) +
           "\"/>\n    </properties>\n";
    for (const TestResult* t : ts) {
      out += "    <testcase classname=\"conformance." + xmlEscape(g) + "\" name=\"" +
             xmlEscape(t->name) + "\" time=\"" + std::to_string(t->seconds) + "\"";
      if (t->outcome == TestOutcome::kPass) {
        out += "/>\n";
        continue;
      }
      out += ">\n";
      if (t->outcome == TestOutcome::kFail) {
        out += "      <failure message=\"" + xmlEscape(t->message) + "\">" +
               xmlEscape(t->clause + "\n" + t->message) + "</failure>\n";
      } else {
        out += "      <skipped message=\"" + xmlEscape(t->message) + "\"/>\n";
      }
      out += "    </testcase>\n";
    }
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

namespace {

// Everything one conformance run shares.
class Suite {
 public:
  explicit Suite(const ConformanceOptions& o) : opt_(o), rng_(o.seed) {}

  Status setUp();
  ConformanceReport run();

 private:
  using Body = std::function<Verdict()>;
  void test(const std::string& name, const std::string& clause, const Body& body);
  bool selected(const std::string& name) const;
  Result<ProviderHandle> makeUut();
  ProviderFactory factory();
  // A fresh bench with the provider under test (peers registered first, by spec).
  std::unique_ptr<Bench> bench(Profile profile, const std::vector<std::string>& peers = {},
                               int conns = 4);
  void contractTests();
  void invariantRuns();
  void invariantTests();
  void runNamed(const std::string& name, const Scenario& sc);
  void runCaptureNamed(const std::string& name, const std::string& path);

  ConformanceOptions opt_;
  std::mt19937_64 rng_;
  ConformanceReport report_;
  std::unique_ptr<Registry> holder_;  // owns a loaded plug-in's providers.
  Provider* borrowed_ = nullptr;      // the plug-in provider under test.
  CallbackMask uut_mask_ = 0;         // the provider under test's callbacks.
  bool uut_fast_path_ = false;        // it has a fast path.
  uint64_t uut_capacity_ = 0;         // its fast path's capacity (0: none/unlimited).
  std::string uut_name_;              // its provider name.
  // Violations per invariant over every run, with the run that first showed each.
  std::map<std::string, uint64_t> counts_;
  std::map<std::string, std::string> first_;
  std::vector<std::string> trace_runs_;          // trace.* tests to report.
  std::map<std::string, std::string> run_fail_;  // trace run -> failure message ("" = ok).
  uint64_t consumed_ = 0;                        // packets consumed by fast paths in all runs.
};

bool Suite::selected(const std::string& name) const {
  if (opt_.filter.empty()) return true;
  if (opt_.filter.find_first_of("*?[") != std::string::npos) {
    return fnmatch(opt_.filter.c_str(), name.c_str(), 0) == 0;
  }
  return name.find(opt_.filter) != std::string::npos;
}

void Suite::test(const std::string& name, const std::string& clause, const Body& body) {
  if (!selected(name)) return;
  auto t0 = std::chrono::steady_clock::now();
  Verdict v = body();
  TestResult r;
  r.name = name;
  r.clause = clause;
  r.outcome = v.outcome;
  r.message = v.message;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report_.tests.push_back(std::move(r));
}

Result<ProviderHandle> Suite::makeUut() {
  if (borrowed_ != nullptr) return ProviderHandle{nullptr, borrowed_};
  auto h = defaultProviderFactory()(opt_.provider_spec);
  return h;
}

ProviderFactory Suite::factory() {
  return [this](const std::string& spec) -> Result<ProviderHandle> {
    if (spec == kUut) return makeUut();
    return defaultProviderFactory()(spec);
  };
}

Status Suite::setUp() {
  if (!opt_.provider_libs.empty()) {
    holder_ = std::make_unique<Registry>(Profile::kRfcV1);
    holder_->setLogSink(nullptr, nullptr);
    Status st = loadProviderLibraries(*holder_, opt_.provider_libs);
    if (!st.ok()) return st;
    auto objs = holder_->providerObjects();
    if (objs.empty()) return Status(ENOENT, "the provider library registered no provider");
    borrowed_ = objs.front();
  } else if (opt_.provider_spec.empty()) {
    return Status(EINVAL, "give --provider or --provider-lib");
  }
  auto h = makeUut();
  if (!h.ok()) return h.status();
  Provider* p = h.value().owned ? h.value().owned.get() : h.value().borrowed;
  uut_mask_ = p->callbacks();
  uut_name_ = p->name() ? p->name() : "";
  if (FastPath* fp = fastPathOf(*p)) {
    uut_fast_path_ = true;
    uut_capacity_ = fp->stats().capacity;
  }
  report_.provider = borrowed_ ? opt_.provider_libs.front() : opt_.provider_spec;
  report_.profile = opt_.profile;
  report_.seed = opt_.seed;
  return Status();
}

std::unique_ptr<Bench> Suite::bench(Profile profile, const std::vector<std::string>& peers,
                                    int conns) {
  auto b = std::make_unique<Bench>();
  b->reg = std::make_unique<Registry>(profile);
  b->reg->setLogSink(nullptr, nullptr);
  b->reg->setClock(&Bench::clock, b.get());
  b->dev.name = "p0";
  b->dev.port = 1;
  b->conns = makeConns(conns);
  for (const std::string& spec : peers) {
    auto h = defaultProviderFactory()(spec);
    if (!h.ok()) return nullptr;
    ProviderHandle ph = std::move(h).value();
    Provider* inner = ph.borrowed;
    b->reg->registerProvider(
        std::make_unique<RecordingProvider>(std::move(ph.owned), inner, nullptr), kOriginProgram);
  }
  auto h = makeUut();
  if (!h.ok()) return nullptr;
  ProviderHandle ph = std::move(h).value();
  Provider* inner = ph.borrowed;
  auto w = std::make_unique<RecordingProvider>(std::move(ph.owned), inner, &b->log);
  RecordingProvider* raw = w.get();
  if (b->reg->registerProvider(std::move(w), kOriginProgram) != 0) return nullptr;
  b->uut = raw;
  b->current.emplace(b->reg.get());
  return b;
}

bool has(CallbackMask m, Callback c) { return (m & bit(c)) != 0; }

void Suite::contractTests() {
  const Profile prof = opt_.profile;
  const std::string setup_fail = "the provider could not be registered in a fresh registry";

  test("contract.class.name-required", "Unique name within a registry; required.", [&] {
    if (uut_name_.empty()) return Verdict::fail("the provider has no name");
    auto b = bench(prof);
    if (!b) return Verdict::fail(setup_fail);
    auto h = makeUut();
    if (!h.ok()) return Verdict::fail(h.status().message());
    ProviderHandle ph = std::move(h).value();
    Provider* inner = ph.borrowed;
    int err = b->reg->registerProvider(
        std::make_unique<RecordingProvider>(std::move(ph.owned), inner, nullptr), kOriginProgram);
    if (err != EEXIST) {
      return Verdict::fail("a second provider named " + uut_name_ + " got " + std::to_string(err) +
                           ", expected EEXIST");
    }
    return Verdict::pass();
  });

  test("contract.init.once",
       "init: called once by ct_offload_register() before the class is added; a non-zero result "
       "is returned and the class is not added.",
       [&] {
         if (borrowed_ != nullptr) return Verdict::skip("init ran when the plug-in was loaded");
         if (!has(uut_mask_, Callback::kInit)) return Verdict::skip("no init");
         auto b = bench(prof);
         if (!b) return Verdict::fail(setup_fail);
         if (b->log.count(CallOp::kInit) != 1) {
           return Verdict::fail("init ran " + std::to_string(b->log.count(CallOp::kInit)) +
                                " times");
         }
         // A failing init: the error comes back and nothing is added.
         struct FailingInit final : public Provider {
           const char* name() const override { return "conf-failing-init"; }
           CallbackMask callbacks() const override {
             return bit(Callback::kInit) | bit(Callback::kConnAdd) | bit(Callback::kConnDel) |
                    bit(Callback::kCanOffload);
           }
           int init() override { return EIO; }
         };
         size_t before = b->reg->size();
         int err = b->reg->registerProvider(std::make_unique<FailingInit>(), kOriginProgram);
         if (err != EIO || b->reg->size() != before) {
           return Verdict::fail("a failing init gave " + std::to_string(err) +
                                " and the registry size went from " + std::to_string(before) +
                                " to " + std::to_string(b->reg->size()));
         }
         return Verdict::pass();
       });

  test("contract.conn_add.gated",
       "conn_add: called only when can_offload is absent or returned true for this context.", [&] {
         if (!has(uut_mask_, Callback::kConnAdd)) return Verdict::skip("no conn_add");
         auto b = bench(prof);
         if (!b) return Verdict::fail(setup_fail);
         b->uut->faults().refuse = true;
         ct_offload_ctx c = b->ctx(0);
         b->reg->connAdd(c);
         if (b->log.count(CallOp::kAdd) != 0) {
           return Verdict::fail("conn_add was called after can_offload said false");
         }
         return Verdict::pass();
       });

  test("contract.conn_add.result",
       "conn_add: returns 0 when the provider took the connection, else a positive errno.", [&] {
         if (!has(uut_mask_, Callback::kConnAdd)) return Verdict::skip("no conn_add");
         auto b = bench(prof, {}, 8);
         if (!b) return Verdict::fail(setup_fail);
         for (size_t i = 0; i < b->conns.size(); ++i) {
           ct_offload_ctx c = b->ctx(i);
           b->reg->connAdd(c);
         }
         for (const ProviderCall& c : b->log.calls) {
           if (c.op == CallOp::kAdd && (c.result < 0 || c.result >= 4096)) {
             return Verdict::fail("conn_add answered " + std::to_string(c.result));
           }
         }
         b->reg->flush();
         return Verdict::pass();
       });

  test("contract.conn_del.profile-gate",
       "conn_del: rfc-v1: called for every removed connection; rfc-v2: only for connections "
       "marked offloaded; strict: only if this provider's conn_add returned 0 for it.",
       [&] {
         if (!has(uut_mask_, Callback::kConnDel)) return Verdict::skip("no conn_del");
         auto b = bench(prof, {}, 2);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_ctx a = b->ctx(0);
         int err = b->reg->connAdd(a);
         bool accepted = b->log.count(CallOp::kAdd) == 1 && err == 0;
         ct_offload_ctx da = b->ctx(0, false), db = b->ctx(1, false);
         b->reg->connDel(da);
         b->reg->connDel(db);
         size_t got_a = b->log.count(CallOp::kDel, b->conns[0].get());
         size_t got_b = b->log.count(CallOp::kDel, b->conns[1].get());
         size_t want_a = prof == Profile::kRfcV1                               ? 1
                         : (accepted || (prof == Profile::kRfcV2 && err == 0)) ? 1
                                                                               : 0;
         size_t want_b = prof == Profile::kRfcV1 ? 1 : 0;
         if (got_a != want_a || got_b != want_b) {
           return Verdict::fail("conn_del reached the provider " + std::to_string(got_a) + "/" +
                                std::to_string(got_b) +
                                " times for an added/never-added "
                                "connection, expected " +
                                std::to_string(want_a) + "/" + std::to_string(want_b));
         }
         return Verdict::pass();
       });

  test("contract.conn_del.unknown-harmless",
       "conn_del: rfc-v1: called for every removed connection, offloaded or not (so a conn_del "
       "of a connection the provider never took must leave the others alone).",
       [&] {
         if (!has(uut_mask_, Callback::kConnDel) || !has(uut_mask_, Callback::kConnUpdate)) {
           return Verdict::skip("needs conn_del and conn_update");
         }
         auto b = bench(prof, {}, 2);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_ctx a = b->ctx(0);
         if (b->reg->connAdd(a) != 0) return Verdict::skip("the provider refused the connection");
         ct_offload_ctx ua = b->ctx(0, false);
         if (b->uut->connUpdate(ua) == 0) {
           return Verdict::skip("the provider does not report last-used right after conn_add");
         }
         ct_offload_ctx ub = b->ctx(1, false);
         b->uut->connDel(ub);
         long long after = b->uut->connUpdate(ua);
         b->reg->flush();
         if (after == 0) {
           return Verdict::fail(
               "after a conn_del of an unknown connection, conn_update of an "
               "added one answers 0 (the provider lost it)");
         }
         return Verdict::pass();
       });

  test("contract.ctx.netdev",
       "struct ct_offload_ctx: netdev_in is that of the batch's first packet; NULL in delete and "
       "update contexts (input_port_id CTSIM_PORT_NONE).",
       [&] {
         auto b = bench(prof, {}, 1);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_ctx a = b->ctx(0), n = b->ctx(0, false);
         b->reg->connAdd(a);
         b->reg->connEstablished(a);
         b->reg->connUpdate(n);
         b->reg->connDel(n);
         for (const ProviderCall& c : b->log.calls) {
           bool want = c.op == CallOp::kAdd || c.op == CallOp::kEst || c.op == CallOp::kCan;
           if ((c.op == CallOp::kDel || c.op == CallOp::kUpdate || want) &&
               (c.has_netdev != want || (want ? c.port != 1 : c.port != CTSIM_PORT_NONE))) {
             return Verdict::fail(std::string(callOpName(c.op)) + " had a wrong netdev/port");
           }
         }
         return Verdict::pass();
       });

  test("contract.conn_update.clock",
       "conn_update: last-used time in ms since the epoch on the simulated clock "
       "(ctsim_now_ms()), or 0 when unknown.",
       [&] {
         if (!has(uut_mask_, Callback::kConnUpdate)) return Verdict::skip("no conn_update");
         auto b = bench(prof, {}, 4);
         if (!b) return Verdict::fail(setup_fail);
         for (size_t i = 0; i < b->conns.size(); ++i) {
           ct_offload_ctx c = b->ctx(i);
           b->reg->connAdd(c);
         }
         b->now = 9000;
         for (size_t i = 0; i < b->conns.size(); ++i) {
           ct_offload_ctx c = b->ctx(i, false);
           long long ts = b->uut->connUpdate(c);
           if (ts < 0 || ts > b->now) {
             return Verdict::fail("conn_update answered " + std::to_string(ts) + " at now " +
                                  std::to_string(b->now));
           }
         }
         b->reg->flush();
         return Verdict::pass();
       });

  test("contract.conn_update.zero-when-unknown",
       "conn_update: ... or 0 when unknown (never added, deleted, or dropped by flush).", [&] {
         if (!has(uut_mask_, Callback::kConnUpdate)) return Verdict::skip("no conn_update");
         auto b = bench(prof, {}, 3);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_ctx a0 = b->ctx(0), a1 = b->ctx(1);
         b->reg->connAdd(a0);
         b->reg->connAdd(a1);
         ct_offload_ctx u0 = b->ctx(0, false), u1 = b->ctx(1, false), u2 = b->ctx(2, false);
         if (b->uut->connUpdate(u2) != 0) {
           return Verdict::fail("conn_update of a never-added connection is not 0");
         }
         b->uut->connDel(u0);
         if (b->uut->connUpdate(u0) != 0) {
           return Verdict::fail("conn_update of a deleted connection is not 0");
         }
         if (has(uut_mask_, Callback::kFlush)) {
           b->uut->flush();
           if (b->uut->connUpdate(u1) != 0) {
             return Verdict::fail("conn_update of a flushed connection is not 0");
           }
         }
         return Verdict::pass();
       });

  test("contract.conn_established.once-after-add",
       "conn_established: called exactly once per offloaded connection, and only after a "
       "successful ct_offload_conn_add() for it.",
       [&] {
         if (!has(uut_mask_, Callback::kConnEstablished)) {
           return Verdict::skip("no conn_established");
         }
         auto b = bench(prof, {}, 2);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_ctx a = b->ctx(0), other = b->ctx(1);
         int err = b->reg->connAdd(a);
         b->reg->connEstablished(a);
         b->reg->connEstablished(a);
         b->reg->connEstablished(other);  // never added: nothing may be called.
         size_t n = b->log.count(CallOp::kEst, b->conns[0].get());
         size_t m = b->log.count(CallOp::kEst, b->conns[1].get());
         bool accepted = err == 0 && b->log.count(CallOp::kAdd) > 0;
         b->reg->flush();
         if (m != 0) return Verdict::fail("conn_established for a connection never added");
         if (accepted && n != 1) {
           return Verdict::fail("conn_established reached the provider " + std::to_string(n) +
                                " times for one connection");
         }
         return Verdict::pass();
       });

  test("contract.can_offload.semantics",
       "can_offload: gates conn_add (absent counts as yes) and answers ct_offload_can_offload() "
       "(absent counts as no there).",
       [&] {
         auto b = bench(prof, {}, 1);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_ctx a = b->ctx(0);
         bool any = b->reg->canOffload(a);
         bool want = false;
         if (has(uut_mask_, Callback::kCanOffload)) {
           for (const ProviderCall& c : b->log.calls) want |= c.op == CallOp::kCan && c.can;
         }
         if (any != want) {
           return Verdict::fail(std::string("ct_offload_can_offload answered ") +
                                (any ? "true" : "false"));
         }
         return Verdict::pass();
       });

  test("contract.flush.drops-all", "flush: drop every offloaded connection (switch shutdown).",
       [&] {
         if (!has(uut_mask_, Callback::kFlush)) return Verdict::skip("no flush");
         auto b = bench(prof, {}, 4);
         if (!b) return Verdict::fail(setup_fail);
         for (size_t i = 0; i < b->conns.size(); ++i) {
           ct_offload_ctx c = b->ctx(i);
           b->reg->connAdd(c);
         }
         b->reg->flush();
         if (has(uut_mask_, Callback::kConnUpdate)) {
           for (size_t i = 0; i < b->conns.size(); ++i) {
             ct_offload_ctx c = b->ctx(i, false);
             if (b->uut->connUpdate(c) != 0) {
               return Verdict::fail("after flush() the provider still reports a connection");
             }
           }
         }
         if (FastPath* fp = b->uut->fastPath()) {
           b->now += 1000000;
           fp->setNow(b->now * 1000000);
           if (fp->stats().active != 0) {
             return Verdict::fail("after flush() " + std::to_string(fp->stats().active) +
                                  " fast-path entries are still active");
           }
         }
         return Verdict::pass();
       });

  test("contract.batch_submit.whole",
       "batch_submit: when present, receives every submitted batch whole, before the per-op "
       "fallback (which then skips this provider).",
       [&] {
         if (!has(uut_mask_, Callback::kBatchSubmit)) return Verdict::skip("no batch_submit");
         auto b = bench(prof, {}, 3);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_op_batch batch;
         ct_offload_op_batch_init(&batch);
         for (size_t i = 0; i < b->conns.size(); ++i) {
           ct_offload_ctx c = b->ctx(i);
           ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_ADD, &c);
         }
         b->reg->submit(batch);
         ct_offload_op_batch_destroy(&batch);
         // The ops of the batch are reported too (in_batch): only real conn_add calls count.
         size_t batches = b->log.count(CallOp::kBatch);
         size_t adds = b->log.count(CallOp::kAdd) - b->log.countInBatch(CallOp::kAdd);
         b->reg->flush();
         if (batches != 1 || adds != 0) {
           return Verdict::fail(std::to_string(batches) + " batch_submit calls and " +
                                std::to_string(adds) + " per-op conn_add calls");
         }
         return Verdict::pass();
       });

  test("contract.register.errors",
       "ct_offload_register: 0; EINVAL if cls or its name is NULL; EEXIST if a class of that "
       "name is registered; ENXIO with no current registry.",
       [&] {
         Registry reg(prof);
         reg.setLogSink(nullptr, nullptr);
         ScopedCurrentRegistry scope(&reg);
         static const ct_offload_class unnamed = {};
         static const ct_offload_class named = {"conf-c-class", nullptr, nullptr, nullptr, nullptr,
                                                nullptr,        nullptr, nullptr, nullptr};
         if (ct_offload_register(nullptr) != EINVAL || ct_offload_register(&unnamed) != EINVAL) {
           return Verdict::fail("a NULL class or name was not refused with EINVAL");
         }
         if (prof != Profile::kStrict) {
           if (ct_offload_register(&named) != 0 || ct_offload_register(&named) != EEXIST) {
             return Verdict::fail("registering a name twice did not give 0 then EEXIST");
           }
           ct_offload_unregister(&named);
         }
         Registry* saved = setDefaultRegistry(nullptr);
         int err;
         {
           ScopedCurrentRegistry none(nullptr);
           err = ct_offload_register(&named);
         }
         setDefaultRegistry(saved);
         if (err != ENXIO) return Verdict::fail("no current registry gave " + std::to_string(err));
         return Verdict::pass();
       });

  test("contract.register.order",
       "ct_offload_register: adds cls to the current registry, last in dispatch order.", [&] {
         auto b = bench(prof, {"dummy:name=conf-first"}, 1);
         if (!b) return Verdict::fail(setup_fail);
         auto ps = b->reg->providers();
         if (ps.size() != 2 || ps[0].name != "conf-first" || ps[1].name != uut_name_) {
           return Verdict::fail("providers are not listed in registration order");
         }
         return Verdict::pass();
       });

  test("contract.unregister.stops-calls",
       "ct_offload_unregister: an unknown class is logged and ignored; later dispatches do not "
       "call the removed class.",
       [&] {
         auto b = bench(prof, {}, 2);
         if (!b) return Verdict::fail(setup_fail);
         b->reg->unregisterName("conf-no-such-provider");
         if (b->reg->size() != 1)
           return Verdict::fail("unregistering an unknown name changed the registry");
         b->reg->unregisterName(uut_name_);
         size_t before = b->log.calls.size();
         ct_offload_ctx a = b->ctx(0);
         b->reg->connAdd(a);
         b->reg->canOffload(a);
         b->reg->flush();
         if (b->log.calls.size() != before) {
           return Verdict::fail("a dispatch after ct_offload_unregister reached the provider");
         }
         return Verdict::pass();
       });

  test("contract.conn_add.dispatch",
       "ct_offload_conn_add: every provider whose can_offload is absent or true gets conn_add, in "
       "registration order; returns the first non-zero error; later providers are still called.",
       [&] {
         if (!has(uut_mask_, Callback::kConnAdd)) return Verdict::skip("no conn_add");
         auto b = bench(prof, {"dummy:name=conf-failing,add_error=28"}, 1);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_ctx a = b->ctx(0);
         int err = b->reg->connAdd(a);
         bool called = b->log.count(CallOp::kAdd) == 1 || b->log.count(CallOp::kCan) == 1;
         b->reg->flush();
         if (err != 28)
           return Verdict::fail("conn_add returned " + std::to_string(err) +
                                ", not the first error 28");
         if (!called) return Verdict::fail("the provider after a failing one was not called");
         return Verdict::pass();
       });

  test("contract.conn_add.mark",
       "ct_offload_conn_add: marks the connection offloaded: rfc-v1/v2 when the result is 0 (even "
       "with no provider); strict when at least one provider returned 0.",
       [&] {
         auto b = bench(prof, {}, 2);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_ctx a = b->ctx(0);
         int err = b->reg->connAdd(a);
         bool accepted = false;
         for (const ProviderCall& c : b->log.calls)
           accepted |= c.op == CallOp::kAdd && c.result == 0;
         bool want = prof == Profile::kStrict ? accepted : err == 0;
         bool marked = ct_offload_conn_is_offloaded(b->conns[0].get());
         b->uut->faults().refuse = true;  // nobody takes the second one.
         ct_offload_ctx c2 = b->ctx(1);
         int err2 = b->reg->connAdd(c2);
         bool want2 = prof == Profile::kStrict ? false : err2 == 0;
         bool marked2 = ct_offload_conn_is_offloaded(b->conns[1].get());
         b->reg->flush();
         if (marked != want || marked2 != want2) {
           return Verdict::fail(std::string("marks ") + (marked ? "set" : "clear") + "/" +
                                (marked2 ? "set" : "clear") +
                                " for an accepted/refused connection");
         }
         return Verdict::pass();
       });

  test("contract.conn_update.first-nonzero",
       "ct_offload_conn_update: providers in order; the first non-zero result is returned and no "
       "further provider is asked.",
       [&] {
         if (!has(uut_mask_, Callback::kConnUpdate)) return Verdict::skip("no conn_update");
         auto b = bench(prof, {"dummy:name=conf-first"}, 1);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_ctx a = b->ctx(0), u = b->ctx(0, false);
         b->reg->connAdd(a);
         long long ts = b->reg->connUpdate(u);
         size_t asked = b->log.count(CallOp::kUpdate);
         b->reg->flush();
         if (ts == 0) return Verdict::fail("the first provider's timestamp was not returned");
         if (asked != 0) return Verdict::fail("a provider after a non-zero answer was asked");
         return Verdict::pass();
       });

  test("contract.conn_established.only-marked",
       "ct_offload_conn_established: only for a connection marked added; then the mark becomes "
       "established; otherwise nothing is called.",
       [&] {
         auto b = bench(prof, {}, 2);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_ctx a = b->ctx(0), other = b->ctx(1);
         int err = b->reg->connEstablished(other);
         if (err != EALREADY || b->log.count(CallOp::kEst) != 0) {
           return Verdict::fail("conn_established of an unmarked connection dispatched");
         }
         b->reg->connAdd(a);
         bool was = ct_offload_conn_is_offloaded(b->conns[0].get());
         b->reg->connEstablished(a);
         bool est = ct_offload_conn_is_established(b->conns[0].get());
         b->reg->flush();
         if (was && !est) return Verdict::fail("the mark did not become established");
         return Verdict::pass();
       });

  test("contract.batch.ops",
       "batches: room for 8 ops after init, doubled when full; errors DEL 0, FLUSH 0, EST 0, "
       "POLICY 0 or EPERM, UPD 0 or ENODATA (rfc-v1) / EIO, an unknown type EINVAL.",
       [&] {
         auto b = bench(prof, {}, 9);
         if (!b) return Verdict::fail(setup_fail);
         ct_offload_op_batch batch;
         ct_offload_op_batch_init(&batch);
         if (ct_offload_op_batch_size(&batch) != 8) return Verdict::fail("init capacity is not 8");
         for (size_t i = 0; i < 9; ++i) {
           ct_offload_ctx c = b->ctx(i, false);
           ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_UPD, &c);
         }
         if (ct_offload_op_batch_size(&batch) != 16)
           return Verdict::fail("capacity did not double");
         ct_offload_ctx c = b->ctx(0, false);
         ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_DEL, &c);
         ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_FLUSH, &c);
         ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_EST, &c);
         ct_offload_op_batch_add(&batch, CT_OFFLOAD_OP_UPD, &c);
         int bogus = 99;
         std::memcpy(&batch.ops[batch.n_ops - 1].type, &bogus, sizeof bogus);
         b->reg->submit(batch);
         const int upd_err = prof == Profile::kRfcV1 ? ENODATA : EIO;
         std::string why;
         for (size_t i = 0; i < 9; ++i) {
           if (batch.ops[i].error != 0 && batch.ops[i].error != upd_err) why = "UPD error";
         }
         if (batch.ops[9].error || batch.ops[10].error || batch.ops[11].error)
           why = "DEL/FLUSH/EST error";
         if (batch.ops[12].error != EINVAL) why = "unknown type not EINVAL";
         ct_offload_op_batch_destroy(&batch);
         b->reg->flush();
         return why.empty() ? Verdict::pass() : Verdict::fail(why);
       });

  test("contract.accessors",
       "accessors: ctsim_conn_key_fwd never NULL; ctsim_conn_tcp_peer EINVAL for a non-TCP "
       "connection; ctsim_netdev_name/port NULL/CTSIM_PORT_NONE for NULL; ctsim_now_ms is the "
       "dispatching registry's clock.",
       [&] {
         auto b = bench(prof, {}, 1);
         if (!b) return Verdict::fail(setup_fail);
         ctsim_tcp_peer peer{};
         if (ctsim_conn_key_fwd(b->conns[0].get()) == nullptr ||
             ctsim_conn_tcp_peer(b->conns[0].get(), CTSIM_DIR_ORIG, &peer) != EINVAL ||
             ctsim_netdev_name(nullptr) != nullptr ||
             ctsim_netdev_port(nullptr) != CTSIM_PORT_NONE) {
           return Verdict::fail("an accessor broke its contract");
         }
         b->now = 4242;
         ct_offload_ctx a = b->ctx(0);
         b->reg->connAdd(a);
         b->reg->flush();
         for (const ProviderCall& c : b->log.calls) {
           if (c.op != CallOp::kInit && c.now_ms != 4242) {
             return Verdict::fail("ctsim_now_ms() in a callback was " + std::to_string(c.now_ms));
           }
         }
         return Verdict::pass();
       });

  test("contract.threading.bounded-time",
       "Threading: calls come from any dispatching thread at once; providers must be thread-safe "
       "(and, being on the datapath, answer in bounded time: median under 200 us here, a bound "
       "that load on a shared machine does not break).",
       [&] {
         auto b = bench(prof, {}, 64);
         if (!b) return Verdict::fail(setup_fail);
         b->reg->setTiming(true);
         auto work = [&](size_t from, size_t to) {
           for (size_t i = from; i < to; ++i) {
             ct_offload_ctx c = b->ctx(i), n = b->ctx(i, false);
             b->reg->connAdd(c);
             b->reg->connEstablished(c);
             b->reg->connUpdate(n);
             b->reg->connDel(n);
           }
         };
         std::thread t1(work, 0, 32), t2(work, 32, 64);
         t1.join();
         t2.join();
         b->reg->flush();
         for (const ProviderInfo& p : b->reg->providers()) {
           for (int k = 0; k < kCallbackCount; ++k) {
             const LatencySummary& l = p.latency[size_t(k)];
             if (l.count > 0 && l.p50_ns > 200000) {
               return Verdict::fail(std::string(callbackName(Callback(k))) + " median " +
                                    std::to_string(l.p50_ns / 1000) + " us");
             }
           }
         }
         return Verdict::pass();
       });
}

void Suite::runNamed(const std::string& name, const Scenario& sc) {
  auto rep = runScenario(sc, factory());
  if (!rep.ok()) {
    counts_["(setup)"]++;
    first_["(setup)"] = name + ": " + rep.status().message();
    return;
  }
  consumed_ += rep.value().summary.fast_path_consumed;
  for (const auto& [inv, n] : rep.value().counts) {
    counts_[inv] += n;
    if (!first_.count(inv)) {
      std::string detail;
      for (const Violation& v : rep.value().violations) {
        if (v.invariant == inv) {
          detail = formatViolation(v);
          break;
        }
      }
      first_[inv] = name + ": " + detail;
      if (!opt_.counterexample_dir.empty()) {
        Scenario named = sc;  // the script names the real provider (a plug-in stays "@uut").
        for (std::string& p : named.config.providers) {
          if (p == kUut && borrowed_ == nullptr) p = opt_.provider_spec;
        }
        auto path = saveCounterexample(named, "conformance-" + inv, {inv}, opt_.counterexample_dir);
        if (path.ok()) first_[inv] += " (counterexample " + path.value() + ")";
      }
    }
  }
}

void Suite::runCaptureNamed(const std::string& name, const std::string& path) {
  RunConfig cfg;
  cfg.profile = opt_.profile;
  cfg.providers = {kUut};
  cfg.zone = ct::ZoneMode::kZero;
  auto rep = runCapture(path, cfg, factory());
  trace_runs_.push_back(name);
  if (!rep.ok()) {
    run_fail_[name] = path + ": " + rep.status().message();
    return;
  }
  consumed_ += rep.value().summary.fast_path_consumed;
  std::string msg;
  for (const auto& [inv, n] : rep.value().counts) {
    counts_[inv] += n;
    msg += (msg.empty() ? "" : ", ") + inv + " x" + std::to_string(n);
    if (!first_.count(inv)) {
      for (const Violation& v : rep.value().violations) {
        if (v.invariant == inv) {
          first_[inv] = name + ": " + formatViolation(v);
          break;
        }
      }
    }
  }
  run_fail_[name] = msg;
}

void Suite::invariantRuns() {
  RunConfig base;
  base.profile = opt_.profile;
  base.providers = {kUut};
  // Random scenarios, sometimes with a peer after the provider under test.
  for (int i = 0; i < opt_.cases; ++i) {
    RunConfig cfg = base;
    if (i % 3 == 1) cfg.providers.push_back("dummy:name=conf-peer");
    Scenario sc = randomScenario(rng_, cfg, 60);
    runNamed("random scenario " + std::to_string(i + 1), sc);
  }
  // §5.1: a packet between expiry and the sweep.
  {
    Scenario sc;
    sc.config = base;
    sc.config.sweep_interval_ms = 1000000;
    addPacket(sc, udpFrame(1, false));
    addPacket(sc, udpFrame(1, true), 10);
    addStep(sc, Step::Kind::kAdvance, 61000);
    addPacket(sc, udpFrame(1, false));
    addStep(sc, Step::Kind::kSweep);
    addPacket(sc, udpFrame(1, false), 10);
    runNamed("duplicate connection (facts §5.1)", sc);
  }
  // §5.2: a failing peer after the provider under test.
  {
    Scenario sc;
    sc.config = base;
    sc.config.providers.push_back("dummy:name=conf-failing,add_error=28");
    for (int f = 0; f < 3; ++f) addPacket(sc, udpFrame(f, false), 1);
    addStep(sc, Step::Kind::kFlush);
    runNamed("failing peer (facts §5.2)", sc);
  }
  // §5.3: idle connections must go, whatever the provider claims.
  {
    Scenario sc;
    sc.config = base;
    addPacket(sc, udpFrame(2, false));
    addPacket(sc, udpFrame(2, true), 5);
    for (int i = 0; i < 12; ++i) addStep(sc, Step::Kind::kAdvance, 20000);
    runNamed("idle connection (facts §5.3)", sc);
  }
  // §5.4: nobody can offload.
  {
    Scenario sc;
    sc.config = base;
    sc.config.providers.push_back("dummy:name=conf-refuser,can_offload=false");
    Step f;
    f.kind = Step::Kind::kFault;
    f.arg = uut_name_;
    f.faults.refuse = true;
    sc.steps.push_back(f);
    addPacket(sc, udpFrame(3, false));
    addPacket(sc, udpFrame(3, true), 1);
    runNamed("nobody offloads (facts §5.4)", sc);
  }
  // §5.5: a responder RST with an arbitrary ack.
  {
    Scenario sc;
    sc.config = base;
    addPacket(sc, tcpFrame(1, false, kTcpSyn, 1000, 0));
    addPacket(sc, tcpFrame(1, true, kTcpRst | kTcpAck, 0, 777777), 1);
    runNamed("responder RST (facts §5.5)", sc);
  }
  // Traces: the bundled one, generated ones, and any given.
  runCaptureNamed("trace.bundled.mixed-small", CTSIM_BUNDLED_TRACE);
  for (int g = 0; g < 2; ++g) {
    traces::GenConfig gc;
    gc.seed = opt_.seed + uint64_t(g);
    gc.flows = 150;
    gc.cps = 50;
    gc.idle_share = g == 0 ? 0.2 : 0;
    gc.churn_share = g == 1 ? 0.2 : 0;
    gc.port_scan = g == 1 ? 20 : 0;
    std::string path =
        (fs::temp_directory_path() /
         ("ctsim-conformance-" + std::to_string(::getpid()) + "-" + std::to_string(g) + ".pcap"))
            .string();
    std::string name = "trace.generated." + std::string(g == 0 ? "idle" : "churn-scan");
    auto res = traces::generate(gc, path);
    if (!res.ok()) {
      trace_runs_.push_back(name);
      run_fail_[name] = res.status().message();
      continue;
    }
    runCaptureNamed(name, path);
    std::error_code ec;
    fs::remove(path, ec);
  }
  for (size_t i = 0; i < opt_.traces.size(); ++i) {
    runCaptureNamed("trace.given." + fs::path(opt_.traces[i]).filename().string(), opt_.traces[i]);
  }
}

void Suite::invariantTests() {
  std::set<std::string> differential = {"offload-transparent",   "determinism",
                                        "sharded-equals-single", "batch-equals-single",
                                        "pcap-roundtrip",        "mandatory-callbacks-checked"};
  for (const InvariantInfo& inv : invariantCatalog()) {
    std::string name = inv.name;
    test("invariant." + name, inv.statement, [&]() -> Verdict {
      if (name == "offload-transparent") {
        RunConfig cfg;
        cfg.profile = opt_.profile;
        cfg.providers = {kUut};
        std::mt19937_64 r(opt_.seed ^ 0x5eed);
        Scenario sc = randomScenario(r, cfg, 80);
        auto with = runScenario(sc, factory());
        if (with.ok() && with.value().summary.fast_path_consumed > 0) {
          return Verdict::skip("the fast path consumes packets (not in mirror mode)");
        }
        auto v = checkTransparency(sc, factory());
        return v.empty() ? Verdict::pass() : Verdict::fail(formatViolation(v[0]));
      }
      if (name == "determinism") {
        RunConfig cfg;
        cfg.profile = opt_.profile;
        cfg.providers = {kUut};
        std::mt19937_64 r(opt_.seed ^ 0xd00d);
        auto v = checkDeterminism(randomScenario(r, cfg, 80), factory());
        return v.empty() ? Verdict::pass() : Verdict::fail(formatViolation(v[0]));
      }
      if (name == "sharded-equals-single") {
        if (uut_fast_path_) return Verdict::skip("sharded replay does not run fast paths");
        RunConfig cfg;
        cfg.profile = opt_.profile;
        cfg.providers = {kUut};
        cfg.zone = ct::ZoneMode::kZero;
        for (ct::ClockMode clock : {ct::ClockMode::kTrace, ct::ClockMode::kFrozen}) {
          auto v = checkSharded(CTSIM_BUNDLED_TRACE, cfg, clock, 2, factory());
          if (!v.empty()) return Verdict::fail(formatViolation(v[0]));
        }
        return Verdict::pass();
      }
      if (name == "batch-equals-single") {
        auto v = checkBatchEqualsSingle(kUut, opt_.profile, 5, factory());
        return v.empty() ? Verdict::pass() : Verdict::fail(formatViolation(v[0]));
      }
      if (name == "pcap-roundtrip") {
        std::string path = (fs::temp_directory_path() /
                            ("ctsim-conformance-rt-" + std::to_string(::getpid()) + ".pcap"))
                               .string();
        auto w = PcapWriter::create(path, kLinkEthernet);
        if (!w.ok()) return Verdict::skip(w.status().message());
        std::vector<std::vector<uint8_t>> frames = {udpFrame(1, false, 7),
                                                    tcpFrame(2, true, kTcpSyn | kTcpAck, 5, 6),
                                                    icmpEchoFrame(1, false)};
        for (size_t i = 0; i < frames.size(); ++i) {
          w.value()->write(int64_t(i) * 1000, frames[i].data(), uint32_t(frames[i].size()));
        }
        (void)w.value()->close();
        auto r = TraceReader::open(path);
        if (!r.ok()) return Verdict::fail(r.status().message());
        TraceRecord rec;
        for (size_t i = 0; i < frames.size(); ++i) {
          if (!r.value()->next(rec) || rec.caplen != frames[i].size() ||
              std::memcmp(rec.data, frames[i].data(), rec.caplen) != 0 ||
              rec.ts_ns != int64_t(i) * 1000) {
            return Verdict::fail("record " + std::to_string(i + 1) + " did not round-trip");
          }
        }
        std::error_code ec;
        fs::remove(path, ec);
        return Verdict::pass();
      }
      if (name == "mandatory-callbacks-checked") {
        Registry reg(opt_.profile);
        reg.setLogSink(nullptr, nullptr);
        static const ct_offload_class partial = {"conf-partial", nullptr, nullptr, nullptr, nullptr,
                                                 nullptr,        nullptr, nullptr, nullptr};
        ScopedCurrentRegistry scope(&reg);
        int err = ct_offload_register(&partial);
        if (err != EINVAL) {
          return Verdict::fail(
              "a class without conn_add, conn_del and can_offload was "
              "registered (facts §5.6: unchecked mandatory callbacks)");
        }
        return Verdict::pass();
      }
      if ((name == "capacity-respected" || name == "consumed-only-offloaded") && !uut_fast_path_) {
        return Verdict::skip("the provider has no fast path");
      }
      auto it = counts_.find(name);
      if (it == counts_.end()) return Verdict::pass();
      return Verdict::fail(std::to_string(it->second) + " violation(s); first: " + first_[name]);
    });
  }
  (void)differential;
  for (const std::string& t : trace_runs_) {
    const std::string msg = run_fail_[t];
    test(t, "replay of the trace with every invariant checked",
         [&]() -> Verdict { return msg.empty() ? Verdict::pass() : Verdict::fail(msg); });
  }
  if (counts_.count("(setup)")) {
    std::string msg = first_["(setup)"];
    test("invariant.setup", "every scenario could start", [&] { return Verdict::fail(msg); });
  }
}

ConformanceReport Suite::run() {
  contractTests();
  bool any_invariant = false;
  for (const InvariantInfo& inv : invariantCatalog()) {
    any_invariant |= selected(std::string("invariant.") + inv.name);
  }
  any_invariant |= selected("trace.");
  if (any_invariant) invariantRuns();
  invariantTests();
  return report_;
}

}  // namespace

Result<ConformanceReport> runConformance(const ConformanceOptions& options) {
  Suite s(options);
  Status st = s.setUp();
  if (!st.ok()) return st;
  return s.run();
}

}  // namespace ctsim::props

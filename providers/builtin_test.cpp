// The built-in providers (dummy, recorder), the provider spec parser and the factory table.
#include "providers/builtin.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "providers/test_util.h"

namespace ctsim {
namespace {

using testing::makeConn;

// A spec is a name and optional key=value options, in order.
TEST(ProviderSpec, ParsesNameAndOptions) {
  auto s = parseProviderSpec("recorder:path=/tmp/x.jsonl,can_offload=false");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.value().name, "recorder");
  ASSERT_EQ(s.value().options.size(), 2u);
  EXPECT_EQ(s.value().options[0].second, "/tmp/x.jsonl");
  EXPECT_EQ(s.value().options[1].first, "can_offload");
  auto bare = parseProviderSpec("dummy");
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare.value().options.empty());
}

// Malformed specs are EINVAL with a message naming the spec.
TEST(ProviderSpec, RejectsMalformed) {
  for (const char* bad : {"", ":a=b", "dummy:novalue", "dummy:=x", "dummy:a=1,a=2"}) {
    auto s = parseProviderSpec(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), EINVAL) << bad;
  }
}

// Unknown providers, unknown options and bad values are EINVAL.
TEST(BuiltinFactory, RejectsUnknownNamesOptionsAndValues) {
  Registry r;
  EXPECT_EQ(addBuiltinProvider(r, "nosuch").code(), EINVAL);
  EXPECT_EQ(addBuiltinProvider(r, "dummy:colour=red").code(), EINVAL);
  EXPECT_EQ(addBuiltinProvider(r, "dummy:can_offload=maybe").code(), EINVAL);
  EXPECT_EQ(addBuiltinProvider(r, "dummy:add_error=-1").code(), EINVAL);
  EXPECT_EQ(r.size(), 0u);
}

// registerBuiltinProviders registers every built-in, sorted, with origin "builtin".
TEST(BuiltinFactory, RegisterAllListsThemSorted) {
  Registry r;
  ASSERT_TRUE(registerBuiltinProviders(r).ok());
  auto list = r.providers();
  std::vector<std::string> want;  // the built-ins of this build (dpdk only where it was built).
  for (const BuiltinProvider& b : builtinProviders()) {
    if (!b.unavailable) want.push_back(b.name);
  }
  ASSERT_GE(want.size(), 3u);
  ASSERT_EQ(list.size(), want.size());
  for (size_t i = 0; i < want.size(); i++) EXPECT_EQ(list[i].name, want[i]);
  EXPECT_TRUE(std::is_sorted(want.begin(), want.end()));
  EXPECT_EQ(list[0].origin, kOriginBuiltin);
  EXPECT_TRUE(addBuiltinProvider(r, "dummy:name=dummy2").ok());
  EXPECT_EQ(addBuiltinProvider(r, "dummy").code(), EEXIST);
}

// dummy: records adds, established once (duplicates counted), update answers "now" for a known
// connection and 0 for an unknown one, flush clears.
TEST(Dummy, BehavesAsTheRfcDummy) {
  Registry r(Profile::kRfcV2);
  long long now = 42;
  r.setClock([](void* a) { return *static_cast<long long*>(a); }, &now);
  auto d = std::make_unique<DummyProvider>();
  DummyProvider* dummy = d.get();
  r.registerProvider(std::move(d), kOriginBuiltin);
  conn c = makeConn(1), other = makeConn(2);
  EXPECT_TRUE(r.canOffload(makeCtx(c)));
  EXPECT_EQ(r.connAdd(makeCtx(c)), 0);
  EXPECT_EQ(dummy->connections(), 1u);
  EXPECT_EQ(r.connUpdate(makeCtx(c)), 42);
  EXPECT_EQ(r.connUpdate(makeCtx(other)), 0);
  r.connEstablished(makeCtx(c));
  dummy->connEstablished(makeCtx(c));  // A second one straight to the provider is caught.
  EXPECT_EQ(dummy->stats().duplicate_ests, 1u);
  r.flush();
  EXPECT_EQ(dummy->connections(), 0u);
  EXPECT_EQ(dummy->stats().adds, 1u);
  EXPECT_EQ(dummy->stats().flushes, 1u);
}

// dummy with a frozen clock still answers non-zero for a known connection (0 = unknown).
TEST(Dummy, FrozenClockStillKnown) {
  Registry r;
  r.registerProvider(std::make_unique<DummyProvider>(), kOriginBuiltin);
  conn c = makeConn();
  r.connAdd(makeCtx(c));
  EXPECT_EQ(r.connUpdate(makeCtx(c)), 1);
}

// dummy options: can_offload=false declines everything, add_error fails conn_add.
TEST(Dummy, OptionsChangeAnswers) {
  Registry r;
  ASSERT_TRUE(addBuiltinProvider(r, "dummy:name=no,can_offload=false").ok());
  ASSERT_TRUE(addBuiltinProvider(r, "dummy:name=err,add_error=28").ok());
  conn c = makeConn();
  EXPECT_EQ(r.connAdd(makeCtx(c)), 28);
  auto list = r.providers();
  EXPECT_EQ(list[0].calls[static_cast<int>(Callback::kConnAdd)], 0u);  // "no" was not asked.
  EXPECT_EQ(list[1].calls[static_cast<int>(Callback::kConnAdd)], 1u);
}

// recorder: one JSON line per callback with time, op, provider, zone, key and netdev.
TEST(Recorder, WritesOneJsonLinePerCallback) {
  const std::string path = ::testing::TempDir() + "recorder_test.jsonl";
  {
    Registry r(Profile::kRfcV1);
    long long now = 7;
    r.setClock([](void* a) { return *static_cast<long long*>(a); }, &now);
    ASSERT_TRUE(addBuiltinProvider(r, "recorder:path=" + path).ok());
    conn c = makeConn(5555, 6, 9);
    netdev dev{"p1", 4};
    r.connAdd(makeCtx(c, &dev));
    r.connDel(makeCtx(c));
    r.flush();
  }
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 4u);  // can_offload, conn_add, conn_del, flush.
  EXPECT_EQ(lines[0]["op"], "can_offload");
  EXPECT_EQ(lines[1]["op"], "conn_add");
  EXPECT_EQ(lines[1]["time"], 7);
  EXPECT_EQ(lines[1]["provider"], "recorder");
  EXPECT_EQ(lines[1]["zone"], 9);
  EXPECT_EQ(lines[1]["key"]["src"], "10.0.0.1");
  EXPECT_EQ(lines[1]["key"]["sport"], 5555);
  EXPECT_EQ(lines[1]["key"]["proto"], 6);
  EXPECT_EQ(lines[1]["netdev"], "p1");
  EXPECT_EQ(lines[1]["port"], 4);
  EXPECT_TRUE(lines[2]["netdev"].is_null());
  EXPECT_TRUE(lines[3]["key"].is_null());
  std::remove(path.c_str());
}

// recorder: an unwritable path is an error naming it, at creation.
TEST(Recorder, BadPathIsAnError) {
  Registry r;
  Status s = addBuiltinProvider(r, "recorder:path=/nonexistent-dir/x.jsonl");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent-dir/x.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace ctsim

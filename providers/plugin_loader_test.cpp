// Plug-in loading: a good plug-in's classes are registered with the file as origin; each error
// path (missing entry point, ABI mismatch, failing init, strict rejection) is one error naming
// the file and leaves nothing from that file registered.
#include "providers/plugin_loader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>

#include "providers/test_util.h"

namespace ctsim {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> names(const Registry& r) {
  std::vector<std::string> out;
  for (const auto& p : r.providers()) out.push_back(p.name + "@" + p.origin);
  return out;
}

// A fresh empty folder under the test temp dir.
std::string makeTempDir() {
  std::string tmpl = ::testing::TempDir() + "ctsim_plugins_XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

class PluginLoader : public ::testing::Test {
 protected:
  PluginLoader() { r_.setLogSink(nullptr, nullptr); }
  Registry r_{Profile::kRfcV2};
};

// A good plug-in registers its classes, in its order, with the file path as origin.
TEST_F(PluginLoader, GoodPluginRegistersWithFileOrigin) {
  ASSERT_TRUE(loadProviderLibrary(r_, PLUGIN_GOOD).ok());
  EXPECT_EQ(names(r_), (std::vector<std::string>{std::string("plugin-a@") + PLUGIN_GOOD,
                                                 std::string("plugin-b@") + PLUGIN_GOOD}));
}

// A missing ctsim_plugin_init is an error naming the file and the symbol.
TEST_F(PluginLoader, MissingInitSymbolIsAnError) {
  Status s = loadProviderLibrary(r_, PLUGIN_NO_INIT);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(PLUGIN_NO_INIT), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("ctsim_plugin_init"), std::string::npos) << s.message();
  EXPECT_EQ(r_.size(), 0u);
}

// An ABI version mismatch is an error naming the file and both versions.
TEST_F(PluginLoader, AbiMismatchIsAnError) {
  Status s = loadProviderLibrary(r_, PLUGIN_BAD_ABI);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(PLUGIN_BAD_ABI), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("999"), std::string::npos) << s.message();
  EXPECT_EQ(r_.size(), 0u);
}

// A plug-in built against ABI version 1 (ctsim_conn_key_rev returning a pointer) is refused with
// the same clear error: it would misread the by-value reverse key.
TEST_F(PluginLoader, AbiVersion1IsRefused) {
  static_assert(CTSIM_PLUGIN_ABI_VERSION == 2);
  Status s = loadProviderLibrary(r_, PLUGIN_ABI_V1);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ELIBBAD);
  EXPECT_NE(s.message().find(PLUGIN_ABI_V1), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("plug-in ABI version 1, this ctsim expects 2"), std::string::npos)
      << s.message();
  EXPECT_EQ(r_.size(), 0u);
}

// A failing init is an error naming the file; what it registered before failing is dropped.
TEST_F(PluginLoader, FailingInitRollsBack) {
  Status s = loadProviderLibrary(r_, PLUGIN_INIT_FAILS);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), EIO);
  EXPECT_NE(s.message().find(PLUGIN_INIT_FAILS), std::string::npos) << s.message();
  EXPECT_EQ(r_.size(), 0u);
  testing::CallLog log;
  EXPECT_NE(testing::addFake(r_, "partial", &log), nullptr);  // The name is free.
}

// strict: a class lacking can_offload is refused, the plug-in's init fails, nothing stays.
TEST(PluginLoaderStrict, RejectedClassFailsTheWholeFile) {
  Registry r(Profile::kStrict);
  r.setLogSink(nullptr, nullptr);
  Status s = loadProviderLibrary(r, PLUGIN_GOOD);
  EXPECT_EQ(s.code(), EINVAL) << s.message();
  EXPECT_NE(s.message().find("plugin-a lacks"), std::string::npos) << s.message();
  EXPECT_EQ(r.size(), 0u);
}

// A missing file, a non-plug-in and an empty folder are errors naming the path.
TEST_F(PluginLoader, BadPathsAreErrors) {
  EXPECT_EQ(loadProviderLibrary(r_, "/nonexistent/x.so").code(), ENOENT);
  const std::string dir = makeTempDir();
  EXPECT_EQ(loadProviderLibrary(r_, dir).code(), ENOENT);
  const std::string junk = dir + "/junk.so";
  FILE* f = fopen(junk.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("not an ELF file\n", f);
  fclose(f);
  Status s = loadProviderLibrary(r_, junk);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(junk), std::string::npos) << s.message();
  fs::remove_all(dir);
}

// A folder loads every .so in it, in name order.
TEST_F(PluginLoader, FolderLoadsEverySoInNameOrder) {
  const std::string dir = makeTempDir();
  fs::copy_file(PLUGIN_GOOD, dir + "/b_good.so");
  fs::copy_file(PLUGIN_EXAMPLE, dir + "/a_example.so");
  fs::copy_file(PLUGIN_GOOD, dir + "/ignored.txt");
  ASSERT_TRUE(loadProviderLibrary(r_, dir).ok());
  auto n = names(r_);
  ASSERT_EQ(n.size(), 3u);
  EXPECT_EQ(n[0], "example-count@" + dir + "/a_example.so");
  EXPECT_EQ(n[2], "plugin-b@" + dir + "/b_good.so");
  fs::remove_all(dir);
}

// The C example provider works through the registry: TCP/UDP only, est once, update = now.
TEST_F(PluginLoader, ExampleProviderDispatches) {
  ASSERT_TRUE(loadProviderLibrary(r_, PLUGIN_EXAMPLE).ok());
  long long now = 77;
  r_.setClock([](void* a) { return *static_cast<long long*>(a); }, &now);
  conn tcp = testing::makeConn(1, 6), icmp = testing::makeConn(2, 1);
  EXPECT_TRUE(r_.canOffload(makeCtx(tcp)));
  EXPECT_FALSE(r_.canOffload(makeCtx(icmp)));
  EXPECT_EQ(r_.connAdd(makeCtx(tcp)), 0);
  EXPECT_EQ(r_.connEstablished(makeCtx(tcp)), 0);
  EXPECT_EQ(r_.connUpdate(makeCtx(tcp)), 77);
  const auto info = r_.providers().at(0);
  EXPECT_EQ(info.calls[static_cast<int>(Callback::kInit)], 1u);
  EXPECT_EQ(info.calls[static_cast<int>(Callback::kConnAdd)], 1u);
}

}  // namespace
}  // namespace ctsim

// The EAL singleton: one start per process, idempotent, and a clear error (the skip reason of
// every other DPDK test) when it cannot start.
#include "providers/dpdk/eal.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace ctsim::dpdk {
namespace {

// (Runs first: it needs a process whose EAL has not started.)  Bad args fail with rte_errno and
// a message naming them, and the failure is remembered instead of retried.
TEST(Eal, FailureIsReportedAndRemembered) {
  if (ealRunning()) GTEST_SKIP() << "the EAL already runs in this process";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: start with an option EAL does not know, twice, and report both outcomes.
    Status a = ensureEal("--no-such-eal-option");
    Status b = ensureEal("");
    std::string out = std::to_string(a.code()) + "|" + std::to_string(b.code()) + "|" +
                      a.message() + "|" + (a.message() == b.message() ? "same" : "differ");
    ssize_t w = write(fds[1], out.data(), out.size());
    _exit(w == static_cast<ssize_t>(out.size()) ? 0 : 1);
  }
  close(fds[1]);
  std::string got;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << got;
  EXPECT_EQ(got.substr(0, got.find('|')), std::to_string(EINVAL)) << got;
  EXPECT_NE(got.find("DPDK EAL cannot start (args '--no-such-eal-option')"), std::string::npos)
      << got;
  EXPECT_NE(got.find("|same"), std::string::npos) << got;
}

// The defaults need neither a NIC nor hugepages nor shared files, and do not pin the process.
TEST(Eal, DefaultArgsSuitAMachineWithoutNicOrHugepages) {
  const std::string a = defaultEalArgs();
  for (const char* opt :
       {"--no-huge", "--no-pci", "--no-shconf", "-m 512", "--no-telemetry", "--lcores=0@("}) {
    EXPECT_NE(a.find(opt), std::string::npos) << opt << " in " << a;
  }
}

// The first start wins; later calls with no args or the same args are no-ops, other args are
// EALREADY naming the running args.
TEST(Eal, StartsOnceAndIsIdempotent) {
  Status s = ensureEal("");
  if (!ealUsable(s)) GTEST_SKIP() << "EAL cannot start here: " << s.message();
  EXPECT_TRUE(ealRunning());
  const std::string first = ealArgs();
  EXPECT_FALSE(first.empty());
  EXPECT_TRUE(ensureEal("").ok());
  EXPECT_TRUE(ensureEal(first).ok());
  Status other = ensureEal("--no-huge -m 64");
  EXPECT_EQ(other.code(), EALREADY);
  EXPECT_TRUE(ealUsable(other));
  EXPECT_NE(other.message().find(first), std::string::npos) << other.message();
  EXPECT_EQ(ealArgs(), first);
}

}  // namespace
}  // namespace ctsim::dpdk

// One test per registry rule of facts §2 (and the strict fixes of §5), named after the rule,
// run in every profile where the rule is the same (TEST_P) and per profile where it differs.
#include "providers/registry.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "providers/builtin.h"
#include "providers/test_util.h"

namespace ctsim {
namespace {

using testing::addFake;
using testing::CallLog;
using testing::Fake;
using testing::kPerConn;
using testing::makeConn;
using CL = CallLog;

constexpr CallbackMask kMandatory =
    bit(Callback::kConnAdd) | bit(Callback::kConnDel) | bit(Callback::kCanOffload);

// Registries stay quiet in tests; warnings are counted instead.
std::unique_ptr<Registry> quietRegistry(Profile p) {
  auto r = std::make_unique<Registry>(p);
  r->setLogSink(nullptr, nullptr);
  return r;
}

class AllProfiles : public ::testing::TestWithParam<Profile> {
 protected:
  std::unique_ptr<Registry> reg_ = quietRegistry(GetParam());
  Registry& r() { return *reg_; }
  CallLog log_;
};

std::string profileParamName(const ::testing::TestParamInfo<Profile>& info) {
  std::string n = profileName(info.param);
  for (char& ch : n) ch = ch == '-' ? '_' : ch;
  return n;
}

INSTANTIATE_TEST_SUITE_P(Registry, AllProfiles,
                         ::testing::Values(Profile::kRfcV1, Profile::kRfcV2, Profile::kStrict),
                         profileParamName);

// ---- C classes for the C-API registration tests ----
int g_init_result = 0;
int g_init_calls = 0;
int cInit() { return ++g_init_calls, g_init_result; }
int cAdd(const ct_offload_ctx*) { return 0; }
void cDel(const ct_offload_ctx*) {}
bool cCan(const ct_offload_ctx*) { return true; }
const ct_offload_class kClassA = {"cls",   cInit, cAdd,    cDel,   nullptr,
                                  nullptr, cCan,  nullptr, nullptr};
const ct_offload_class kClassA2 = {"cls",   nullptr, cAdd,    cDel,   nullptr,
                                   nullptr, cCan,    nullptr, nullptr};
const ct_offload_class kNoName = {nullptr, nullptr, cAdd,    cDel,   nullptr,
                                  nullptr, cCan,    nullptr, nullptr};

// ---- Registration ----------------------------------------------------------------------------

// A second class with an already registered name gets EEXIST and is not added.
TEST_P(AllProfiles, DuplicateNameIsEexist) {
  ScopedCurrentRegistry cur(&r());
  g_init_result = 0;
  EXPECT_EQ(ct_offload_register(&kClassA), 0);
  EXPECT_EQ(ct_offload_register(&kClassA2), EEXIST);
  EXPECT_EQ(ct_offload_register(&kClassA), EEXIST);
  EXPECT_EQ(r().size(), 1u);
}

// init() runs at registration; its non-zero result is returned and the class is not added.
TEST_P(AllProfiles, InitFailureIsReturnedAndClassNotAdded) {
  ScopedCurrentRegistry cur(&r());
  g_init_result = ENODEV;
  g_init_calls = 0;
  EXPECT_EQ(ct_offload_register(&kClassA), ENODEV);
  EXPECT_EQ(g_init_calls, 1);
  EXPECT_EQ(r().size(), 0u);
  g_init_result = 0;
  EXPECT_EQ(ct_offload_register(&kClassA), 0);  // The name was not taken by the failure.
  EXPECT_EQ(g_init_calls, 2);
}

// A class without a name (or a NULL class) is rejected with EINVAL.
TEST_P(AllProfiles, MissingNameIsEinval) {
  ScopedCurrentRegistry cur(&r());
  EXPECT_EQ(ct_offload_register(&kNoName), EINVAL);
  EXPECT_EQ(ct_offload_register(nullptr), EINVAL);
  EXPECT_EQ(r().size(), 0u);
}

// Dispatch order is registration order.
TEST_P(AllProfiles, DispatchOrderIsRegistrationOrder) {
  addFake(r(), "b", &log_);
  addFake(r(), "a", &log_);
  addFake(r(), "c", &log_);
  r().flush();
  EXPECT_EQ(log_, (CL{"b.flush", "a.flush", "c.flush"}));
  auto list = r().providers();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].name, "b");
  EXPECT_EQ(list[2].name, "c");
}

// Unregistering an unknown class is a logged no-op.
TEST_P(AllProfiles, UnregisterUnknownIsLoggedNoop) {
  ScopedCurrentRegistry cur(&r());
  addFake(r(), "a", &log_);
  ct_offload_unregister(&kClassA);
  EXPECT_EQ(r().warnings(), 1u);
  EXPECT_EQ(r().size(), 1u);
}

// An unregistered class gets no further calls, and its name can be registered again.
TEST_P(AllProfiles, UnregisterRemovesFromDispatch) {
  ScopedCurrentRegistry cur(&r());
  ASSERT_EQ(ct_offload_register(&kClassA2), 0);
  addFake(r(), "a", &log_);
  ct_offload_unregister(&kClassA2);
  r().unregisterName("a");
  EXPECT_EQ(r().size(), 0u);
  r().flush();
  EXPECT_TRUE(log_.empty());
  EXPECT_EQ(ct_offload_register(&kClassA2), 0);
}

// strict: conn_add, conn_del and can_offload are mandatory (EINVAL); facts §5.6.
TEST(RegistryStrict, MissingMandatoryCallbackIsEinval) {
  auto r = quietRegistry(Profile::kStrict);
  CallLog log;
  for (Callback c : {Callback::kConnAdd, Callback::kConnDel, Callback::kCanOffload}) {
    int err = 0;
    EXPECT_EQ(addFake(*r, "x", &log, kPerConn & ~bit(c), &err), nullptr);
    EXPECT_EQ(err, EINVAL) << callbackName(c);
  }
  EXPECT_NE(addFake(*r, "x", &log, kMandatory), nullptr);
}

// rfc-v1/v2: the mandatory callbacks are documented but not checked (facts §5.6).
TEST(RegistryRfc, MissingMandatoryCallbackIsAccepted) {
  for (Profile p : {Profile::kRfcV1, Profile::kRfcV2}) {
    auto r = quietRegistry(p);
    EXPECT_NE(addFake(*r, "empty", nullptr, 0), nullptr) << profileName(p);
  }
}

// ---- conn_add --------------------------------------------------------------------------------

// conn_add goes to providers whose can_offload is absent or true, not to those saying false.
TEST_P(AllProfiles, ConnAddGatedByCanOffloadAbsentMeansYes) {
  addFake(r(), "yes", &log_)->can = true;
  addFake(r(), "no", &log_)->can = false;
  if (GetParam() != Profile::kStrict) addFake(r(), "absent", &log_, bit(Callback::kConnAdd));
  conn c = makeConn();
  EXPECT_EQ(r().connAdd(makeCtx(c)), 0);
  CL want = {"yes.can_offload", "yes.conn_add", "no.can_offload"};
  if (GetParam() != Profile::kStrict) want.push_back("absent.conn_add");
  EXPECT_EQ(log_, want);
}

// The first non-zero conn_add error is returned; later providers are still called.
TEST_P(AllProfiles, ConnAddReturnsFirstErrorAndCallsTheRest) {
  addFake(r(), "ok", &log_);
  addFake(r(), "e1", &log_)->add_result = ENOSPC;
  addFake(r(), "e2", &log_)->add_result = EIO;
  addFake(r(), "last", &log_);
  conn c = makeConn();
  EXPECT_EQ(r().connAdd(makeCtx(c)), ENOSPC);
  EXPECT_EQ(std::count(log_.begin(), log_.end(), "last.conn_add"), 1);
}

// rfc: a connection is marked ADDED when conn_add returns 0, even with no provider taking it
// (empty registry, or every can_offload false): facts §5.4.
TEST(RegistryRfc, ConnAddMarksWithNoProvider) {
  for (Profile p : {Profile::kRfcV1, Profile::kRfcV2}) {
    auto r = quietRegistry(p);
    conn c = makeConn();
    EXPECT_EQ(r->connAdd(makeCtx(c)), 0);
    EXPECT_EQ(c.offload_mark, OffloadMark::kAdded) << "empty registry, " << profileName(p);
    addFake(*r, "no", nullptr)->can = false;
    conn d = makeConn(2);
    EXPECT_EQ(r->connAdd(makeCtx(d)), 0);
    EXPECT_TRUE(ct_offload_conn_is_offloaded(&d)) << "all can_offload false, " << profileName(p);
  }
}

// strict fix of §5.4: not marked when no provider accepted.
TEST(RegistryStrict, ConnAddNotMarkedWhenNobodyAccepted) {
  auto r = quietRegistry(Profile::kStrict);
  conn c = makeConn();
  EXPECT_EQ(r->connAdd(makeCtx(c)), 0);
  EXPECT_EQ(c.offload_mark, OffloadMark::kNone);
  addFake(*r, "no", nullptr)->can = false;
  addFake(*r, "fails", nullptr)->add_result = EIO;
  EXPECT_EQ(r->connAdd(makeCtx(c)), EIO);
  EXPECT_FALSE(ct_offload_conn_is_offloaded(&c));
}

// rfc: a conn_add error leaves the connection unmarked even if another provider accepted.
TEST(RegistryRfc, ConnAddErrorLeavesUnmarked) {
  for (Profile p : {Profile::kRfcV1, Profile::kRfcV2}) {
    auto r = quietRegistry(p);
    addFake(*r, "fails", nullptr)->add_result = EIO;
    addFake(*r, "takes", nullptr);
    conn c = makeConn();
    EXPECT_EQ(r->connAdd(makeCtx(c)), EIO);
    EXPECT_EQ(c.offload_mark, OffloadMark::kNone) << profileName(p);
  }
}

// ---- conn_del --------------------------------------------------------------------------------

// rfc-v1: conn_del goes to every provider, unconditionally (even an unmarked connection).
TEST(RegistryRfcV1, ConnDelUnconditional) {
  auto r = quietRegistry(Profile::kRfcV1);
  CallLog log;
  addFake(*r, "a", &log);
  addFake(*r, "b", &log)->can = false;
  conn c = makeConn();
  r->connDel(makeCtx(c));
  EXPECT_EQ(log, (CL{"a.conn_del", "b.conn_del"}));
}

// rfc-v2: conn_del only for a marked connection, then to every provider; the mark is cleared.
TEST(RegistryRfcV2, ConnDelOnlyForMarked) {
  auto r = quietRegistry(Profile::kRfcV2);
  CallLog log;
  addFake(*r, "a", &log);
  addFake(*r, "b", &log)->can = false;
  conn c = makeConn();
  r->connDel(makeCtx(c));
  EXPECT_TRUE(log.empty());
  r->connAdd(makeCtx(c));
  log.clear();
  r->connDel(makeCtx(c));
  EXPECT_EQ(log, (CL{"a.conn_del", "b.conn_del"}));
  EXPECT_EQ(c.offload_mark, OffloadMark::kNone);
}

// facts §5.2: in rfc-v2 a provider that accepted never gets conn_del when another one failed.
TEST(RegistryRfcV2, LeakWhenOneProviderFails) {
  auto r = quietRegistry(Profile::kRfcV2);
  auto dummy = std::make_unique<DummyProvider>("takes");
  DummyProvider* takes = dummy.get();
  addFake(*r, "fails", nullptr)->add_result = EIO;
  r->registerProvider(std::move(dummy), kOriginBuiltin);
  conn c = makeConn();
  EXPECT_EQ(r->connAdd(makeCtx(c)), EIO);
  r->connDel(makeCtx(c));
  EXPECT_EQ(takes->connections(), 1u);  // Leaked.
  EXPECT_EQ(takes->stats().dels, 0u);
}

// strict fix of §5.2: marked because one accepted; conn_del goes to exactly the acceptors.
TEST(RegistryStrict, ConnDelOnlyToAcceptors) {
  auto r = quietRegistry(Profile::kStrict);
  CallLog log;
  addFake(*r, "fails", &log)->add_result = EIO;
  auto dummy = std::make_unique<DummyProvider>("takes");
  DummyProvider* takes = dummy.get();
  r->registerProvider(std::move(dummy), kOriginBuiltin);
  addFake(*r, "declines", &log)->can = false;
  conn c = makeConn();
  EXPECT_EQ(r->connAdd(makeCtx(c)), EIO);
  EXPECT_EQ(c.offload_mark, OffloadMark::kAdded);
  log.clear();
  r->connDel(makeCtx(c));
  EXPECT_EQ(takes->connections(), 0u);
  EXPECT_EQ(takes->stats().unknown_dels, 0u);
  EXPECT_TRUE(log.empty());  // Neither "fails" nor "declines" hears of it.
  EXPECT_EQ(c.offload_mark, OffloadMark::kNone);
}

// ---- conn_established ------------------------------------------------------------------------

// conn_established only for a connection marked ADDED, else EALREADY and no call.
TEST_P(AllProfiles, EstablishedOnlyAfterAdded) {
  addFake(r(), "a", &log_);
  conn c = makeConn();
  EXPECT_EQ(r().connEstablished(makeCtx(c)), EALREADY);
  EXPECT_TRUE(log_.empty());
  r().connAdd(makeCtx(c));
  log_.clear();
  EXPECT_EQ(r().connEstablished(makeCtx(c)), 0);
  EXPECT_EQ(log_, (CL{"a.conn_established"}));
  EXPECT_TRUE(ct_offload_conn_is_established(&c));
}

// conn_established is sent exactly once per connection: the mark becomes EST.
TEST_P(AllProfiles, EstablishedExactlyOnce) {
  addFake(r(), "a", &log_);
  addFake(r(), "b", &log_);
  conn c = makeConn();
  r().connAdd(makeCtx(c));
  log_.clear();
  EXPECT_EQ(r().connEstablished(makeCtx(c)), 0);
  EXPECT_EQ(r().connEstablished(makeCtx(c)), EALREADY);
  ScopedCurrentRegistry cur(&r());
  auto ctx = makeCtx(c);
  ct_offload_conn_established(&ctx);
  EXPECT_EQ(log_, (CL{"a.conn_established", "b.conn_established"}));
}

// strict: conn_established goes only to the providers that accepted the connection.
TEST(RegistryStrict, EstablishedOnlyToAcceptors) {
  auto r = quietRegistry(Profile::kStrict);
  CallLog log;
  addFake(*r, "takes", &log);
  addFake(*r, "fails", &log)->add_result = EIO;
  conn c = makeConn();
  r->connAdd(makeCtx(c));
  log.clear();
  EXPECT_EQ(r->connEstablished(makeCtx(c)), 0);
  EXPECT_EQ(log, (CL{"takes.conn_established"}));
}

// ---- conn_update, can_offload, flush ---------------------------------------------------------

// conn_update: the first non-zero timestamp wins and the loop stops.
TEST_P(AllProfiles, UpdateFirstNonZeroWins) {
  addFake(r(), "zero", &log_)->update_result = 0;
  addFake(r(), "first", &log_)->update_result = 111;
  addFake(r(), "second", &log_)->update_result = 222;
  conn c = makeConn();
  r().connAdd(makeCtx(c));
  log_.clear();
  EXPECT_EQ(r().connUpdate(makeCtx(c)), 111);
  EXPECT_EQ(log_, (CL{"zero.conn_update", "first.conn_update"}));
}

// conn_update returns 0 when no provider knows the connection.
TEST_P(AllProfiles, UpdateZeroWhenNobodyKnows) {
  addFake(r(), "zero", &log_);
  conn c = makeConn();
  r().connAdd(makeCtx(c));
  EXPECT_EQ(r().connUpdate(makeCtx(c)), 0);
}

// can_offload is true if any provider says true; it stops at the first true.
TEST_P(AllProfiles, CanOffloadAny) {
  addFake(r(), "no", &log_)->can = false;
  EXPECT_FALSE(r().canOffload(makeCtx(makeConn())));
  addFake(r(), "yes", &log_)->can = true;
  addFake(r(), "later", &log_)->can = true;
  log_.clear();
  EXPECT_TRUE(r().canOffload(makeCtx(makeConn())));
  EXPECT_EQ(log_, (CL{"no.can_offload", "yes.can_offload"}));
}

// rfc: a provider without can_offload counts as false for can_offload (but yes for conn_add).
TEST(RegistryRfc, CanOffloadAbsentCountsFalse) {
  for (Profile p : {Profile::kRfcV1, Profile::kRfcV2}) {
    auto r = quietRegistry(p);
    CallLog log;
    addFake(*r, "absent", &log, bit(Callback::kConnAdd));
    conn c = makeConn();
    EXPECT_FALSE(r->canOffload(makeCtx(c))) << profileName(p);
    r->connAdd(makeCtx(c));
    EXPECT_EQ(log, (CL{"absent.conn_add"}));
  }
}

// flush reaches every provider that has it.
TEST_P(AllProfiles, FlushAll) {
  addFake(r(), "a", &log_);
  addFake(r(), "b", &log_);
  ScopedCurrentRegistry cur(&r());
  ct_offload_flush();
  EXPECT_EQ(log_, (CL{"a.flush", "b.flush"}));
}

// Per-provider counters count the calls made, by callback.
TEST_P(AllProfiles, CountersByCallback) {
  addFake(r(), "a", &log_);
  conn c = makeConn();
  r().connAdd(makeCtx(c));
  r().connEstablished(makeCtx(c));
  r().connDel(makeCtx(c));
  r().flush();
  r().flush();
  const ProviderInfo p = r().providers().at(0);
  EXPECT_EQ(p.calls[static_cast<int>(Callback::kCanOffload)], 1u);
  EXPECT_EQ(p.calls[static_cast<int>(Callback::kConnAdd)], 1u);
  EXPECT_EQ(p.calls[static_cast<int>(Callback::kConnEstablished)], 1u);
  EXPECT_EQ(p.calls[static_cast<int>(Callback::kConnDel)], 1u);
  EXPECT_EQ(p.calls[static_cast<int>(Callback::kFlush)], 2u);
  EXPECT_EQ(p.calls[static_cast<int>(Callback::kConnUpdate)], 0u);
}

// ---- Batches ---------------------------------------------------------------------------------

// A batch starts with room for 8 ops and doubles: 8 -> 16 -> 32.
TEST(RegistryBatch, GrowsFrom8ByDoubling) {
  ct_offload_op_batch b;
  ct_offload_op_batch_init(&b);
  EXPECT_EQ(ct_offload_op_batch_size(&b), 8u);
  conn c = makeConn();
  auto ctx = makeCtx(c);
  for (int i = 0; i < 8; i++) ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_DEL, &ctx);
  EXPECT_EQ(ct_offload_op_batch_size(&b), 8u);
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_DEL, &ctx);
  EXPECT_EQ(ct_offload_op_batch_size(&b), 16u);
  for (int i = 0; i < 8; i++) ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_DEL, &ctx);
  EXPECT_EQ(ct_offload_op_batch_size(&b), 32u);
  EXPECT_EQ(ct_offload_op_batch_len(&b), 17u);
  ct_offload_op* op;
  size_t n = 0;
  CT_OFFLOAD_BATCH_OP_FOR_EACH(i, op, &b) {
    n += op->type == CT_OFFLOAD_OP_DEL && op->ctx.conn == &c && i < 17;
  }
  EXPECT_EQ(n, 17u);
  ct_offload_op_batch_destroy(&b);
  EXPECT_EQ(b.ops, nullptr);
}

// Per-op errors for one op of each type, plus an unknown type; runs the batch via the C API.
std::vector<int> batchErrors(Registry& r, conn& c) {
  ScopedCurrentRegistry cur(&r);
  ct_offload_op_batch b;
  ct_offload_op_batch_init(&b);
  auto ctx = makeCtx(c);
  for (auto t : {CT_OFFLOAD_OP_ADD, CT_OFFLOAD_OP_EST, CT_OFFLOAD_OP_UPD, CT_OFFLOAD_OP_POLICY,
                 CT_OFFLOAD_OP_DEL, CT_OFFLOAD_OP_FLUSH, CT_OFFLOAD_OP_ADD}) {
    ct_offload_op_batch_add(&b, t, &ctx);
  }
  const int unknown = 7;  // Written as raw bytes: untrusted input, not a valid enumerator.
  std::memcpy(&b.ops[6].type, &unknown, sizeof unknown);
  for (size_t i = 0; i < b.n_ops; i++) b.ops[i].error = -1;
  ct_offload_op_batch_submit(&b);
  std::vector<int> errors;
  for (size_t i = 0; i < b.n_ops; i++) errors.push_back(b.ops[i].error);
  ct_offload_op_batch_destroy(&b);
  return errors;
}

// Batch errors when providers succeed: ADD 0, EST 0, UPD 0, POLICY 0, DEL 0, FLUSH 0, other
// EINVAL — in every profile.
TEST_P(AllProfiles, BatchErrorsOnSuccess) {
  Fake* f = addFake(r(), "a", &log_);
  f->update_result = 5;
  conn c = makeConn();
  EXPECT_EQ(batchErrors(r(), c), (std::vector<int>{0, 0, 0, 0, 0, 0, EINVAL}));
}

// Batch errors when providers fail: ADD the first error, EST 0 (even unmarked), UPD ENODATA
// (rfc-v1) or EIO (rfc-v2, strict), POLICY EPERM, DEL 0, FLUSH 0, other EINVAL.
TEST_P(AllProfiles, BatchErrorsOnFailure) {
  Fake* f = addFake(r(), "a", &log_);
  f->add_result = ENOSPC;
  f->can = true;
  Fake* g = addFake(r(), "b", &log_);
  g->add_result = EIO;
  g->can = true;
  conn c = makeConn();  // can_offload stays true, so POLICY succeeds (EPERM: next test).
  const int upd = GetParam() == Profile::kRfcV1 ? ENODATA : EIO;
  EXPECT_EQ(batchErrors(r(), c), (std::vector<int>{ENOSPC, 0, upd, 0, 0, 0, EINVAL}));
}

// POLICY is EPERM when no provider can offload (then ADD is 0: nobody was asked).
TEST_P(AllProfiles, BatchPolicyEperm) {
  addFake(r(), "a", &log_)->can = false;
  conn c = makeConn();
  const int upd = GetParam() == Profile::kRfcV1 ? ENODATA : EIO;
  EXPECT_EQ(batchErrors(r(), c), (std::vector<int>{0, 0, upd, EPERM, 0, 0, EINVAL}));
}

// Providers with batch_submit get the whole batch once; the others get each op one by one.
TEST(RegistryBatch, BatchProvidersGetWholeBatchOthersOpByOp) {
  for (Profile p : {Profile::kRfcV1, Profile::kRfcV2}) {
    auto r = quietRegistry(p);
    CallLog log;
    Fake* bp = addFake(*r, "bulk", &log, kPerConn | bit(Callback::kBatchSubmit));
    addFake(*r, "single", &log);
    conn c = makeConn();
    auto ctx = makeCtx(c);
    ct_offload_op_batch b;
    ct_offload_op_batch_init(&b);
    ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_ADD, &ctx);
    ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_POLICY, &ctx);
    ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_FLUSH, &ctx);
    r->submit(b);
    ct_offload_op_batch_destroy(&b);
    EXPECT_EQ(log, (CL{"bulk.batch_submit", "single.can_offload", "single.conn_add",
                       "single.can_offload", "single.flush"}))
        << profileName(p);
    ASSERT_EQ(bp->batches.size(), 1u);
    EXPECT_EQ(bp->batches[0], (std::vector<ct_offload_op_type>{
                                  CT_OFFLOAD_OP_ADD, CT_OFFLOAD_OP_POLICY, CT_OFFLOAD_OP_FLUSH}));
  }
}

// rfc: with only batch providers, UPD and POLICY fail (the per-op fallback asks nobody) and
// the batch provider's ADD errors are overwritten by the per-op result.
TEST(RegistryBatch, RfcBatchOnlyProvidersOverwritten) {
  auto r = quietRegistry(Profile::kRfcV2);
  Fake* bp = addFake(*r, "bulk", nullptr, kPerConn | bit(Callback::kBatchSubmit));
  bp->batch_add_error = EIO;
  conn c = makeConn();
  auto ctx = makeCtx(c);
  ct_offload_op_batch b;
  ct_offload_op_batch_init(&b);
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_ADD, &ctx);
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_UPD, &ctx);
  r->submit(b);
  EXPECT_EQ(b.ops[0].error, 0);
  EXPECT_EQ(b.ops[1].error, EIO);
  EXPECT_EQ(c.offload_mark, OffloadMark::kAdded);
  ct_offload_op_batch_destroy(&b);
}

// strict: a batch provider accepts an ADD op by leaving its error 0; its refusal is reported;
// DEL ops reach it only for connections it accepted.
TEST(RegistryStrict, BatchProviderAcceptanceAndDelFiltering) {
  auto r = quietRegistry(Profile::kStrict);
  CallLog log;
  Fake* bp = addFake(*r, "bulk", &log, kPerConn | bit(Callback::kBatchSubmit));
  conn taken = makeConn(1), refused = makeConn(2);
  auto t = makeCtx(taken), f = makeCtx(refused);
  ct_offload_op_batch b;
  ct_offload_op_batch_init(&b);
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_ADD, &t);
  r->submit(b);
  EXPECT_EQ(b.ops[0].error, 0);
  EXPECT_EQ(taken.offload_mark, OffloadMark::kAdded);
  bp->batch_add_error = ENOSPC;
  b.n_ops = 0;
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_ADD, &f);
  r->submit(b);
  EXPECT_EQ(b.ops[0].error, ENOSPC);
  EXPECT_EQ(refused.offload_mark, OffloadMark::kNone);
  b.n_ops = 0;
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_DEL, &t);
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_DEL, &f);
  r->submit(b);
  ASSERT_EQ(bp->batches.size(), 3u);
  EXPECT_EQ(bp->batches[2], (std::vector<ct_offload_op_type>{CT_OFFLOAD_OP_DEL}));
  EXPECT_EQ(taken.offload_mark, OffloadMark::kNone);
  ct_offload_op_batch_destroy(&b);
}

// strict: [ADD c, EST c] in one batch gives the batch provider both ops, as one by one would
// (ADD accepted, then EST); the connection ends up established.
TEST(RegistryStrict, BatchAddThenEstReachesTheBatchProvider) {
  auto r = quietRegistry(Profile::kStrict);
  Fake* bp = addFake(*r, "bulk", nullptr, kPerConn | bit(Callback::kBatchSubmit));
  conn c = makeConn(1);
  auto ctx = makeCtx(c);
  ct_offload_op_batch b;
  ct_offload_op_batch_init(&b);
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_ADD, &ctx);
  ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_EST, &ctx);
  r->submit(b);
  ct_offload_op_batch_destroy(&b);
  ASSERT_EQ(bp->batches.size(), 1u);
  EXPECT_EQ(bp->batches[0],
            (std::vector<ct_offload_op_type>{CT_OFFLOAD_OP_ADD, CT_OFFLOAD_OP_EST}));
  EXPECT_EQ(c.offload_mark, OffloadMark::kEst);
}

// strict: an op of an unknown type in a batch for a batch provider is passed on and answered
// EINVAL, without reading the out-of-range value as the enum (UBSan).
TEST(RegistryStrict, BatchUnknownOpTypeReachesTheBatchProvider) {
  struct Bulk final : Provider {
    size_t ops = 0;  // ops received in batches.
    const char* name() const override { return "bulk"; }
    CallbackMask callbacks() const override { return kPerConn | bit(Callback::kBatchSubmit); }
    void batchSubmit(ct_offload_op_batch& b) override { ops += b.n_ops; }
  };
  auto r = quietRegistry(Profile::kStrict);
  auto owned = std::make_unique<Bulk>();
  Bulk* bp = owned.get();
  ASSERT_EQ(r->registerProvider(std::move(owned), "test"), 0);
  conn c = makeConn(1);
  ct_offload_op op{CT_OFFLOAD_OP_ADD, makeCtx(c), 0};
  int bad = 99;
  std::memcpy(&op.type, &bad, sizeof bad);
  ct_offload_op_batch b{&op, 1, 1};
  r->submit(b);
  EXPECT_EQ(op.error, EINVAL);
  EXPECT_EQ(bp->ops, 1u);
}

// strict: a batch provider's own POLICY and UPD answers count, as the same ops one by one would
// (a batch-only provider that can offload made POLICY EPERM and UPD EIO); rfc profiles keep the
// RFC's overwrite (facts §2: the answers come from the providers without batch_submit).
TEST(RegistryBatch, BatchProvidersPolicyAndUpdateAnswersCount) {
  struct Bulk final : Provider {
    int answer = 0;  // error given to POLICY and UPD ops.
    const char* name() const override { return "bulk"; }
    CallbackMask callbacks() const override { return kPerConn | bit(Callback::kBatchSubmit); }
    void batchSubmit(ct_offload_op_batch& b) override {
      for (size_t i = 0; i < b.n_ops; i++) {
        if (b.ops[i].type == CT_OFFLOAD_OP_POLICY || b.ops[i].type == CT_OFFLOAD_OP_UPD) {
          b.ops[i].error = answer;
        }
      }
    }
  };
  for (Profile p : {Profile::kRfcV1, Profile::kRfcV2, Profile::kStrict}) {
    for (int answer : {0, EPERM}) {
      auto r = quietRegistry(p);
      auto owned = std::make_unique<Bulk>();
      owned->answer = answer;
      ASSERT_EQ(r->registerProvider(std::move(owned), "test"), 0);
      conn c = makeConn(1);
      c.offload_mark = OffloadMark::kAdded;  // UPD reaches an accepting provider (strict).
      c.offload_acceptors = 1;
      auto ctx = makeCtx(c);
      ct_offload_op_batch b;
      ct_offload_op_batch_init(&b);
      ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_POLICY, &ctx);
      ct_offload_op_batch_add(&b, CT_OFFLOAD_OP_UPD, &ctx);
      r->submit(b);
      const bool yes = p == Profile::kStrict && answer == 0;
      EXPECT_EQ(b.ops[0].error, yes ? 0 : EPERM) << profileName(p) << " answer " << answer;
      EXPECT_EQ(b.ops[1].error, yes ? 0 : (p == Profile::kRfcV1 ? ENODATA : EIO))
          << profileName(p) << " answer " << answer;
      ct_offload_op_batch_destroy(&b);
    }
  }
}

// ---- Current registry, clock, accessors ------------------------------------------------------

// The C functions act on the current registry; the scoped helper restores the previous one;
// registries of different profiles coexist; with no registry registration is ENXIO.
TEST(RegistryCurrent, ScopedCurrentRegistrySwitchesAndRestores) {
  auto v1 = quietRegistry(Profile::kRfcV1);
  auto v2 = quietRegistry(Profile::kRfcV2);
  ASSERT_EQ(currentRegistry(), nullptr);
  EXPECT_EQ(ct_offload_register(&kClassA2), ENXIO);
  {
    ScopedCurrentRegistry a(v1.get());
    EXPECT_EQ(ct_offload_register(&kClassA2), 0);
    {
      ScopedCurrentRegistry b(v2.get());
      EXPECT_EQ(currentRegistry(), v2.get());
      EXPECT_EQ(ct_offload_register(&kClassA2), 0);  // Another registry: no clash.
    }
    EXPECT_EQ(currentRegistry(), v1.get());
    conn c = makeConn();
    auto ctx = makeCtx(c);
    ct_offload_conn_del(&ctx);  // v1: unconditional.
    EXPECT_EQ(v1->providers()[0].calls[static_cast<int>(Callback::kConnDel)], 1u);
  }
  EXPECT_EQ(currentRegistry(), nullptr);
  Registry* old = setDefaultRegistry(v2.get());
  EXPECT_EQ(currentRegistry(), v2.get());
  setDefaultRegistry(old);
}

// Providers read "now" from the dispatching registry's injected clock (0 when unset).
TEST(RegistryClock, NowComesFromTheDispatchingRegistry) {
  auto r1 = quietRegistry(Profile::kRfcV2);
  auto r2 = quietRegistry(Profile::kRfcV2);
  long long t1 = 1000, t2 = 2000;
  r1->setClock([](void* a) { return *static_cast<long long*>(a); }, &t1);
  r2->setClock([](void* a) { return *static_cast<long long*>(a); }, &t2);
  r1->registerProvider(std::make_unique<DummyProvider>(), kOriginBuiltin);
  r2->registerProvider(std::make_unique<DummyProvider>(), kOriginBuiltin);
  conn c = makeConn();
  ScopedCurrentRegistry cur(r1.get());
  r1->connAdd(makeCtx(c));
  EXPECT_EQ(r1->connUpdate(makeCtx(c)), 1000);
  r2->connAdd(makeCtx(c));
  EXPECT_EQ(r2->connUpdate(makeCtx(c)), 2000);  // r2 while dispatching, though r1 is current.
  EXPECT_EQ(ctsim_now_ms(), 1000);
  t1 = 1500;
  EXPECT_EQ(r1->connUpdate(makeCtx(c)), 1500);
  Registry frozen;
  EXPECT_EQ(frozen.nowMs(), 0);
}

// The accessors expose keys, TCP peers, state and netdev as the engine set them.
TEST(ConnAccessors, ReadWhatTheEngineSet) {
  conn c = makeConn(1234);
  c.tcp[CTSIM_DIR_REPLY] = {100, 200, 65535, 7, CTSIM_TCPS_SYN_RECV};
  c.state = CTSIM_CS_TCP_SYN_RECV;
  netdev dev{"p0", 3};
  auto ctx = makeCtx(c, &dev);
  EXPECT_EQ(ctx.key, ctsim_conn_key_fwd(ctx.conn));
  EXPECT_EQ(ctsim_conn_key_fwd(&c)->ports.src, 1234);
  EXPECT_EQ(ctsim_conn_key_rev(&c).ports.dst, 1234);
  ctsim_tcp_peer peer{};
  EXPECT_EQ(ctsim_conn_tcp_peer(&c, CTSIM_DIR_REPLY, &peer), 0);
  EXPECT_EQ(peer.seqhi, 200u);
  EXPECT_EQ(peer.wscale, 7);
  EXPECT_EQ(ctsim_conn_get_state(&c), CTSIM_CS_TCP_SYN_RECV);
  EXPECT_STREQ(ctsim_netdev_name(ctx.netdev_in), "p0");
  EXPECT_EQ(ctsim_netdev_port(ctx.netdev_in), 3u);
  EXPECT_EQ(ctx.input_port_id, 3u);
  EXPECT_EQ(ctsim_netdev_name(nullptr), nullptr);
  EXPECT_EQ(ctsim_netdev_port(nullptr), CTSIM_PORT_NONE);
  conn u = makeConn(1, 17);
  EXPECT_EQ(ctsim_conn_tcp_peer(&u, CTSIM_DIR_ORIG, &peer), EINVAL);
}

// ctsim_conn_key_rev() returns (by value; the connection stores no reverse key) what version 1
// returned from the connection's stored reverse key: the forward key with addresses and ports
// swapped and ICMP request types replaced by their reply types, for TCP/UDP over IPv4 and
// IPv6, ICMP echo, timestamp and unpaired types, ICMPv6 echo; all zero for a NULL conn.
TEST(ConnAccessors, ReverseKeyByValue) {
  const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const uint8_t b6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  struct Case {
    uint8_t proto;
    bool v6;
    uint8_t type, reply_type;  // ICMP only.
  };
  for (Case k : {Case{6, false, 0, 0}, Case{17, false, 0, 0}, Case{6, true, 0, 0},
                 Case{17, true, 0, 0}, Case{1, false, 8, 0}, Case{1, false, 13, 14},
                 Case{1, false, 15, 16}, Case{1, false, 3, 3}, Case{58, true, 128, 129}}) {
    conn c = makeConn(4321, k.proto, 7);  // 10.0.0.1:4321 -> 10.0.0.2:80, zone 7.
    if (k.v6) {
      c.key_fwd.af = CTSIM_AF_INET6;
      std::memcpy(c.key_fwd.src, a6, 16);
      std::memcpy(c.key_fwd.dst, b6, 16);
    }
    ctsim_conn_key want = c.key_fwd;  // the reverse, written out field by field.
    std::memcpy(want.src, c.key_fwd.dst, 16);
    std::memcpy(want.dst, c.key_fwd.src, 16);
    if (k.proto == 1 || k.proto == 58) {
      c.key_fwd.icmp = {99, k.type, 0};
      want.icmp = {99, k.reply_type, 0};
    } else {
      want.ports = {80, 4321};
    }
    ctsim_conn_key got = ctsim_conn_key_rev(&c);
    EXPECT_EQ(std::memcmp(&got, &want, sizeof got), 0)
        << "proto " << int(k.proto) << (k.v6 ? " v6" : " v4") << " type " << int(k.type);
  }
  ctsim_conn_key none = ctsim_conn_key_rev(nullptr);
  const ctsim_conn_key zero{};
  EXPECT_EQ(std::memcmp(&none, &zero, sizeof none), 0);
}

// Profile names round-trip; an unknown name is EINVAL.
TEST(RegistryProfile, NamesRoundTrip) {
  for (Profile p : {Profile::kRfcV1, Profile::kRfcV2, Profile::kStrict}) {
    auto parsed = parseProfile(profileName(p));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.value(), p);
  }
  EXPECT_EQ(parseProfile("v3").status().code(), EINVAL);
}

}  // namespace
}  // namespace ctsim

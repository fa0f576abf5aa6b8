#pragma once
// Test helpers for the provider tests: a scriptable fake provider that logs its calls, and
// connections with simple keys.

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "providers/conn.h"
#include "providers/registry.h"

namespace ctsim::testing {

inline constexpr CallbackMask kAllCallbacks = (1u << kCallbackCount) - 1;
// Every callback but init and batch_submit.
inline constexpr CallbackMask kPerConn =
    kAllCallbacks & ~bit(Callback::kInit) & ~bit(Callback::kBatchSubmit);

// Calls as "name.callback", in order, shared by the fakes of one test.
using CallLog = std::vector<std::string>;

// A provider whose callbacks (those in 'mask') log and return scripted values.
class Fake final : public Provider {
 public:
  Fake(std::string name, CallLog* log, CallbackMask mask = kPerConn)
      : name_(std::move(name)), log_(log), mask_(mask) {}

  int init_result = 0;          // init()
  int add_result = 0;           // conn_add()
  bool can = true;              // can_offload()
  long long update_result = 0;  // conn_update()
  int batch_add_error = 0;      // batch_submit() sets ADD ops' error to this.
  std::vector<std::vector<ct_offload_op_type>> batches;  // What batch_submit received.

  // Provider:
  const char* name() const override { return name_.empty() ? nullptr : name_.c_str(); }
  CallbackMask callbacks() const override { return mask_; }
  int init() override { return log("init"), init_result; }
  int connAdd(const ct_offload_ctx&) override { return log("conn_add"), add_result; }
  void connDel(const ct_offload_ctx&) override { log("conn_del"); }
  long long connUpdate(const ct_offload_ctx&) override { return log("conn_update"), update_result; }
  void connEstablished(const ct_offload_ctx&) override { log("conn_established"); }
  bool canOffload(const ct_offload_ctx&) override { return log("can_offload"), can; }
  void flush() override { log("flush"); }
  void batchSubmit(ct_offload_op_batch& b) override {
    log("batch_submit");
    std::vector<ct_offload_op_type> types;
    for (size_t i = 0; i < b.n_ops; i++) {
      types.push_back(b.ops[i].type);
      if (b.ops[i].type == CT_OFFLOAD_OP_ADD) b.ops[i].error = batch_add_error;
    }
    batches.push_back(std::move(types));
  }

 private:
  void log(const char* what) {
    if (log_) log_->push_back(name_ + "." + what);
  }
  std::string name_;
  CallLog* log_;
  CallbackMask mask_;
};

// Registers a Fake and returns it (owned by the registry); nullptr if registration failed.
inline Fake* addFake(Registry& r, const std::string& name, CallLog* log,
                     CallbackMask mask = kPerConn, int* error = nullptr) {
  auto f = std::make_unique<Fake>(name, log, mask);
  Fake* raw = f.get();
  int err = r.registerProvider(std::move(f), kOriginProgram);
  if (error) *error = err;
  return err == 0 ? raw : nullptr;
}

// A TCP (or other 'proto') IPv4 connection 10.0.0.1:sport -> 10.0.0.2:80 in 'zone'.
inline conn makeConn(uint16_t sport = 1000, uint8_t proto = 6, uint16_t zone = 0) {
  conn c;
  c.key_fwd.af = CTSIM_AF_INET;
  c.key_fwd.proto = proto;
  c.key_fwd.zone = zone;
  const uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
  std::memcpy(c.key_fwd.src, a, 4);
  std::memcpy(c.key_fwd.dst, b, 4);
  c.key_fwd.ports.src = sport;
  c.key_fwd.ports.dst = 80;
  c.state = proto == 6 ? CTSIM_CS_TCP_SYN_SENT : CTSIM_CS_OTHER_FIRST;
  return c;
}

// Dispatches the life of 'n' connections (ports first_port...: add, established, update, del),
// then a flush.
inline void driveConnections(Registry& r, int n, uint16_t first_port = 1000) {
  for (int i = 0; i < n; i++) {
    conn c = makeConn(uint16_t(first_port + i));
    ct_offload_ctx ctx = makeCtx(c);
    r.connAdd(ctx);
    r.connEstablished(ctx);
    r.connUpdate(ctx);
    r.connDel(ctx);
  }
  r.flush();
}

// How many entries of 'log' are exactly 'what' (e.g. "later.conn_add").
inline size_t countCalls(const CallLog& log, const std::string& what) {
  size_t n = 0;
  for (const std::string& s : log) n += s == what ? 1 : 0;
  return n;
}

}  // namespace ctsim::testing

// The C ABI of <ctsim/ct_offload.h>: ct_offload_* functions forwarding to the current registry,
// op batches, and the ctsim_* accessors over providers/conn.h.  No exception crosses this
// boundary: nothing here throws except on memory exhaustion, which aborts instead.

#include <ctsim/ct_offload.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "providers/conn.h"
#include "providers/registry.h"
#include "sim/conntrack/conn_key.h"

static_assert(sizeof(ct_offload_op_type) == sizeof(int), "op types are read back as int");

namespace ctsim {

namespace {
std::atomic<Registry*> g_default{nullptr};
}  // namespace

detail::DeclineReasonSlot& detail::declineReasonSlot() {
  thread_local DeclineReasonSlot slot;
  return slot;
}

Registry* currentRegistry() {
  Registry* r = detail::threadCurrent();
  return r ? r : g_default.load(std::memory_order_acquire);
}

Registry* setDefaultRegistry(Registry* r) {
  return g_default.exchange(r, std::memory_order_acq_rel);
}

ScopedCurrentRegistry::ScopedCurrentRegistry(Registry* r) : saved_(detail::threadCurrent()) {
  detail::threadCurrent() = r;
}

ScopedCurrentRegistry::~ScopedCurrentRegistry() { detail::threadCurrent() = saved_; }

}  // namespace ctsim

using ctsim::currentRegistry;

extern "C" {

int ct_offload_register(const struct ct_offload_class* cls) {
  ctsim::Registry* r = currentRegistry();
  if (!r) return ENXIO;
  return r->registerClass(cls);
}

void ct_offload_unregister(const struct ct_offload_class* cls) {
  if (ctsim::Registry* r = currentRegistry()) r->unregisterClass(cls);
}

int ct_offload_conn_add(const struct ct_offload_ctx* ctx) {
  ctsim::Registry* r = currentRegistry();
  return r && ctx ? r->connAdd(*ctx) : 0;
}

void ct_offload_conn_del(const struct ct_offload_ctx* ctx) {
  ctsim::Registry* r = currentRegistry();
  if (r && ctx) r->connDel(*ctx);
}

long long ct_offload_conn_update(const struct ct_offload_ctx* ctx) {
  ctsim::Registry* r = currentRegistry();
  return r && ctx ? r->connUpdate(*ctx) : 0;
}

void ct_offload_conn_established(const struct ct_offload_ctx* ctx) {
  ctsim::Registry* r = currentRegistry();
  if (r && ctx) (void)r->connEstablished(*ctx);
}

bool ct_offload_can_offload(const struct ct_offload_ctx* ctx) {
  ctsim::Registry* r = currentRegistry();
  return r && ctx && r->canOffload(*ctx);
}

void ct_offload_flush(void) {
  if (ctsim::Registry* r = currentRegistry()) r->flush();
}

bool ct_offload_conn_is_offloaded(const struct conn* c) {
  return c && c->offload_mark != ctsim::OffloadMark::kNone;
}

bool ct_offload_conn_is_established(const struct conn* c) {
  return c && c->offload_mark == ctsim::OffloadMark::kEst;
}

// ---- Batches ----

static constexpr size_t kBatchInitialSize = 8;

static void batchReserve(struct ct_offload_op_batch* batch, size_t n) {
  void* p = std::realloc(batch->ops, n * sizeof *batch->ops);
  if (!p) std::abort();  // Out of memory: unrecoverable, as OVS's xrealloc.
  batch->ops = static_cast<ct_offload_op*>(p);
  batch->allocated = n;
}

void ct_offload_op_batch_init(struct ct_offload_op_batch* batch) {
  batch->ops = nullptr;
  batch->n_ops = 0;
  batch->allocated = 0;
  batchReserve(batch, kBatchInitialSize);
}

void ct_offload_op_batch_add(struct ct_offload_op_batch* batch, enum ct_offload_op_type type,
                             const struct ct_offload_ctx* ctx) {
  if (batch->n_ops == batch->allocated) {
    batchReserve(batch, batch->allocated ? batch->allocated * 2 : kBatchInitialSize);
  }
  ct_offload_op& op = batch->ops[batch->n_ops++];
  op.type = type;
  op.ctx = *ctx;
  op.error = 0;
}

void ct_offload_op_batch_submit(struct ct_offload_op_batch* batch) {
  if (ctsim::Registry* r = currentRegistry()) r->submit(*batch);
}

void ct_offload_op_batch_destroy(struct ct_offload_op_batch* batch) {
  std::free(batch->ops);
  batch->ops = nullptr;
  batch->n_ops = 0;
  batch->allocated = 0;
}

// ---- Accessors ----

const struct ctsim_conn_key* ctsim_conn_key_fwd(const struct conn* c) {
  return c ? &c->key_fwd : nullptr;
}

struct ctsim_conn_key ctsim_conn_key_rev(const struct conn* c) {
  return c ? ctsim::ct::reverseKey(c->key_fwd) : ctsim_conn_key{};
}

int ctsim_conn_tcp_peer(const struct conn* c, enum ctsim_dir dir, struct ctsim_tcp_peer* peer) {
  const int d = static_cast<int>(dir);
  if (!c || !peer || c->key_fwd.proto != 6 || (d != 0 && d != 1)) return EINVAL;
  *peer = c->tcp[d];
  return 0;
}

enum ctsim_conn_state ctsim_conn_get_state(const struct conn* c) {
  return c ? c->state : CTSIM_CS_NONE;
}

const char* ctsim_netdev_name(const struct netdev* n) { return n ? n->name.c_str() : nullptr; }

odp_port_t ctsim_netdev_port(const struct netdev* n) { return n ? n->port : CTSIM_PORT_NONE; }

long long ctsim_now_ms(void) {
  ctsim::Registry* r = currentRegistry();
  return r ? r->nowMs() : 0;
}

void ctsim_offload_decline_reason(const char* reason) {
  ctsim::detail::DeclineReasonSlot& slot = ctsim::detail::declineReasonSlot();
  if (!slot.armed || reason == nullptr) return;
  std::strncpy(slot.text, reason, sizeof slot.text - 1);
  slot.text[sizeof slot.text - 1] = '\0';
  slot.set = true;
}

}  // extern "C"

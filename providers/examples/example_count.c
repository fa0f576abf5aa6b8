/* example-count: a minimal conntrack offload provider written in C against <ctsim/ct_offload.h>
 * with OVS's names.  It "offloads" TCP and UDP connections by counting them, and shows how a
 * provider reads the connection key and the TCP window state through the ctsim_* accessors.
 * Build it out of tree with find_package(ctsim) and ctsim_add_provider() (see CMakeLists.txt),
 * then: ctsim providers --provider-lib example_count.so */
#include <ctsim/ct_offload.h>

#include <errno.h>
#include <stdatomic.h>

static atomic_long n_offloaded; /* Connections currently counted. */
static atomic_long n_established;

static int count_init(void) {
  atomic_store(&n_offloaded, 0);
  atomic_store(&n_established, 0);
  return 0;
}

/* TCP and UDP only: the key is in the context (also: ctsim_conn_key_fwd(ctx->conn)). */
static bool count_can_offload(const struct ct_offload_ctx* ctx) {
  return ctx->key && (ctx->key->proto == 6 || ctx->key->proto == 17);
}

static int count_conn_add(const struct ct_offload_ctx* ctx) {
  struct ctsim_tcp_peer peer;
  /* A real provider would program the window into hardware here. */
  if (ctx->key->proto == 6 && ctsim_conn_tcp_peer(ctx->conn, CTSIM_DIR_ORIG, &peer) != 0) {
    return EINVAL;
  }
  atomic_fetch_add(&n_offloaded, 1);
  return 0;
}

static void count_conn_del(const struct ct_offload_ctx* ctx) {
  (void)ctx;
  atomic_fetch_sub(&n_offloaded, 1);
}

static void count_conn_established(const struct ct_offload_ctx* ctx) {
  (void)ctx;
  atomic_fetch_add(&n_established, 1);
}

/* Hardware would report a last-used time; "now" keeps offloaded connections alive. */
static long long count_conn_update(const struct ct_offload_ctx* ctx) {
  (void)ctx;
  return ctsim_now_ms();
}

static void count_flush(void) { atomic_store(&n_offloaded, 0); }

static const struct ct_offload_class count_class = {
    .name = "example-count",
    .init = count_init,
    .conn_add = count_conn_add,
    .conn_del = count_conn_del,
    .conn_update = count_conn_update,
    .conn_established = count_conn_established,
    .can_offload = count_can_offload,
    .flush = count_flush,
};

uint32_t ctsim_plugin_abi_version(void) { return CTSIM_PLUGIN_ABI_VERSION; }

int ctsim_plugin_init(void) { return ct_offload_register(&count_class); }

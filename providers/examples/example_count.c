/* example-count: a minimal conntrack offload provider written in C against <ctsim/ct_offload.h>
 * with OVS's names.  It "offloads" TCP and UDP connections by counting them, and shows how a
 * provider reads the connection key and the TCP window state through the ctsim_* accessors, and
 * keeps which connections it took (conn_update answers 0 for any other).
 * Build it out of tree with find_package(ctsim) and ctsim_add_provider() (see CMakeLists.txt),
 * then: ctsim providers --provider-lib example_count.so */
#include <ctsim/ct_offload.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* The connections taken, as a set of conn pointers: open addressing with linear probing and
 * tombstones, under one mutex (callbacks come from any dispatching thread).  conn_update must
 * answer 0 for a connection the provider does not hold, so it has to know which it holds. */
#define COUNT_SLOTS 16384 /* A power of two; at most COUNT_SLOTS / 2 connections are taken. */
static const struct conn* const TOMBSTONE = (const struct conn*)1;
static const struct conn* slots[COUNT_SLOTS];
static size_t n_used; /* Live entries plus tombstones. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static atomic_long n_offloaded; /* Connections currently counted. */
static atomic_long n_established;

/* The slot holding 'c', or of the first free slot of its probe run (insert == true). */
static size_t find_slot(const struct conn* c, bool insert) {
  size_t i = ((uintptr_t)c >> 4) * 0x9E3779B97F4A7C15ull % COUNT_SLOTS;
  size_t first_free = COUNT_SLOTS;
  for (size_t n = 0; n < COUNT_SLOTS; n++, i = (i + 1) % COUNT_SLOTS) {
    if (slots[i] == c) return i;
    if (slots[i] == TOMBSTONE && first_free == COUNT_SLOTS) first_free = i;
    if (slots[i] == NULL) return insert && first_free != COUNT_SLOTS ? first_free : i;
  }
  return first_free;
}

/* Drops the tombstones by inserting the live entries again (when they fill the table). */
static void compact(void) {
  static const struct conn* live[COUNT_SLOTS];
  size_t n = 0;
  for (size_t i = 0; i < COUNT_SLOTS; i++) {
    if (slots[i] != NULL && slots[i] != TOMBSTONE) live[n++] = slots[i];
    slots[i] = NULL;
  }
  for (size_t k = 0; k < n; k++) slots[find_slot(live[k], true)] = live[k];
  n_used = n;
}

static void clear_all(void) {
  memset((void*)slots, 0, sizeof slots); /* Bounded time: flush() is on the datapath too. */
  n_used = 0;
  atomic_store(&n_offloaded, 0);
}

static int count_init(void) {
  pthread_mutex_lock(&mu);
  clear_all();
  pthread_mutex_unlock(&mu);
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
  int err = 0;
  pthread_mutex_lock(&mu);
  if (n_used >= COUNT_SLOTS / 2) compact();
  size_t i = find_slot(ctx->conn, true);
  if (i < COUNT_SLOTS && slots[i] == ctx->conn) {
    err = EEXIST;
  } else if (n_used >= COUNT_SLOTS / 2 || i == COUNT_SLOTS) {
    err = ENOSPC; /* The "hardware table" is full: the connection stays in software. */
  } else {
    if (slots[i] == NULL) n_used++;
    slots[i] = ctx->conn;
    atomic_fetch_add(&n_offloaded, 1);
  }
  pthread_mutex_unlock(&mu);
  return err;
}

static void count_conn_del(const struct ct_offload_ctx* ctx) {
  pthread_mutex_lock(&mu);
  size_t i = find_slot(ctx->conn, false);
  if (i < COUNT_SLOTS && slots[i] == ctx->conn) {
    slots[i] = TOMBSTONE;
    atomic_fetch_sub(&n_offloaded, 1);
  }
  pthread_mutex_unlock(&mu);
}

static void count_conn_established(const struct ct_offload_ctx* ctx) {
  (void)ctx;
  atomic_fetch_add(&n_established, 1);
}

/* Hardware would report a last-used time; "now" keeps offloaded connections alive.  A
 * connection this provider does not hold is unknown: 0. */
static long long count_conn_update(const struct ct_offload_ctx* ctx) {
  pthread_mutex_lock(&mu);
  size_t i = find_slot(ctx->conn, false);
  bool held = i < COUNT_SLOTS && slots[i] == ctx->conn;
  pthread_mutex_unlock(&mu);
  return held ? ctsim_now_ms() : 0;
}

static void count_flush(void) {
  pthread_mutex_lock(&mu);
  clear_all();
  pthread_mutex_unlock(&mu);
}

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

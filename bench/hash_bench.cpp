// The engine's key index against the alternatives issue 9 names, on the engine's own workload:
// 40-byte conntrack keys (ctsim_conn_key), two per connection, values are connection pointers.
//
//   ConnTable            ctsim::ct::ConnTable (sim/conntrack/conn_table.h): 8-byte slots, keys
//                        read from the connection, duplicates allowed.
//   StdUnorderedMulti    std::unordered_multimap<ConnKey, Conn*> (the engine before it).
//   AbslFlatHashMap      absl::flat_hash_map<ConnKey, Conn*> (Abseil, libabsl-dev; unique keys,
//                        the key stored in the table: 48-byte slots).
//   RteHash              DPDK's rte_hash (40-byte keys, data pointer; lock-free reads off), and
//                        its bulk lookup in bursts of 32 (RteHashBulk).
//
// For each: insert 2 N keys, look up every key in a random order (hits), look up absent keys
// (misses), erase every key; N = 1 K, 100 K and 1 M connections. ns_per_op is per key
// operation; index_bytes_per_conn is the table's own memory where it can be known (ConnTable:
// slots; rte_hash and absl: capacity x slot size; unordered_multimap: nodes + buckets).
// Every table gets the same key sequence and the same hash (the engine's keyHashDirected).
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

#include "bench/bench_util.h"
#include "sim/conntrack/conntrack.h"

#ifdef CTSIM_HAVE_ABSL
#include <absl/container/flat_hash_map.h>
#endif
#ifdef CTSIM_HAVE_DPDK
#include <rte_hash.h>

#include "providers/dpdk/eal.h"
#endif

namespace ctsim::bench {
namespace {

using ct::Conn;
using ct::ConnKey;

struct Hash {
  size_t operator()(const ConnKey& k) const { return size_t(ct::keyHashDirected(k)); }
};
struct Eq {
  bool operator()(const ConnKey& a, const ConnKey& b) const { return ct::keyEqual(a, b); }
};

// N connections with distinct keys (IPv4 and IPv6 mixed), a random lookup order over their 2 N
// keys, and N keys that are absent.
struct Workload {
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<std::pair<Conn*, bool>> order;  // (connection, reply key).
  std::vector<ConnKey> keys;                  // order[i]'s key (hits look these up).
  std::vector<ConnKey> absent;
};

ConnKey makeKey(std::mt19937_64& rng, uint64_t i) {
  ConnKey k{};
  bool v6 = i % 4 == 0;
  k.af = v6 ? CTSIM_AF_INET6 : CTSIM_AF_INET;
  k.proto = i % 3 == 0 ? 17 : 6;
  uint64_t a = rng(), b = rng();
  std::memcpy(k.src, &a, v6 ? 8 : 4);
  std::memcpy(k.dst, &b, v6 ? 8 : 4);
  k.ports.src = uint16_t(1024 + i % 60000);
  k.ports.dst = uint16_t(rng());
  return k;
}

const Workload& workload(uint64_t n) {
  static std::map<uint64_t, std::unique_ptr<Workload>> cache;
  auto& w = cache[n];
  if (w) return *w;
  w = std::make_unique<Workload>();
  std::mt19937_64 rng(20261125 + n);
  for (uint64_t i = 0; i < n; ++i) {
    auto c = std::make_unique<Conn>();
    c->ext.key_fwd = makeKey(rng, i);
    w->order.push_back({c.get(), false});
    w->order.push_back({c.get(), true});
    w->conns.push_back(std::move(c));
    w->absent.push_back(makeKey(rng, i + n));
  }
  std::shuffle(w->order.begin(), w->order.end(), rng);
  for (const auto& [c, r] : w->order) w->keys.push_back(r ? c->revKey() : c->key());
  return *w;
}

enum class Op { kInsert, kHit, kMiss, kErase };

// One table under one operation: Table provides insert(conn, reply), find(key), erase(conn,
// reply), clear-by-destruction, bytes(). The timed part is the operation over every key.
template <class Table>
void run(benchmark::State& state, Op op) {
  const uint64_t n = scaled(uint64_t(state.range(0)), 500);
  const Workload& w = workload(n);
  uint64_t ops = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto t = std::make_unique<Table>(n);
    if (!t->ok()) return fail(state, "table creation failed");
    if (op != Op::kInsert) {
      for (const auto& e : w.order) t->insert(e.first, e.second);
    }
    state.ResumeTiming();
    switch (op) {
      case Op::kInsert:
        for (const auto& e : w.order) t->insert(e.first, e.second);
        ops += w.order.size();
        break;
      case Op::kHit:
        for (const ConnKey& k : w.keys) benchmark::DoNotOptimize(t->find(k));
        ops += w.order.size();
        break;
      case Op::kMiss:
        for (const ConnKey& k : w.absent) benchmark::DoNotOptimize(t->find(k));
        ops += w.absent.size();
        break;
      case Op::kErase:
        for (const auto& e : w.order) t->erase(e.first, e.second);
        ops += w.order.size();
        break;
    }
    state.PauseTiming();
    if (op != Op::kErase) bytes = t->bytes();
    t.reset();
    state.ResumeTiming();
  }
  setPerItem(state, ops, "ns_per_op");
  if (bytes != 0) state.counters["index_bytes_per_conn"] = double(bytes) / double(n);
}

struct ConnTableT {
  explicit ConnTableT(uint64_t) {}
  bool ok() const { return true; }
  void insert(Conn* c, bool r) { t.insert(c, r); }
  Conn* find(const ConnKey& k) const {
    return t.forEach(k, [](Conn*, bool) { return true; });
  }
  void erase(Conn* c, bool r) { t.erase(c, r); }
  size_t bytes() const { return t.bytes(); }
  ct::ConnTable t;
};

struct StdMultiT {
  explicit StdMultiT(uint64_t) {}
  bool ok() const { return true; }
  void insert(Conn* c, bool r) { t.emplace(r ? c->revKey() : c->key(), c); }
  Conn* find(const ConnKey& k) const {
    auto it = t.find(k);
    return it == t.end() ? nullptr : it->second;
  }
  void erase(Conn* c, bool r) {
    auto [b, e] = t.equal_range(r ? c->revKey() : c->key());
    for (auto it = b; it != e; ++it) {
      if (it->second == c) {
        t.erase(it);
        return;
      }
    }
  }
  size_t bytes() const {
    // libstdc++: a node holds next pointer, key, value and the cached hash; malloc adds 16.
    return t.size() * (8 + sizeof(ConnKey) + 8 + 8 + 16) + t.bucket_count() * 8;
  }
  std::unordered_multimap<ConnKey, Conn*, Hash, Eq> t;
};

#ifdef CTSIM_HAVE_ABSL
struct AbslT {
  explicit AbslT(uint64_t) {}
  bool ok() const { return true; }
  void insert(Conn* c, bool r) { t.emplace(r ? c->revKey() : c->key(), c); }
  Conn* find(const ConnKey& k) const {
    auto it = t.find(k);
    return it == t.end() ? nullptr : it->second;
  }
  void erase(Conn* c, bool r) { t.erase(r ? c->revKey() : c->key()); }
  size_t bytes() const { return t.capacity() * (sizeof(ConnKey) + 8 + 1); }
  absl::flat_hash_map<ConnKey, Conn*, Hash, Eq> t;
};
#endif

#ifdef CTSIM_HAVE_DPDK
uint32_t rteHashFn(const void* key, uint32_t, uint32_t) {
  return uint32_t(ct::keyHashDirected(*static_cast<const ConnKey*>(key)));
}

struct RteT {
  explicit RteT(uint64_t n) {
    if (!dpdk::ealUsable(dpdk::ensureEal(""))) return;
    static int seq = 0;
    std::string name = "bench_hash_" + std::to_string(seq++);
    rte_hash_parameters p{};
    p.name = name.c_str();
    p.entries = uint32_t(std::max<uint64_t>(2 * n * 5 / 4, 1024));
    p.key_len = sizeof(ConnKey);
    p.hash_func = rteHashFn;
    p.socket_id = 0;
    entries = p.entries;
    h = rte_hash_create(&p);
  }
  ~RteT() {
    if (h != nullptr) rte_hash_free(h);
  }
  bool ok() const { return h != nullptr; }
  void insert(Conn* c, bool r) {
    ConnKey k = r ? c->revKey() : c->key();
    rte_hash_add_key_data(h, &k, static_cast<void*>(c));
  }
  Conn* find(const ConnKey& k) const {
    void* data = nullptr;
    return rte_hash_lookup_data(h, &k, &data) >= 0 ? static_cast<Conn*>(data) : nullptr;
  }
  void erase(Conn* c, bool r) {
    ConnKey k = r ? c->revKey() : c->key();
    rte_hash_del_key(h, &k);
  }
  // Buckets of 8 signatures and key indexes (64 bytes) plus the key store (key + data pointer).
  size_t bytes() const { return size_t(entries) / 8 * 64 + size_t(entries) * (40 + 8); }
  rte_hash* h = nullptr;
  uint32_t entries = 0;
};
#endif

void BM_Index_ConnTable(benchmark::State& s) { run<ConnTableT>(s, Op(s.range(1))); }
void BM_Index_StdUnorderedMulti(benchmark::State& s) { run<StdMultiT>(s, Op(s.range(1))); }
#ifdef CTSIM_HAVE_ABSL
void BM_Index_AbslFlatHashMap(benchmark::State& s) { run<AbslT>(s, Op(s.range(1))); }
#endif
#ifdef CTSIM_HAVE_DPDK
void BM_Index_RteHash(benchmark::State& s) { run<RteT>(s, Op(s.range(1))); }

// rte_hash's bulk lookup, bursts of 32 (its best case: prefetching across the burst).
void BM_Index_RteHashBulkHit(benchmark::State& state) {
  const uint64_t n = scaled(uint64_t(state.range(0)), 500);
  const Workload& w = workload(n);
  RteT t(n);
  if (!t.ok()) return fail(state, "rte_hash creation failed (EAL?)");
  for (const auto& e : w.order) t.insert(e.first, e.second);
  std::vector<const void*> keys;
  for (const ConnKey& k : w.keys) keys.push_back(&k);
  uint64_t ops = 0;
  void* data[32];
  uint64_t hits = 0;
  for (auto _ : state) {
    for (size_t i = 0; i + 32 <= keys.size(); i += 32) {
      benchmark::DoNotOptimize(rte_hash_lookup_bulk_data(t.h, &keys[i], 32, &hits, data));
      ops += 32;
    }
  }
  setPerItem(state, ops, "ns_per_op");
}
BENCHMARK(BM_Index_RteHashBulkHit)
    ->ArgNames({"conns"})
    ->Arg(1000)
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond);
#endif

void indexArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"conns", "op"})->Unit(benchmark::kMillisecond);
  for (int64_t n : {1000, 100000, 1000000}) {
    for (int64_t op = 0; op < 4; ++op) b->Args({n, op});
  }
}
BENCHMARK(BM_Index_ConnTable)->Apply(indexArgs);
BENCHMARK(BM_Index_StdUnorderedMulti)->Apply(indexArgs);
#ifdef CTSIM_HAVE_ABSL
BENCHMARK(BM_Index_AbslFlatHashMap)->Apply(indexArgs);
#endif
#ifdef CTSIM_HAVE_DPDK
BENCHMARK(BM_Index_RteHash)->Apply(indexArgs);
#endif

}  // namespace
}  // namespace ctsim::bench

CTSIM_BENCH_MAIN()

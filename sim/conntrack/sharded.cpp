#include "sim/conntrack/sharded.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "sim/conntrack/extract.h"

namespace ctsim::ct {
namespace {

inline uint64_t mix(uint64_t a, uint64_t b) {
  __uint128_t r = __uint128_t(a ^ 0xa0761d6478bd642full) * (b ^ 0xe7037ed1a0b428dbull);
  return uint64_t(r) ^ uint64_t(r >> 64);
}

// Hash of one address of `len` bytes (4 or 16).
uint64_t addrHash(const uint8_t* a, size_t len) {
  uint64_t w[2] = {0, 0};
  std::memcpy(w, a, len);
  return mix(w[0], w[1] + len);
}

bool isIcmpError(uint8_t version, uint8_t type) {
  if (version == 4) return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
  return type < 128;  // ICMPv6 error messages are types 0..127.
}

}  // namespace

uint32_t shardOf(uint32_t linktype, const uint8_t* frame, uint32_t caplen, uint32_t shards) {
  if (shards <= 1) return 0;
  NetView nv = netView(linktype, frame, caplen);
  if (!nv.has_l3) return 0;
  const uint8_t* ip = nv.l3;
  uint32_t size = nv.l3_size;
  uint8_t version = nv.version;
  // An ICMP error is hashed on the packet it quotes (its connection's addresses).
  for (int depth = 0; depth < 2; ++depth) {
    size_t alen = version == 4 ? 4 : 16;
    size_t need = version == 4 ? 20 : 40;
    if (size < need) return 0;
    const uint8_t* src = ip + (version == 4 ? 12 : 8);
    const uint8_t* dst = src + alen;
    if (depth == 0) {
      uint8_t proto = 0;
      uint32_t l4 = 0;
      bool fragment = false;
      if (version == 4) {
        proto = ip[9];
        l4 = uint32_t(ip[0] & 0x0f) * 4;
        fragment = ((ip[6] & 0x1f) | ip[7]) != 0;  // a later fragment has no ICMP header.
      } else {
        int32_t frag_off = -1;
        proto = ip[6];  // the walk starts after the fixed header with its next-header field.
        if (walkIpv6Ext(ip + 40, size - 40, &proto, &l4, &frag_off, &fragment)) {
          l4 += 40;
        } else {
          proto = 0;
        }
      }
      bool icmp = (version == 4 && proto == 1) || (version == 6 && proto == 58);
      if (icmp && !fragment && l4 + 8 + (version == 4 ? 20 : 40) <= size &&
          isIcmpError(version, ip[l4])) {
        const uint8_t* inner = ip + l4 + 8;
        uint8_t inner_version = inner[0] >> 4;
        if (inner_version == version) {
          size -= l4 + 8;
          ip = inner;
          continue;
        }
      }
    }
    uint64_t h = addrHash(src, alen) + addrHash(dst, alen);  // the same both ways.
    return uint32_t(mix(h, version) % shards);
  }
  return 0;
}

namespace {

void addMap(std::map<std::string, uint64_t>& into, const std::map<std::string, uint64_t>& from) {
  for (const auto& [k, v] : from) into[k] += v;
}

void addBucket(TimelineBucket& into, const TimelineBucket& b) {
  into.packets += b.packets;
  into.bytes += b.bytes;
  into.fast_path_hits += b.fast_path_hits;
  into.conns_created += b.conns_created;
  into.conns_removed += b.conns_removed;
  into.hook_ops += b.hook_ops;
}

int64_t floorTo(int64_t t, int64_t step) { return t - ((t % step) + step) % step; }

}  // namespace

void mergeSummary(ReplaySummary& into, const ReplaySummary& from, size_t max_buckets) {
  bool into_empty = into.packets == 0 && into.timeline.empty();
  if (from.packets != 0) {
    if (into.packets == 0) {
      into.first_ns = from.first_ns;
      into.last_ns = from.last_ns;
    } else {
      into.first_ns = std::min(into.first_ns, from.first_ns);
      into.last_ns = std::max(into.last_ns, from.last_ns);
    }
  }
  into.packets += from.packets;
  into.fast_path_consumed += from.fast_path_consumed;
  into.fast_path_up += from.fast_path_up;
  addMap(into.by_ct_state, from.by_ct_state);
  addMap(into.invalid_by_reason, from.invalid_by_reason);
  addMap(into.by_outcome, from.by_outcome);
  into.held_fragments += from.held_fragments;
  into.reassembled += from.reassembled;
  for (const auto& [proto, states] : from.conns) addMap(into.conns[proto], states);
  into.conns_expired_at_end += from.conns_expired_at_end;
  into.flushed_at_end += from.flushed_at_end;
  ConntrackStats& e = into.engine;
  const ConntrackStats& f = from.engine;
  e.packets += f.packets;
  e.conns_created += f.conns_created;
  e.conns_removed += f.conns_removed;
  e.limit_drops += f.limit_drops;
  e.port_reuse += f.port_reuse;
  e.sweeps = std::max(e.sweeps, f.sweeps);  // every shard runs every pass.
  e.swept += f.swept;
  e.updates += f.updates;
  e.sweep_bound_hits += f.sweep_bound_hits;
  IpfStats& i = into.ipf;
  const IpfStats& g = from.ipf;
  i.accepted += g.accepted;
  i.completed += g.completed;
  i.too_small += g.too_small;
  i.overlap += g.overlap;
  i.over_limit += g.over_limit;
  i.expired_lists += g.expired_lists;
  i.reass_failed += g.reass_failed;
  if (into_empty || from.trace_error) {
    into.trace_error = from.trace_error;
    into.trace_error_record = from.trace_error_record;
    into.trace_error_reason = from.trace_error_reason;
  }
  for (const auto& [proto, states] : from.created) addMap(into.created[proto], states);
  for (const auto& [reason, protos] : from.removed) {
    for (const auto& [proto, states] : protos) addMap(into.removed[reason][proto], states);
  }
  addMap(into.hook_calls, from.hook_calls);

  // Timelines: both onto the coarser width (widths are the initial one times powers of two and
  // buckets start at multiples of their width, so a fine bucket lies inside one coarse bucket),
  // contiguous, doubled until at most max_buckets.
  if (from.timeline.empty()) return;
  int64_t step = std::max(into.timeline_interval_ns, from.timeline_interval_ns);
  std::map<int64_t, TimelineBucket> acc;
  for (const std::vector<TimelineBucket>* tl : {&std::as_const(into.timeline), &from.timeline}) {
    for (const TimelineBucket& b : *tl) addBucket(acc[floorTo(b.t_ns, step)], b);
  }
  for (;;) {
    int64_t lo = acc.begin()->first, hi = acc.rbegin()->first;
    if (uint64_t(hi - lo) / uint64_t(step) + 1 <= std::max<size_t>(2, max_buckets)) break;
    step *= 2;
    std::map<int64_t, TimelineBucket> coarser;
    for (const auto& [t, b] : acc) addBucket(coarser[floorTo(t, step)], b);
    acc = std::move(coarser);
  }
  into.timeline.clear();
  for (int64_t t = acc.begin()->first; t <= acc.rbegin()->first; t += step) {
    TimelineBucket b;
    auto it = acc.find(t);
    if (it != acc.end()) b = it->second;
    b.t_ns = t;
    into.timeline.push_back(b);
  }
  into.timeline_interval_ns = step;
}

// A batch of one shard's work: records (their bytes copied), sweeps, clock observations and, at
// the end, the shard's finish, in stream order.
struct ShardedReplayer::Batch {
  enum class Kind : uint8_t { kPacket, kSweep, kObserve, kFinish };
  struct Item {
    Kind kind;
    TraceRecord rec;  // data: offset into bytes until resolved.
  };
  static constexpr size_t kItems = 1024;
  std::vector<Item> items;
  std::vector<uint8_t> bytes;
};

// The shards' queues and the threads that run them. A shard is run by one thread at a time, its
// batches in order, but not by a fixed thread: the worker threads (shards - 1) and the reading
// thread, which helps whenever a backlog builds up, take whichever shard has work and is free.
// So every core works on the engine, and the reading thread's own work (libpcap, the shard hash,
// the copy) costs its share, not a third thread on two cores (the earlier one-worker-per-shard
// design, with the reader as an extra thread, measured 1.4-1.6x with 2 threads; the reader took
// a quarter of a core and the workers waited for the CPU).
class ShardedReplayer::Pool {
 public:
  struct Shard {
    Replayer* replayer = nullptr;
    uint32_t index = 0;
    std::unique_ptr<Batch> filling;            // the reading thread's, being filled.
    std::deque<std::unique_ptr<Batch>> queue;  // handed over, in order (guarded by mu_).
    bool busy = false;                         // a thread is running it (guarded by mu_).
    std::atomic<uint64_t> conns{0};            // connections created (progress lines).
    TraceEnd end;                              // for its finish (set before kFinish).
    ReplaySummary summary;                     // written by its finish.
    bool finished = false;
  };

  Pool(std::vector<std::unique_ptr<Replayer>>& replayers, const PacketFn* on_packet)
      : on_packet_(on_packet) {
    for (size_t i = 0; i < replayers.size(); ++i) {
      auto sh = std::make_unique<Shard>();
      sh->replayer = replayers[i].get();
      sh->index = uint32_t(i);
      sh->filling = std::make_unique<Batch>();
      shards_.push_back(std::move(sh));
    }
    for (size_t i = 1; i < shards_.size(); ++i) threads_.emplace_back([this] { workerLoop(); });
  }
  ~Pool() { stop(); }

  Shard& shard(size_t i) { return *shards_[i]; }
  size_t size() const { return shards_.size(); }

  void packet(uint32_t shard, const TraceRecord& rec) {
    Shard& sh = *shards_[shard];
    Batch::Item it{Batch::Kind::kPacket, rec};
    it.rec.data = reinterpret_cast<const uint8_t*>(sh.filling->bytes.size());
    sh.filling->bytes.insert(sh.filling->bytes.end(), rec.data, rec.data + rec.caplen);
    add(sh, it);
  }
  void control(uint32_t shard, Batch::Kind kind, uint64_t packet, int64_t ts_ns) {
    Batch::Item it{kind, TraceRecord{}};
    it.rec.index = packet;
    it.rec.ts_ns = ts_ns;
    add(*shards_[shard], it);
  }

  // Ends every shard with its finish, runs what is left (the reading thread too) and waits for
  // every shard to be finished. Then summary() of each shard holds its summary.
  void finish(const TraceEnd& end) {
    for (auto& sh : shards_) {
      sh->end = end;
      Batch::Item it{Batch::Kind::kFinish, TraceRecord{}};
      sh->filling->items.push_back(it);
      submit(*sh);
    }
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (Shard* sh = takeLocked()) {
        runLocked(lock, *sh);
        continue;
      }
      bool all = true;
      for (auto& x : shards_) all = all && x->finished;
      if (all) break;
      reader_waits_ = true;
      reader_cv_.wait(lock);
      reader_waits_ = false;
    }
  }

  // Stops and joins the worker threads (after finish, or to abandon a replay).
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

 private:
  // Batches queued over all shards beyond which the reading thread runs one itself, and (when
  // no shard is free to run) waits for the workers.
  static constexpr size_t kHelpAt = 4;
  static constexpr size_t kMaxQueued = 32;

  void add(Shard& sh, const Batch::Item& it) {
    sh.filling->items.push_back(it);
    if (sh.filling->items.size() >= Batch::kItems) submit(sh);
  }

  // Hands over the shard's filling batch; with a backlog, runs queued batches meanwhile.
  void submit(Shard& sh) {
    if (sh.filling->items.empty()) return;
    std::unique_lock<std::mutex> lock(mu_);
    sh.queue.push_back(std::move(sh.filling));
    ++queued_;
    if (!spare_.empty()) {
      sh.filling = std::move(spare_.back());
      spare_.pop_back();
    } else {
      sh.filling = std::make_unique<Batch>();
    }
    if (workers_waiting_ > 0) work_cv_.notify_one();
    while (queued_ >= kHelpAt) {
      if (Shard* x = takeLocked()) {
        runLocked(lock, *x);
        continue;
      }
      if (queued_ < kMaxQueued) break;
      reader_waits_ = true;
      reader_cv_.wait(lock);
      reader_waits_ = false;
    }
  }

  // A free shard with work, marked busy (mu_ held); nullptr when none.
  Shard* takeLocked() {
    for (auto& sh : shards_) {
      if (!sh->busy && !sh->queue.empty()) {
        sh->busy = true;
        return sh.get();
      }
    }
    return nullptr;
  }

  // Runs the front batch of `sh` (taken busy) with mu_ released, then frees the shard.
  void runLocked(std::unique_lock<std::mutex>& lock, Shard& sh) {
    std::unique_ptr<Batch> b = std::move(sh.queue.front());
    sh.queue.pop_front();
    --queued_;
    lock.unlock();
    bool finished = run(sh, *b);
    b->items.clear();
    b->bytes.clear();
    lock.lock();
    spare_.push_back(std::move(b));
    sh.busy = false;
    if (finished) sh.finished = true;
    if (reader_waits_) reader_cv_.notify_one();
    if (workers_waiting_ > 0 && !sh.queue.empty()) work_cv_.notify_one();
  }

  // Runs one batch of `sh`; true when it held the shard's finish.
  bool run(Shard& sh, Batch& b) {
    Replayer& r = *sh.replayer;
    bool finished = false;
    Replayer::PacketFn fn;
    if (*on_packet_) {
      fn = [this, &sh](const TraceRecord& rec, const Verdict& v) {
        (*on_packet_)(sh.index, rec, v);
      };
    }
    for (Batch::Item& it : b.items) {
      switch (it.kind) {
        case Batch::Kind::kPacket:
          it.rec.data = b.bytes.data() + reinterpret_cast<uintptr_t>(it.rec.data);
          r.process(it.rec, fn);
          break;
        case Batch::Kind::kSweep:
          r.sweepAt(it.rec.index, it.rec.ts_ns);
          break;
        case Batch::Kind::kObserve:
          r.observeTime(it.rec.ts_ns);
          break;
        case Batch::Kind::kFinish:
          sh.summary = r.finish(sh.end);
          finished = true;
          break;
      }
    }
    sh.conns.store(r.engine().stats().conns_created, std::memory_order_relaxed);
    return finished;
  }

  void workerLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (Shard* sh = takeLocked()) {
        runLocked(lock, *sh);
        continue;
      }
      if (closing_) return;
      ++workers_waiting_;
      work_cv_.wait(lock);
      --workers_waiting_;
    }
  }

  const PacketFn* on_packet_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable work_cv_;    // workers wait for a runnable shard.
  std::condition_variable reader_cv_;  // the reading thread waits for space or the end.
  size_t queued_ = 0;                  // batches queued over all shards (guarded by mu_).
  std::vector<std::unique_ptr<Batch>> spare_;
  int workers_waiting_ = 0;
  bool reader_waits_ = false;
  bool closing_ = false;
};

ShardedReplayer::ShardedReplayer(std::vector<ReplayOptions> shards) : options_(std::move(shards)) {
  for (ReplayOptions& o : options_) {
    o.external_sweeps = true;
    o.fast_paths.clear();
    replayers_.push_back(std::make_unique<Replayer>(o));
  }
  trace_clock_ = options_.at(0).clock == ClockMode::kTrace;
  sweep_interval_ms_ = options_[0].engine.sweep_interval_ms;
}

ShardedReplayer::~ShardedReplayer() {
  pool_.reset();
  // The shards' engines, hooks' tables and lifecycles are freed in parallel (at a million
  // connections freeing takes a tenth of a second per shard).
  std::vector<std::thread> freeing;
  for (size_t i = 1; i < replayers_.size(); ++i) {
    freeing.emplace_back([r = std::move(replayers_[i])]() mutable { r.reset(); });
  }
  replayers_.clear();
  for (std::thread& t : freeing) t.join();
}

void ShardedReplayer::begin(PacketFn on_packet) {
  pool_.reset();
  on_packet_ = std::move(on_packet);
  for (auto& r : replayers_) r->begin();
  pool_ = std::make_unique<Pool>(replayers_, &on_packet_);
  next_sweep_ms_ = INT64_MIN;
  any_ = false;
  last_ns_ = 0;
  last_index_ = 0;
}

void ShardedReplayer::dispatchSweep(uint64_t packet, int64_t ts_ns) {
  for (uint32_t i = 0; i < pool_->size(); ++i)
    pool_->control(i, Batch::Kind::kSweep, packet, ts_ns);
}

void ShardedReplayer::process(const TraceRecord& rec) {
  if (!any_) {
    // Every shard's clock starts at the stream's first packet (the frozen clock's origin).
    any_ = true;
    for (uint32_t i = 0; i < pool_->size(); ++i) {
      pool_->control(i, Batch::Kind::kObserve, rec.index, rec.ts_ns);
    }
  }
  last_ns_ = rec.ts_ns;
  last_index_ = rec.index;
  if (trace_clock_) {
    // The single replay's schedule (Conntrack::maybeSweep), from every packet of the stream.
    int64_t now = traceTimeMs(rec.ts_ns);
    if (next_sweep_ms_ == INT64_MIN) {
      next_sweep_ms_ = now + sweep_interval_ms_;
    } else if (now >= next_sweep_ms_) {
      dispatchSweep(rec.index, rec.ts_ns);
      next_sweep_ms_ = now + sweep_interval_ms_;
    }
  }
  pool_->packet(shardOf(rec.linktype, rec.data, rec.caplen, uint32_t(pool_->size())), rec);
}

uint64_t ShardedReplayer::connsCreated() const {
  uint64_t n = 0;
  if (pool_) {
    for (size_t i = 0; i < pool_->size(); ++i) {
      n += pool_->shard(i).conns.load(std::memory_order_relaxed);
    }
  }
  return n;
}

ReplaySummary ShardedReplayer::finish(const TraceEnd& end) {
  // Every shard judges the end at the stream's last packet.
  if (any_) {
    for (uint32_t i = 0; i < pool_->size(); ++i) {
      pool_->control(i, Batch::Kind::kObserve, last_index_, last_ns_);
    }
  }
  // Each shard's finish (end-of-trace flush) runs as the last item of its stream, on whichever
  // thread runs the shard, all shards at once.
  pool_->finish(end);
  pool_->stop();
  ReplaySummary merged;
  size_t max_buckets = options_[0].timeline_max_buckets;
  for (size_t i = 0; i < pool_->size(); ++i)
    mergeSummary(merged, pool_->shard(i).summary, max_buckets);
  pool_.reset();
  if (!any_) merged.first_ns = merged.last_ns = 0;
  return merged;
}

}  // namespace ctsim::ct

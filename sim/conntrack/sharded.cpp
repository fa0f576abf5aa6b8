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

// A batch of work for one worker: records (their bytes copied), sweeps and clock observations,
// in stream order.
struct ShardedReplayer::Batch {
  enum class Kind : uint8_t { kPacket, kSweep, kObserve };
  struct Item {
    Kind kind;
    TraceRecord rec;  // data: offset into bytes until the worker resolves it.
  };
  static constexpr size_t kItems = 1024;
  std::vector<Item> items;
  std::vector<uint8_t> bytes;
};

class ShardedReplayer::Worker {
 public:
  Worker(Replayer& replayer, uint32_t shard, const PacketFn* on_packet)
      : replayer_(replayer), shard_(shard), on_packet_(on_packet) {
    current_ = std::make_unique<Batch>();
    thread_ = std::thread([this] { run(); });
  }
  ~Worker() { close(); }

  void packet(const TraceRecord& rec) {
    Batch::Item it{Batch::Kind::kPacket, rec};
    it.rec.data = reinterpret_cast<const uint8_t*>(current_->bytes.size());
    current_->bytes.insert(current_->bytes.end(), rec.data, rec.data + rec.caplen);
    add(it);
  }
  void control(Batch::Kind kind, uint64_t packet, int64_t ts_ns) {
    Batch::Item it{kind, TraceRecord{}};
    it.rec.index = packet;
    it.rec.ts_ns = ts_ns;
    add(it);
  }
  // Hands over the batch being filled.
  void flush() {
    if (current_->items.empty()) return;
    std::unique_ptr<Batch> next;
    bool wake = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (queue_.size() >= kMaxQueued) {
        // Full: wait until the worker has drained half, not just one batch (a wake-up per batch
        // made one context switch each way per batch; they cost microseconds on these guests).
        reader_waits_ = true;
        space_.wait(lock, [&] { return queue_.size() <= kMaxQueued / 2; });
        reader_waits_ = false;
      }
      queue_.push_back(std::move(current_));
      if (!spare_.empty()) {
        next = std::move(spare_.back());
        spare_.pop_back();
      }
      wake = worker_waits_;
    }
    if (wake) ready_.notify_one();
    current_ = next ? std::move(next) : std::make_unique<Batch>();
  }
  // Hands over what is left and asks the worker to finish its shard on its own thread once
  // drained (the end-of-trace flush and its conn_del calls then run on every shard at once);
  // close() joins, after which summary() holds the shard's summary.
  void requestFinish(const TraceEnd& end) {
    if (!thread_.joinable()) return;
    flush();
    {
      std::lock_guard<std::mutex> lock(mu_);
      end_ = end;
      finish_ = true;
      closing_ = true;
    }
    ready_.notify_one();
  }
  const ReplaySummary& summary() const { return summary_; }
  bool finished() const { return finished_; }
  // Drains and joins.
  void close() {
    if (!thread_.joinable()) return;
    flush();
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    ready_.notify_one();
    thread_.join();
  }
  uint64_t connsCreated() const { return conns_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kMaxQueued = 16;

  void add(const Batch::Item& it) {
    current_->items.push_back(it);
    if (current_->items.size() >= Batch::kItems) flush();
  }

  void run() {
    Replayer::PacketFn fn;
    if (*on_packet_) {
      fn = [this](const TraceRecord& rec, const Verdict& v) { (*on_packet_)(shard_, rec, v); };
    }
    for (;;) {
      std::unique_ptr<Batch> b;
      bool wake = false;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (queue_.empty() && !closing_) {
          worker_waits_ = true;
          ready_.wait(lock, [&] { return !queue_.empty() || closing_; });
          worker_waits_ = false;
        }
        if (queue_.empty()) {
          if (finish_) {
            lock.unlock();
            summary_ = replayer_.finish(end_);
            finished_ = true;
          }
          return;
        }
        b = std::move(queue_.front());
        queue_.pop_front();
        wake = reader_waits_ && queue_.size() <= kMaxQueued / 2;
      }
      if (wake) space_.notify_one();
      for (Batch::Item& it : b->items) {
        switch (it.kind) {
          case Batch::Kind::kPacket:
            it.rec.data = b->bytes.data() + reinterpret_cast<uintptr_t>(it.rec.data);
            replayer_.process(it.rec, fn);
            break;
          case Batch::Kind::kSweep:
            replayer_.sweepAt(it.rec.index, it.rec.ts_ns);
            break;
          case Batch::Kind::kObserve:
            replayer_.observeTime(it.rec.ts_ns);
            break;
        }
      }
      conns_.store(replayer_.engine().stats().conns_created, std::memory_order_relaxed);
      b->items.clear();
      b->bytes.clear();
      std::lock_guard<std::mutex> lock(mu_);
      spare_.push_back(std::move(b));
    }
  }

  Replayer& replayer_;
  uint32_t shard_;
  const PacketFn* on_packet_;
  std::unique_ptr<Batch> current_;  // being filled by the dispatching thread.
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<std::unique_ptr<Batch>> queue_;   // handed over, in order.
  std::vector<std::unique_ptr<Batch>> spare_;  // processed, for reuse.
  bool closing_ = false;
  bool reader_waits_ = false;  // the reader waits for space (guarded by mu_).
  bool worker_waits_ = false;  // the worker waits for a batch (guarded by mu_).
  bool finish_ = false;        // finish the shard once drained (guarded by mu_, with end_).
  TraceEnd end_;
  ReplaySummary summary_;  // written by the worker thread, read after the join.
  bool finished_ = false;
  std::atomic<uint64_t> conns_{0};
  std::thread thread_;
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

ShardedReplayer::~ShardedReplayer() { workers_.clear(); }

void ShardedReplayer::begin(PacketFn on_packet) {
  workers_.clear();
  on_packet_ = std::move(on_packet);
  for (auto& r : replayers_) r->begin();
  for (size_t i = 0; i < replayers_.size(); ++i) {
    workers_.push_back(std::make_unique<Worker>(*replayers_[i], uint32_t(i), &on_packet_));
  }
  next_sweep_ms_ = INT64_MIN;
  any_ = false;
  last_ns_ = 0;
  last_index_ = 0;
}

void ShardedReplayer::dispatchSweep(uint64_t packet, int64_t ts_ns) {
  for (auto& w : workers_) w->control(Batch::Kind::kSweep, packet, ts_ns);
}

void ShardedReplayer::process(const TraceRecord& rec) {
  if (!any_) {
    // Every shard's clock starts at the stream's first packet (the frozen clock's origin).
    any_ = true;
    for (auto& w : workers_) w->control(Batch::Kind::kObserve, rec.index, rec.ts_ns);
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
  workers_[shardOf(rec.linktype, rec.data, rec.caplen, uint32_t(workers_.size()))]->packet(rec);
}

uint64_t ShardedReplayer::connsCreated() const {
  uint64_t n = 0;
  for (const auto& w : workers_) n += w->connsCreated();
  return n;
}

ReplaySummary ShardedReplayer::finish(const TraceEnd& end) {
  // Every shard judges the end at the stream's last packet.
  if (any_) {
    for (auto& w : workers_) w->control(Batch::Kind::kObserve, last_index_, last_ns_);
  }
  // Each worker finishes its shard (end-of-trace flush) at once, then they are joined.
  for (auto& w : workers_) w->requestFinish(end);
  ReplaySummary merged;
  size_t max_buckets = options_[0].timeline_max_buckets;
  for (size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->close();
    mergeSummary(merged,
                 workers_[i]->finished() ? workers_[i]->summary() : replayers_[i]->finish(end),
                 max_buckets);
  }
  workers_.clear();
  if (!any_) merged.first_ns = merged.last_ns = 0;
  return merged;
}

}  // namespace ctsim::ct

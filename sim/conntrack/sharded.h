#pragma once
// Sharded replay (`ctsim replay --threads N`): the stream is split by a symmetric flow hash into
// N shards, each its own Replayer (engine, hooks, counters) on its own thread, and the shards'
// summaries are merged at the end.
//
// Which shard: a hash of the packet's two IP addresses, the same both ways (so both directions of
// a connection meet in one shard). Ports are left out on purpose: every fragment of a datagram
// (later ones carry no ports) and every ICMP error (hashed on the addresses of the packet it
// quotes) reaches the shard that holds its connection. A capture between few hosts therefore
// shards poorly; one with many hosts (as `ctsim gen` makes) evenly. Non-IP frames go to shard 0.
//
// Sameness with one thread. Every shard sees the whole stream's clock: sweeps run on one
// schedule, computed from all packets exactly as a single replay computes it, at the same
// packet in every shard; the frozen clock starts at the stream's first packet; the end-of-trace
// state is judged at the stream's last. So the final table, the per-packet ct_state and every
// report counter equal a one-thread replay's, provided that (a) no limit is reached (each shard
// applies the global and zone connection limits and the fragment limits to its own) and (b) no
// sweep pass reaches its visit bound (conn_limit / 64 connections: shards visit their own
// lists). The merged summary says when either happened (engine.limit_drops, ipf.over_limit,
// engine.sweep_bound_hits). The timeline is merged onto the coarsest shard's bucket width.
//
// Threads: every shard runs on a worker of its own, fed with batches of copied records; the
// caller's thread only reads, picks shards and copies. (Running shard 0 on the reading thread
// instead left the second core mostly idle: reading a capture costs about as much as a shard's
// share of the engine, so that thread was the bottleneck; measured 1.16x with 2 threads.) Offload
// hooks of different shards run concurrently, so the registry's providers must be thread-safe (the
// RFC's rule: OVS calls them from every PMD thread). Fast paths are not supported here (they keep
// one time line of their own).

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "sim/conntrack/replay.h"

namespace ctsim::ct {

// The shard of a frame among `shards` (see above).
uint32_t shardOf(uint32_t linktype, const uint8_t* frame, uint32_t caplen, uint32_t shards);

// Adds `from` into `into` (counters summed, maps merged, trace times min/max, timelines onto a
// common width of at most `max_buckets`). Sweep passes are counted once (every shard runs each).
void mergeSummary(ReplaySummary& into, const ReplaySummary& from, size_t max_buckets);

class ShardedReplayer {
 public:
  // One ReplayOptions per shard (at least 2), each with its own hooks; fast_paths must be empty.
  explicit ShardedReplayer(std::vector<ReplayOptions> shards);
  ~ShardedReplayer();
  ShardedReplayer(const ShardedReplayer&) = delete;
  ShardedReplayer& operator=(const ShardedReplayer&) = delete;

  // Sees every record and its verdict, with its shard; called on that shard's thread.
  using PacketFn = std::function<void(uint32_t shard, const TraceRecord&, const Verdict&)>;

  void begin(PacketFn on_packet = {});
  void process(const TraceRecord& rec);
  // Drains the workers, each finishes its shard on its own thread (end-of-trace flush), merges.
  ReplaySummary finish(const TraceEnd& end);

  size_t shards() const { return replayers_.size(); }
  Replayer& shard(size_t i) { return *replayers_[i]; }
  // Connections created so far (for progress lines; approximate while running).
  uint64_t connsCreated() const;

 private:
  struct Batch;
  class Worker;
  void dispatchSweep(uint64_t packet, int64_t ts_ns);

  std::vector<ReplayOptions> options_;
  std::vector<std::unique_ptr<Replayer>> replayers_;
  std::vector<std::unique_ptr<Worker>> workers_;  // one per shard.
  PacketFn on_packet_;
  bool trace_clock_ = true;
  int64_t sweep_interval_ms_ = 0;
  int64_t next_sweep_ms_ = INT64_MIN;
  bool any_ = false;
  int64_t last_ns_ = 0;  // the latest record's capture time.
  uint64_t last_index_ = 0;
};

}  // namespace ctsim::ct

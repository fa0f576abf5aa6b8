#include "providers/dpdk/pcap_port.h"

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "providers/dpdk/eal.h"

namespace ctsim::dpdk {

namespace {

std::atomic<uint64_t> g_devices{0};  // For unique device and pool names.

std::string dpdkError(const std::string& what, int ret) {
  const int err = ret < 0 ? -ret : ret;
  return what + ": " + rte_strerror(err);
}

// Owns the device and pool of one read; undoes whatever was set up, in reverse order.
struct PortGuard {
  std::string name;             // vdev name.
  bool added = false;           // rte_eal_hotplug_add succeeded.
  bool have_port = false;       // 'port' is valid.
  bool started = false;         // rte_eth_dev_start succeeded.
  uint16_t port = 0;            // The device's port id.
  rte_mempool* pool = nullptr;  // mbuf pool.
  ~PortGuard() {
    if (started) rte_eth_dev_stop(port);
    if (have_port) rte_eth_dev_close(port);
    if (added) rte_eal_hotplug_remove("vdev", name.c_str());
    if (pool) rte_mempool_free(pool);
  }
};

}  // namespace

Status forEachBurst(const std::string& pcap, const BurstFn& fn, const PcapPortOptions& options) {
  if (options.burst == 0 || options.burst > 512 || options.mbufs <= options.burst) {
    return Status(EINVAL, "net_pcap input: burst must be 1..512 and below the mbuf count");
  }
  if (pcap.find(',') != std::string::npos) {
    return Status(EINVAL, "net_pcap input: " + pcap + ": a ',' cannot be passed in devargs");
  }
  if (access(pcap.c_str(), R_OK) != 0) {
    const int err = errno;
    return Status(err == ENOENT ? ENOENT : err,
                  "net_pcap input: " + pcap + ": " + std::strerror(err));
  }
  Status eal = ensureEal();
  if (!ealUsable(eal)) return eal;

  const uint64_t n = ++g_devices;
  PortGuard g;
  g.name = "net_pcap_ctsim" + std::to_string(n);
  const std::string pool_name = "ctsim_pcap_" + std::to_string(n);
  g.pool = rte_pktmbuf_pool_create(pool_name.c_str(), options.mbufs, 0, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (!g.pool) return Status(ENOMEM, dpdkError("rte_pktmbuf_pool_create", rte_errno));
  const std::string devargs = "rx_pcap=" + pcap;
  int ret = rte_eal_hotplug_add("vdev", g.name.c_str(), devargs.c_str());
  if (ret < 0) {
    return Status(ENODEV, dpdkError("net_pcap input: creating vdev " + g.name + "," + devargs +
                                        " (is the net_pcap driver installed, and the file a "
                                        "capture libpcap reads?)",
                                    ret));
  }
  g.added = true;
  ret = rte_eth_dev_get_port_by_name(g.name.c_str(), &g.port);
  if (ret < 0) return Status(ENODEV, dpdkError("rte_eth_dev_get_port_by_name", ret));
  g.have_port = true;
  rte_eth_conf conf{};  // No offloads: net_pcap timestamps every packet anyway.
  ret = rte_eth_dev_configure(g.port, 1, 1, &conf);
  if (ret < 0) return Status(EIO, dpdkError("rte_eth_dev_configure", ret));
  ret = rte_eth_rx_queue_setup(g.port, 0, 512, SOCKET_ID_ANY, nullptr, g.pool);
  if (ret < 0) return Status(EIO, dpdkError("rte_eth_rx_queue_setup", ret));
  ret = rte_eth_tx_queue_setup(g.port, 0, 512, SOCKET_ID_ANY, nullptr);
  if (ret < 0) return Status(EIO, dpdkError("rte_eth_tx_queue_setup", ret));
  ret = rte_eth_dev_start(g.port);
  if (ret < 0) return Status(EIO, dpdkError("rte_eth_dev_start", ret));
  g.started = true;

  // Registered by net_pcap at probe; looked up after it.
  const int ts_off = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, nullptr);
  const int ts_bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, nullptr);
  const uint64_t ts_flag = ts_bit >= 0 ? (uint64_t{1} << ts_bit) : 0;

  std::vector<rte_mbuf*> bufs(options.burst);
  std::vector<Frame> frames(options.burst);
  std::vector<std::vector<uint8_t>> chained(options.burst);  // Linearised multi-segment frames.
  while (true) {
    const uint16_t got = rte_eth_rx_burst(g.port, 0, bufs.data(), options.burst);
    if (got == 0) break;
    for (uint16_t i = 0; i < got; i++) {
      rte_mbuf* m = bufs[i];
      Frame& f = frames[i];
      f.len = rte_pktmbuf_pkt_len(m);
      if (m->nb_segs == 1) {
        f.data = rte_pktmbuf_mtod(m, const uint8_t*);
      } else {
        chained[i].resize(f.len);
        f.data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, f.len, chained[i].data()));
      }
      f.ts_ns = -1;
      if (ts_off >= 0 && (m->ol_flags & ts_flag)) {
        const uint64_t us = *RTE_MBUF_DYNFIELD(m, ts_off, const rte_mbuf_timestamp_t*);
        f.ts_ns = static_cast<int64_t>(us) * 1000;
      }
    }
    fn(frames.data(), got);
    rte_pktmbuf_free_bulk(bufs.data(), got);
  }
  rte_eth_stats st{};
  if (rte_eth_stats_get(g.port, &st) == 0) {
    if (st.ierrors > 0) {
      return Status(EIO, "net_pcap input: " + pcap + ": a record could not be read after " +
                             std::to_string(st.ipackets) + " frames");
    }
    if (st.rx_nombuf > 0) {
      return Status(ENOBUFS, "net_pcap input: " + pcap + ": mbuf pool exhausted after " +
                                 std::to_string(st.ipackets) + " frames");
    }
  }
  return Status();
}

Status forEachFrame(const std::string& pcap, const FrameFn& fn, const PcapPortOptions& options) {
  return forEachBurst(
      pcap,
      [&](const Frame* frames, size_t n) {
        for (size_t i = 0; i < n; i++) fn(frames[i].data, frames[i].len, frames[i].ts_ns);
      },
      options);
}

}  // namespace ctsim::dpdk

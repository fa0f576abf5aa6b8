// ctsim's tc-BPF fast path (clsact ingress): looks the packet's 5-tuple up in a BPF hash map of
// offloaded connection keys.  A hit is counted and stamped with bpf_ktime_get_ns() in the map;
// it is consumed (TC_ACT_SHOT) unless it is TCP SYN/FIN/RST, which goes up to software like a
// miss: redirected to the "up" interface (ctsim_cfg[0]) where ctsim's software path receives
// it.  The verdict of the last packet is left in ctsim_last for the sender to read.
//
// Key layout: struct ctsim_bpf_key in tc_bpf.h (zone always 0, unused bytes zero).  Parsed:
// Ethernet, at most one 802.1Q/802.1ad tag, IPv4 (not fragments) and IPv6 (no extension
// headers), TCP, UDP, SCTP, UDP-Lite (ports), ICMP/ICMPv6 echo (id, type, code); anything else
// is a miss.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>

// After the kernel headers (they define __u32 and friends).
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct ctsim_bpf_key {
  __u8 src[16];  // Source address (IPv4: first 4 bytes).
  __u8 dst[16];  // Destination address.
  __u16 sport;   // TCP/UDP/SCTP source port or ICMP id, host order.
  __u16 dport;   // Destination port, or ICMP type << 8 | code.
  __u16 zone;    // Always 0 here.
  __u8 af;       // 4 or 6.
  __u8 proto;    // IP protocol.
};

struct ctsim_bpf_value {
  __u64 packets;  // Hits counted.
  __u64 bytes;    // Their bytes (skb->len).
  __u64 last_ns;  // bpf_ktime_get_ns() of the last hit; 0 = never.
};

struct ctsim_bpf_last {
  __u64 seen;     // Packets this program has seen.
  __u32 verdict;  // Of the last one: 0 miss, 1 consumed, 2 up.
  __u32 pad;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);  // Set by the loader.
  __type(key, struct ctsim_bpf_key);
  __type(value, struct ctsim_bpf_value);
} ctsim_flows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);  // The "up" interface index.
} ctsim_cfg SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ctsim_bpf_last);
} ctsim_last SEC(".maps");

static __always_inline int up(__u32 verdict) {
  __u32 zero = 0;
  struct ctsim_bpf_last* last = bpf_map_lookup_elem(&ctsim_last, &zero);
  if (last) {
    last->seen++;
    last->verdict = verdict;
  }
  if (verdict == 1) return TC_ACT_SHOT;
  __u32* ifindex = bpf_map_lookup_elem(&ctsim_cfg, &zero);
  if (ifindex && *ifindex) return bpf_redirect(*ifindex, 0);
  return TC_ACT_OK;
}

SEC("tc")
int ctsim_fastpath(struct __sk_buff* skb) {
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  struct ctsim_bpf_key key = {};
  __u32 off = sizeof(struct ethhdr);
  struct ethhdr* eth = data;
  if ((void*)(eth + 1) > end) return up(0);
  __u16 type = eth->h_proto;
  if (type == bpf_htons(ETH_P_8021Q) || type == bpf_htons(ETH_P_8021AD)) {
    __u16* inner = data + off + 2;
    if ((void*)(inner + 1) > end) return up(0);
    type = *inner;
    off += 4;
  }
  __u8 proto;
  __u32 l4;
  if (type == bpf_htons(ETH_P_IP)) {
    struct iphdr* ip = data + off;
    if ((void*)(ip + 1) > end) return up(0);
    if (ip->frag_off & bpf_htons(0x3fff)) return up(0);  // A fragment.
    key.af = 4;
    __builtin_memcpy(key.src, &ip->saddr, 4);
    __builtin_memcpy(key.dst, &ip->daddr, 4);
    proto = ip->protocol;
    l4 = off + ip->ihl * 4;
  } else if (type == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr* ip6 = data + off;
    if ((void*)(ip6 + 1) > end) return up(0);
    key.af = 6;
    __builtin_memcpy(key.src, &ip6->saddr, 16);
    __builtin_memcpy(key.dst, &ip6->daddr, 16);
    proto = ip6->nexthdr;
    l4 = off + sizeof(struct ipv6hdr);
  } else {
    return up(0);
  }
  key.proto = proto;
  __u8 tcp_flags = 0;
  if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
      proto == IPPROTO_UDPLITE) {
    __u16* ports = data + l4;
    if ((void*)(ports + 2) > end) return up(0);
    key.sport = bpf_ntohs(ports[0]);
    key.dport = bpf_ntohs(ports[1]);
    if (proto == IPPROTO_TCP) {
      __u8* flags = data + l4 + 13;
      if ((void*)(flags + 1) > end) return up(0);
      tcp_flags = *flags;
    }
  } else if (proto == IPPROTO_ICMP || proto == 58) {
    __u8* icmp = data + l4;
    if ((void*)(icmp + 8) > end) return up(0);
    key.sport = (__u16)(icmp[4] << 8 | icmp[5]);
    key.dport = (__u16)(icmp[0] << 8 | icmp[1]);
  } else {
    return up(0);
  }
  struct ctsim_bpf_value* v = bpf_map_lookup_elem(&ctsim_flows, &key);
  if (!v) return up(0);
  __sync_fetch_and_add(&v->packets, 1);
  __sync_fetch_and_add(&v->bytes, skb->len);
  v->last_ns = bpf_ktime_get_ns();
  // SYN, FIN or RST: software must see connection setup and teardown.
  return up((tcp_flags & 0x07) ? 2 : 1);
}

char _license[] SEC("license") = "GPL";

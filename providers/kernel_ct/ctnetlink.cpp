#include "providers/kernel_ct/ctnetlink.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace ctsim::kern {

namespace {

constexpr size_t kBatchBytes = 60 * 1024;  // Requests per sendmsg, at most.
constexpr size_t kRecvBytes = 256 * 1024;  // Receive buffer per recv call.

bool hasPorts(uint8_t proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
         proto == IPPROTO_UDPLITE || proto == IPPROTO_DCCP;
}
bool isIcmp(uint8_t proto) { return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6; }

void setTuple(nf_conntrack* ct, const ctsim_conn_key& k, bool reply) {
  if (k.af == CTSIM_AF_INET) {
    uint32_t s, d;
    std::memcpy(&s, k.src, 4);
    std::memcpy(&d, k.dst, 4);
    nfct_set_attr_u32(ct, reply ? ATTR_REPL_IPV4_SRC : ATTR_IPV4_SRC, s);
    nfct_set_attr_u32(ct, reply ? ATTR_REPL_IPV4_DST : ATTR_IPV4_DST, d);
  } else {
    nfct_set_attr(ct, reply ? ATTR_REPL_IPV6_SRC : ATTR_IPV6_SRC, k.src);
    nfct_set_attr(ct, reply ? ATTR_REPL_IPV6_DST : ATTR_IPV6_DST, k.dst);
  }
  if (hasPorts(k.proto)) {
    nfct_set_attr_u16(ct, reply ? ATTR_REPL_PORT_SRC : ATTR_PORT_SRC, htons(k.ports.src));
    nfct_set_attr_u16(ct, reply ? ATTR_REPL_PORT_DST : ATTR_PORT_DST, htons(k.ports.dst));
  } else if (isIcmp(k.proto) && !reply) {
    // libnetfilter_conntrack derives the reply tuple's type, code and id from these.
    nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, k.icmp.type);
    nfct_set_attr_u8(ct, ATTR_ICMP_CODE, k.icmp.code);
    nfct_set_attr_u16(ct, ATTR_ICMP_ID, htons(k.icmp.id));
  }
}

NfctPtr baseEntry(const ctsim_conn_key& fwd) {
  NfctPtr ct(nfct_new());
  if (!ct) return ct;
  uint8_t family = fwd.af == CTSIM_AF_INET ? AF_INET : AF_INET6;
  nfct_set_attr_u8(ct.get(), ATTR_L3PROTO, family);
  nfct_set_attr_u8(ct.get(), ATTR_L4PROTO, fwd.proto);
  setTuple(ct.get(), fwd, false);
  nfct_set_attr_u16(ct.get(), ATTR_ZONE, fwd.zone);
  return ct;
}

nlmsghdr* putRequest(char* buf, uint16_t type, uint16_t flags, uint8_t family, uint32_t seq) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = uint16_t((NFNL_SUBSYS_CTNETLINK << 8) | type);
  nlh->nlmsg_flags = uint16_t(NLM_F_REQUEST | flags);
  nlh->nlmsg_seq = seq;
  auto* nfh = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfh->nfgen_family = family;
  nfh->version = NFNETLINK_V0;
  nfh->res_id = 0;
  return nlh;
}

uint8_t familyOf(const nf_conntrack* ct) {
  return nfct_attr_is_set(ct, ATTR_L3PROTO) ? nfct_get_attr_u8(ct, ATTR_L3PROTO) : AF_UNSPEC;
}

Status errnoStatus(int err, const char* what) {
  return Status(err, std::string("ctnetlink: ") + what + ": " + std::strerror(err));
}

}  // namespace

void NfctDeleter::operator()(nf_conntrack* ct) const { nfct_destroy(ct); }

NfctPtr makeEntry(const ctsim_conn_key& fwd, const ctsim_conn_key& rev, const EntrySpec& spec) {
  NfctPtr ct = baseEntry(fwd);
  if (!ct) return ct;
  nfct_set_attr_u8(ct.get(), ATTR_REPL_L3PROTO, fwd.af == CTSIM_AF_INET ? AF_INET : AF_INET6);
  nfct_set_attr_u8(ct.get(), ATTR_REPL_L4PROTO, fwd.proto);
  setTuple(ct.get(), rev, true);
  nfct_set_attr_u32(ct.get(), ATTR_TIMEOUT, spec.timeout_s);
  if (fwd.proto == IPPROTO_TCP && spec.tcp_state >= 0) {
    nfct_set_attr_u8(ct.get(), ATTR_TCP_STATE, uint8_t(spec.tcp_state));
  }
  if (spec.status != 0) nfct_set_attr_u32(ct.get(), ATTR_STATUS, spec.status);
  return ct;
}

NfctPtr makeTupleOnly(const ctsim_conn_key& fwd) { return baseEntry(fwd); }

Result<CtnetlinkSocket> CtnetlinkSocket::open(const NetNs& ns) {
  ScopedNetns in(ns);
  if (!in.ok()) return Status(EPERM, "ctnetlink: cannot enter the namespace");
  CtnetlinkSocket s;
  s.nl_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (s.nl_ == nullptr) return errnoStatus(errno, "socket");
  if (mnl_socket_bind(s.nl_, 0, MNL_SOCKET_AUTOPID) < 0) return errnoStatus(errno, "bind");
  int one = 1;
  (void)mnl_socket_setsockopt(s.nl_, NETLINK_CAP_ACK, &one, sizeof one);
  int rcvbuf = 4 << 20;
  (void)setsockopt(mnl_socket_get_fd(s.nl_), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  s.port_id_ = mnl_socket_get_portid(s.nl_);
  s.sbuf_.resize(kBatchBytes + MNL_SOCKET_BUFFER_SIZE);
  s.rbuf_.resize(kRecvBytes);
  return s;
}

CtnetlinkSocket::~CtnetlinkSocket() {
  if (nl_ != nullptr) mnl_socket_close(nl_);
}

CtnetlinkSocket::CtnetlinkSocket(CtnetlinkSocket&& o) noexcept
    : nl_(o.nl_),
      port_id_(o.port_id_),
      seq_(o.seq_),
      sbuf_(std::move(o.sbuf_)),
      rbuf_(std::move(o.rbuf_)) {
  o.nl_ = nullptr;
}

CtnetlinkSocket& CtnetlinkSocket::operator=(CtnetlinkSocket&& o) noexcept {
  if (this != &o) {
    if (nl_ != nullptr) mnl_socket_close(nl_);
    nl_ = o.nl_;
    port_id_ = o.port_id_;
    seq_ = o.seq_;
    sbuf_ = std::move(o.sbuf_);
    rbuf_ = std::move(o.rbuf_);
    o.nl_ = nullptr;
  }
  return *this;
}

Status CtnetlinkSocket::send(std::vector<CtRequest>& requests) {
  if (nl_ == nullptr) return Status(EBADF, "ctnetlink: socket not open");
  std::vector<char>& buf = sbuf_;
  std::vector<char>& rbuf = rbuf_;
  size_t i = 0;
  while (i < requests.size()) {
    // Fill one send buffer.
    size_t used = 0, first = i;
    uint32_t first_seq = seq_;
    while (i < requests.size() && used < kBatchBytes) {
      CtRequest& r = requests[i];
      r.error = 0;
      uint16_t type = r.op == CtOp::kDelete ? IPCTNL_MSG_CT_DELETE : IPCTNL_MSG_CT_NEW;
      uint16_t flags = NLM_F_ACK;
      if (r.op == CtOp::kCreate) flags |= NLM_F_CREATE | NLM_F_EXCL;
      nlmsghdr* nlh = putRequest(buf.data() + used, type, flags, familyOf(r.ct), seq_++);
      if (nfct_nlmsg_build(nlh, r.ct) < 0) {
        r.error = EINVAL;
        seq_--;
        ++i;
        continue;
      }
      used += NLMSG_ALIGN(nlh->nlmsg_len);
      ++i;
    }
    if (used == 0) continue;
    if (mnl_socket_sendto(nl_, buf.data(), used) < 0) return errnoStatus(errno, "send");
    // Collect one acknowledgement per message built.
    size_t expected = 0;
    for (size_t k = first; k < i; ++k) expected += requests[k].error == 0 ? 1 : 0;
    std::unordered_map<uint32_t, size_t> by_seq;
    uint32_t s = first_seq;
    for (size_t k = first; k < i; ++k) {
      if (requests[k].error == 0) by_seq[s++] = k;
    }
    size_t got = 0;
    while (got < expected) {
      ssize_t n = mnl_socket_recvfrom(nl_, rbuf.data(), rbuf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errnoStatus(errno, "receive");
      }
      int len = int(n);
      for (auto* nlh = reinterpret_cast<nlmsghdr*>(rbuf.data()); mnl_nlmsg_ok(nlh, len);
           nlh = mnl_nlmsg_next(nlh, &len)) {
        if (nlh->nlmsg_type != NLMSG_ERROR) continue;
        auto it = by_seq.find(nlh->nlmsg_seq);
        if (it == by_seq.end()) continue;
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        requests[it->second].error = -err->error;
        ++got;
      }
    }
  }
  return Status();
}

int CtnetlinkSocket::one(CtOp op, const nf_conntrack* ct) {
  std::vector<CtRequest> r{{op, ct, 0}};
  Status s = send(r);
  if (!s.ok()) return s.code();
  return r[0].error;
}

Result<NfctPtr> CtnetlinkSocket::get(const nf_conntrack* query) {
  if (nl_ == nullptr) return Status(EBADF, "ctnetlink: socket not open");
  std::vector<char>& buf = sbuf_;
  uint32_t seq = seq_++;
  nlmsghdr* nlh = putRequest(buf.data(), IPCTNL_MSG_CT_GET, 0, familyOf(query), seq);
  if (nfct_nlmsg_build(nlh, query) < 0) return Status(EINVAL, "ctnetlink: cannot build a get");
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return errnoStatus(errno, "send");
  std::vector<char>& rbuf = rbuf_;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, rbuf.data(), rbuf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus(errno, "receive");
    }
    int len = int(n);
    for (auto* r = reinterpret_cast<nlmsghdr*>(rbuf.data()); mnl_nlmsg_ok(r, len);
         r = mnl_nlmsg_next(r, &len)) {
      if (r->nlmsg_seq != seq) continue;
      if (r->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(r));
        int e = -err->error;
        if (e == 0) continue;
        return Status(e, std::string("ctnetlink: get: ") + std::strerror(e));
      }
      NfctPtr ct(nfct_new());
      if (!ct || nfct_nlmsg_parse(r, ct.get()) < 0) {
        return Status(EIO, "ctnetlink: cannot parse the entry");
      }
      return ct;
    }
  }
}

Status CtnetlinkSocket::dump(const std::function<void(NfctPtr)>& fn) {
  if (nl_ == nullptr) return Status(EBADF, "ctnetlink: socket not open");
  std::vector<char>& buf = sbuf_;
  uint32_t seq = seq_++;
  nlmsghdr* nlh = putRequest(buf.data(), IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_UNSPEC, seq);
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return errnoStatus(errno, "send");
  std::vector<char>& rbuf = rbuf_;
  struct Ctx {
    const std::function<void(NfctPtr)>* fn;
  } ctx{&fn};
  auto cb = [](const nlmsghdr* m, void* data) -> int {
    NfctPtr ct(nfct_new());
    if (!ct || nfct_nlmsg_parse(m, ct.get()) < 0) return MNL_CB_ERROR;
    (*static_cast<Ctx*>(data)->fn)(std::move(ct));
    return MNL_CB_OK;
  };
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, rbuf.data(), rbuf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus(errno, "dump");
    }
    int rc = mnl_cb_run(rbuf.data(), size_t(n), seq, port_id_, cb, &ctx);
    if (rc == MNL_CB_STOP) return Status();
    if (rc < 0) return errnoStatus(errno ? errno : EIO, "dump");
  }
}

int CtnetlinkSocket::flush() {
  if (nl_ == nullptr) return EBADF;
  std::vector<char>& buf = sbuf_;
  uint32_t seq = seq_++;
  nlmsghdr* nlh = putRequest(buf.data(), IPCTNL_MSG_CT_DELETE, NLM_F_ACK, AF_UNSPEC, seq);
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return errno;
  std::vector<char>& rbuf = rbuf_;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, rbuf.data(), rbuf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    int len = int(n);
    for (auto* r = reinterpret_cast<nlmsghdr*>(rbuf.data()); mnl_nlmsg_ok(r, len);
         r = mnl_nlmsg_next(r, &len)) {
      if (r->nlmsg_seq == seq && r->nlmsg_type == NLMSG_ERROR) {
        return -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(r))->error;
      }
    }
  }
}

}  // namespace ctsim::kern

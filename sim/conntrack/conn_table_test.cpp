#include "sim/conntrack/conn_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "sim/conntrack/conntrack.h"

namespace ctsim::ct {
namespace {

// Key n: UDP over IPv4, TCP over IPv6, ICMP echo and timestamp requests, an ICMP type without
// a reply type, ICMPv6 echo, in turn.
ConnKey keyNo(uint32_t n) {
  ConnKey k{};
  k.af = n % 6 == 1 || n % 6 == 5 ? CTSIM_AF_INET6 : CTSIM_AF_INET;
  k.zone = uint16_t(n % 3);
  k.src[0] = 10;
  k.src[3] = uint8_t(n);
  k.src[2] = uint8_t(n >> 8);
  k.dst[0] = 192;
  k.dst[15] = 9;
  switch (n % 6) {
    case 0:
    case 1:
      k.proto = n % 6 == 0 ? 17 : 6;
      k.ports.src = uint16_t(1000 + n % 7);
      k.ports.dst = 53;
      break;
    case 5:
      k.proto = 58;
      k.icmp = {uint16_t(n % 5), 128, 0};
      break;
    default:
      k.proto = 1;
      k.icmp = {uint16_t(n % 5), uint8_t(n % 6 == 2 ? 8 : n % 6 == 3 ? 13 : 3), uint8_t(n % 2)};
      break;
  }
  return k;
}

// The keys the churn test draws forward keys from, closed under reversal (so that one key is
// the forward key of some connections and the reverse key of others), and one key equal to
// its own reverse.
std::vector<ConnKey> keyPool(uint32_t n) {
  std::vector<ConnKey> out;
  for (uint32_t i = 0; i < n; ++i) {
    out.push_back(keyNo(i));
    out.push_back(reverseKey(keyNo(i)));
  }
  ConnKey self = keyNo(0);
  std::memcpy(self.dst, self.src, 16);
  self.ports.dst = self.ports.src;
  EXPECT_TRUE(keyEqual(reverseKey(self), self));
  out.push_back(self);
  return out;
}

using Entry = std::pair<const Conn*, bool>;

std::multiset<Entry> matches(const ConnTable& t, const ConnKey& key) {
  std::multiset<Entry> out;
  t.forEach(key, [&](Conn* c, bool reply) {
    out.insert({c, reply});
    return false;
  });
  return out;
}

// Against a reference multimap, 40k random inserts and erases over few keys (so that many
// connections share a key and clusters are long) leave exactly the same matches for every key,
// through growth and backward-shift deletions, and forEach stops at the entry fn accepts.
TEST(ConnTable, MatchesReferenceMultimapUnderRandomChurn) {
  std::mt19937 rng(20261125);
  ConnTable table;
  std::vector<std::unique_ptr<Conn>> live;
  std::multimap<std::vector<uint8_t>, Entry> ref;
  auto bytes = [](const ConnKey& k) {
    const auto* p = reinterpret_cast<const uint8_t*>(&k);
    return std::vector<uint8_t>(p, p + sizeof k);
  };
  const std::vector<ConnKey> keys = keyPool(32);
  for (int step = 0; step < 40000; ++step) {
    bool add = live.empty() || rng() % 100 < (step < 20000 ? 60 : 45);
    if (add) {
      auto c = std::make_unique<Conn>();
      c->ext.key_fwd = keys[rng() % keys.size()];
      table.insert(c.get(), false);
      table.insert(c.get(), true);
      ref.insert({bytes(c->key()), {c.get(), false}});
      ref.insert({bytes(c->revKey()), {c.get(), true}});
      live.push_back(std::move(c));
    } else {
      size_t i = rng() % live.size();
      Conn* c = live[i].get();
      table.erase(c, false);
      table.erase(c, true);
      for (bool reply : {false, true}) {
        auto [b, e] = ref.equal_range(bytes(reply ? c->revKey() : c->key()));
        for (auto it = b; it != e; ++it) {
          if (it->second == Entry{c, reply}) {
            ref.erase(it);
            break;
          }
        }
      }
      std::swap(live[i], live.back());
      live.pop_back();
    }
    if (step % 2000 == 0 || step == 39999) {
      ASSERT_EQ(table.size(), ref.size());
      for (size_t n = 0; n < keys.size(); ++n) {
        const ConnKey& k = keys[n];
        std::multiset<Entry> want;
        auto [b, e] = ref.equal_range(bytes(k));
        for (auto it = b; it != e; ++it) want.insert(it->second);
        ASSERT_EQ(matches(table, k), want) << "key " << n << " at step " << step;
      }
    }
  }
  ASSERT_FALSE(live.empty());
  const Conn* target = live.front().get();
  EXPECT_EQ(table.forEach(target->key(), [&](Conn* c, bool) { return c == target; }), target);
  ConnKey absent = keyNo(1000);
  EXPECT_EQ(table.forEach(absent, [](Conn*, bool) { return true; }), nullptr);
}

// The table's hash tells a key from its reverse; the symmetric keyHash does not.
TEST(ConnTable, DirectedHashDiffersFromReverse) {
  ConnKey k = keyNo(5);
  EXPECT_NE(ConnTable::hash(k), ConnTable::hash(reverseKey(k)));
  EXPECT_EQ(keyHash(k), keyHash(reverseKey(k)));
}

// keyEqualReverse(k, f), the table's test of a reply entry, is keyEqual(k, reverseKey(f)) for
// every kind of key (UDP, TCP over IPv6, ICMP echo, timestamp and unpaired types, ICMPv6) and
// for every one-byte change of the reverse key; reverseKey is an involution.
TEST(ConnKey, EqualReverseAgreesWithReverseKey) {
  std::vector<ConnKey> keys = keyPool(12);
  for (const ConnKey& f : keys) {
    ConnKey r = reverseKey(f);
    EXPECT_TRUE(keyEqual(reverseKey(r), f)) << formatKey(f);
    EXPECT_TRUE(keyEqualReverse(r, f)) << formatKey(f);
    EXPECT_EQ(keyEqualReverse(f, f), keyEqual(f, r)) << formatKey(f);
    for (size_t byte = 0; byte < sizeof(ConnKey); ++byte) {
      for (uint8_t bit : {uint8_t(1), uint8_t(0x80)}) {
        ConnKey k = r;
        reinterpret_cast<uint8_t*>(&k)[byte] ^= bit;
        EXPECT_EQ(keyEqualReverse(k, f), keyEqual(k, r)) << formatKey(f) << " byte " << byte;
      }
    }
    for (const ConnKey& other : keys) {
      EXPECT_EQ(keyEqualReverse(other, f), keyEqual(other, r)) << formatKey(f);
    }
  }
}

// The reverse of each kind of key, written out: addresses and ports swapped, ICMP request types
// to their reply types (echo 8 -> 0, timestamp 13 -> 14, ICMPv6 echo 128 -> 129), an unpaired
// type kept, id, code, zone, family and protocol kept.
TEST(ConnKey, ReverseKeyOfEachKind) {
  ConnKey udp = keyNo(0);  // 10.0.0.0:1000 -> 192.0.0.0..9:53 zone 0.
  ConnKey r = reverseKey(udp);
  EXPECT_EQ(r.ports.src, 53);
  EXPECT_EQ(r.ports.dst, 1000);
  EXPECT_EQ(r.src[0], 192);
  EXPECT_EQ(r.src[15], 9);
  EXPECT_EQ(r.dst[0], 10);
  EXPECT_EQ(r.zone, udp.zone);
  EXPECT_EQ(r.proto, 17);
  struct Icmp {
    uint32_t n;
    uint8_t type, reply;
  };
  for (Icmp c : {Icmp{2, 8, 0}, Icmp{3, 13, 14}, Icmp{4, 3, 3}, Icmp{5, 128, 129}}) {
    ConnKey k = keyNo(c.n);
    ASSERT_EQ(k.icmp.type, c.type);
    ConnKey rk = reverseKey(k);
    EXPECT_EQ(rk.icmp.type, c.reply) << formatKey(k);
    EXPECT_EQ(rk.icmp.id, k.icmp.id);
    EXPECT_EQ(rk.icmp.code, k.icmp.code);
    EXPECT_EQ(std::memcmp(rk.src, k.dst, 16), 0);
    EXPECT_EQ(std::memcmp(rk.dst, k.src, 16), 0);
    EXPECT_EQ(rk.zone, k.zone);
  }
}

}  // namespace
}  // namespace ctsim::ct

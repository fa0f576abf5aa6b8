#include "sim/conntrack/conn_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "sim/conntrack/conntrack.h"

namespace ctsim::ct {
namespace {

ConnKey keyNo(uint32_t n) {
  ConnKey k{};
  k.af = CTSIM_AF_INET;
  k.proto = 17;
  k.src[0] = 10;
  k.src[3] = uint8_t(n);
  k.src[2] = uint8_t(n >> 8);
  k.dst[0] = 192;
  k.ports.src = uint16_t(1000 + n % 7);
  k.ports.dst = 53;
  return k;
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
  const uint32_t kKeys = 64;
  for (int step = 0; step < 40000; ++step) {
    bool add = live.empty() || rng() % 100 < (step < 20000 ? 60 : 45);
    if (add) {
      auto c = std::make_unique<Conn>();
      c->ext.key_fwd = keyNo(rng() % kKeys);
      c->ext.key_rev = keyNo(rng() % kKeys);  // any key: duplicates across directions too.
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
      for (uint32_t n = 0; n < kKeys; ++n) {
        ConnKey k = keyNo(n);
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
  ConnKey absent = keyNo(kKeys + 1);
  EXPECT_EQ(table.forEach(absent, [](Conn*, bool) { return true; }), nullptr);
}

// The table's hash tells a key from its reverse; the symmetric keyHash does not.
TEST(ConnTable, DirectedHashDiffersFromReverse) {
  ConnKey k = keyNo(5);
  EXPECT_NE(ConnTable::hash(k), ConnTable::hash(reverseKey(k)));
  EXPECT_EQ(keyHash(k), keyHash(reverseKey(k)));
}

}  // namespace
}  // namespace ctsim::ct

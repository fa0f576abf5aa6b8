#include "providers/emu_hw/distribution.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <numbers>

namespace ctsim::emu_hw {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// A finite non-negative double, the whole of 's'.
bool parseNonNegative(std::string_view s, double* out) {
  double x = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(x) || x < 0) return false;
  *out = x;
  return true;
}

std::vector<std::string_view> splitColon(std::string_view s) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t c = s.find(':');
    parts.push_back(s.substr(0, c));
    if (c == std::string_view::npos) break;
    s.remove_prefix(c + 1);
  }
  return parts;
}

}  // namespace

Result<int64_t> parseDuration(std::string_view where, std::string_view text) {
  auto bad = [&] {
    return Status(EINVAL, std::string(where) +
                              ": expected a duration such as 500ns, 20us, 5ms or " + "1s, got '" +
                              std::string(text) + "'");
  };
  std::string_view t = trim(text);
  if (t == "0") return int64_t{0};
  static constexpr struct {
    const char* suffix;
    double scale;
  } kUnits[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
  for (const auto& u : kUnits) {
    std::string_view suffix = u.suffix;
    if (t.size() <= suffix.size() || t.substr(t.size() - suffix.size()) != suffix) continue;
    double x = 0;
    if (!parseNonNegative(t.substr(0, t.size() - suffix.size()), &x)) return bad();
    double ns = std::round(x * u.scale);
    if (ns > 9.2e18) return bad();
    return static_cast<int64_t>(ns);
  }
  return bad();
}

std::string formatDuration(int64_t ns) {
  if (ns == 0) return "0";
  if (ns % 1000000000 == 0) return std::to_string(ns / 1000000000) + "s";
  if (ns % 1000000 == 0) return std::to_string(ns / 1000000) + "ms";
  if (ns % 1000 == 0) return std::to_string(ns / 1000) + "us";
  return std::to_string(ns) + "ns";
}

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

Distribution Distribution::fixed(int64_t ns) {
  Distribution d;
  d.a_ = ns;
  d.text_ = "fixed:" + formatDuration(ns);
  return d;
}

Result<Distribution> Distribution::parse(std::string_view where, std::string_view text,
                                         const std::string& base_dir) {
  const std::string w(where);
  std::vector<std::string_view> f = splitColon(trim(text));
  auto usage = [&] {
    return Status(EINVAL, w + ": expected fixed:D, D, uniform:A:B, lognormal:MEDIAN:SIGMA or " +
                              "hist:FILE, got '" + std::string(text) + "'");
  };
  if (f.size() == 1 || (f[0] == "fixed" && f.size() == 2)) {
    auto d = parseDuration(w, f.back());
    if (!d.ok()) return d.status();
    return fixed(d.value());
  }
  if (f[0] == "uniform" && f.size() == 3) {
    auto lo = parseDuration(w, f[1]);
    if (!lo.ok()) return lo.status();
    auto hi = parseDuration(w, f[2]);
    if (!hi.ok()) return hi.status();
    if (hi.value() < lo.value()) {
      return Status(EINVAL, w + ": uniform bounds out of order in '" + std::string(text) + "'");
    }
    Distribution d;
    d.kind_ = Kind::kUniform;
    d.a_ = lo.value();
    d.b_ = hi.value();
    d.text_ = "uniform:" + formatDuration(d.a_) + ":" + formatDuration(d.b_);
    return d;
  }
  if (f[0] == "lognormal" && f.size() == 3) {
    auto m = parseDuration(w, f[1]);
    if (!m.ok()) return m.status();
    double sigma = 0;
    if (!parseNonNegative(trim(f[2]), &sigma)) {
      return Status(EINVAL,
                    w + ": lognormal sigma must be a number >= 0, got '" + std::string(f[2]) + "'");
    }
    Distribution d;
    d.kind_ = Kind::kLognormal;
    d.a_ = m.value();
    d.sigma_ = sigma;
    d.text_ = "lognormal:" + formatDuration(d.a_) + ":" + std::string(trim(f[2]));
    return d;
  }
  if (f[0] == "hist" && f.size() >= 2) {
    // The path may itself contain ':'; take everything after "hist:".
    std::string path(trim(text).substr(5));
    if (path.empty()) return usage();
    if (path[0] != '/' && !base_dir.empty()) path = base_dir + "/" + path;
    std::ifstream in(path);
    if (!in) return Status(ENOENT, w + ": cannot open histogram file " + path);
    Distribution d;
    d.kind_ = Kind::kHistogram;
    d.text_ = "hist:" + path;
    double total = 0;
    std::string line;
    for (int lineno = 1; std::getline(in, line); lineno++) {
      std::string_view l = line;
      l = trim(l.substr(0, l.find('#')));
      if (l.empty()) continue;
      size_t comma = l.find(',');
      std::string at = path + ":" + std::to_string(lineno);
      if (comma == std::string_view::npos) {
        return Status(EINVAL, w + ": " + at + ": expected 'value,weight', got '" + line + "'");
      }
      auto v = parseDuration(w + ": " + at, l.substr(0, comma));
      if (!v.ok()) return v.status();
      double weight = 0;
      if (!parseNonNegative(trim(l.substr(comma + 1)), &weight)) {
        return Status(EINVAL, w + ": " + at + ": weight must be a number >= 0, got '" + line + "'");
      }
      total += weight;
      d.values_.push_back(v.value());
      d.cumulative_.push_back(total);
    }
    if (total <= 0) return Status(EINVAL, w + ": " + path + ": no positive weight");
    return d;
  }
  return usage();
}

int64_t Distribution::draw(std::mt19937_64& rng) const {
  switch (kind_) {
    case Kind::kFixed:
      return a_;
    case Kind::kUniform: {
      uint64_t span = static_cast<uint64_t>(b_ - a_) + 1;
      return a_ + static_cast<int64_t>(rng() % span);  // Modulo bias is negligible for spans here.
    }
    case Kind::kLognormal: {
      // Box-Muller from two draws; u1 in (0, 1] so that log() is finite.
      double u1 = 1.0 - uniform01(rng), u2 = uniform01(rng);
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
      double x = static_cast<double>(a_) * std::exp(sigma_ * z);
      if (!(x < 9.0e18)) x = 9.0e18;
      return static_cast<int64_t>(std::llround(x));
    }
    case Kind::kHistogram: {
      // The first value whose running weight exceeds u (zero-weight values are never drawn).
      double u = uniform01(rng) * cumulative_.back();
      auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
      if (it == cumulative_.end()) return values_.back();
      return values_[static_cast<size_t>(it - cumulative_.begin())];
    }
  }
  return a_;
}

}  // namespace ctsim::emu_hw

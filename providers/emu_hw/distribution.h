#pragma once
// Durations and latency distributions of the emu-hw provider, drawn from a caller-owned seeded
// generator with ctsim's own arithmetic (not std::*_distribution, whose algorithms differ
// between standard libraries), so that a seed gives the same draws everywhere.

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "sim/status.h"

namespace ctsim::emu_hw {

// "250ns", "1.5us", "2ms", "1s" -> nanoseconds.  "0" needs no unit; any other value does, so
// that "aging=10" cannot silently mean 10 ns.  EINVAL (message names 'where') for anything else.
Result<int64_t> parseDuration(std::string_view where, std::string_view text);
// The shortest exact rendering of 'ns' with a unit ("1500ns" -> "1500ns", 2000000 -> "2ms").
std::string formatDuration(int64_t ns);

// A uniform double in [0, 1) from the top 53 bits of one draw.
double uniform01(std::mt19937_64& rng);

// A distribution of non-negative durations in nanoseconds.  Text forms (':' separates fields,
// because ',' separates provider options):
//   fixed:D (or just D)    always D
//   uniform:A:B            uniform integer in [A, B]
//   lognormal:M:S          M * exp(S * N(0,1)): median M, shape S >= 0
//   hist:FILE              empirical: FILE has "value,weight" lines (value a duration, weight a
//                          non-negative number, '#' comments); a value is drawn with
//                          probability weight / total.  A relative FILE is taken from 'base_dir'.
class Distribution {
 public:
  enum class Kind { kFixed, kUniform, kLognormal, kHistogram };

  Distribution() = default;  // fixed:0.
  static Distribution fixed(int64_t ns);
  // EINVAL with a message naming 'where' (the option) for a malformed text or file.
  static Result<Distribution> parse(std::string_view where, std::string_view text,
                                    const std::string& base_dir);

  // One draw; consumes a fixed number of generator outputs per kind (0 for fixed).
  int64_t draw(std::mt19937_64& rng) const;
  Kind kind() const { return kind_; }
  // The text form (histograms: "hist:FILE" as resolved).
  const std::string& text() const { return text_; }

 private:
  Kind kind_ = Kind::kFixed;        // Which of the forms.
  int64_t a_ = 0;                   // fixed: the value; uniform: low; lognormal: median.
  int64_t b_ = 0;                   // uniform: high.
  double sigma_ = 0;                // lognormal: shape.
  std::vector<int64_t> values_;     // histogram: values, in file order.
  std::vector<double> cumulative_;  // histogram: running sum of weights, per value.
  std::string text_ = "fixed:0";    // Canonical text form.
};

}  // namespace ctsim::emu_hw

#pragma once
// SHA-256 (FIPS 180-4) of byte strings and files, for the report's input fingerprints.

#include <cstddef>
#include <cstdint>
#include <string>

#include "sim/status.h"

namespace ctsim::reports {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  // The digest as 64 lowercase hex digits; the object is spent afterwards.
  std::string hexDigest();

 private:
  void block(const uint8_t* p);

  uint32_t h_[8];       // chaining state.
  uint8_t buf_[64];     // partial block.
  size_t buf_len_ = 0;  // bytes in buf_.
  uint64_t total_ = 0;  // bytes hashed.
};

// The SHA-256 of a file's contents (hex), or the error opening/reading it.
Result<std::string> sha256File(const std::string& path);

}  // namespace ctsim::reports

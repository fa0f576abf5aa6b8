#pragma once
// SHA-256 of byte strings and files, for the report's input fingerprints: OpenSSL's libcrypto
// (EVP), which uses the CPU's SHA extensions where present (an input of 700 MB hashes in well
// under a second; a portable C++ version took longer than the replay itself).

#include <cstddef>
#include <cstdint>
#include <string>

#include "sim/status.h"

struct evp_md_ctx_st;

namespace ctsim::reports {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  // The digest as 64 lowercase hex digits; the object is spent afterwards.
  std::string hexDigest();

 private:
  evp_md_ctx_st* ctx_;  // OpenSSL digest context.
};

// The SHA-256 of a file's contents (hex), or the error opening/reading it.
Result<std::string> sha256File(const std::string& path);

}  // namespace ctsim::reports

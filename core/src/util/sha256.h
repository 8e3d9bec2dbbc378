// SHA-256 (FIPS 180-4) for provenance fingerprints of corpora and model files. Internal to core.
#pragma once

#include <cstdint>
#include <string>

namespace bitscape::detail {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(const std::string& s) { update(s.data(), s.size()); }
  std::string hex();  // finishes the hash; the object is spent afterwards

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buffer_[64];
  size_t fill_ = 0;
  uint64_t length_ = 0;
};

}  // namespace bitscape::detail

// fuzz_seed_frames OUTDIR MAX_PER_FILE CAPTURE...: writes up to MAX_PER_FILE frames of each
// capture as fuzz_parser seeds (one byte selecting the link type, then the frame).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sim/parser.h"
#include "sim/trace_reader.h"

namespace {

// Must list link types in fuzz_parser.cpp's order.
int linkIndex(uint32_t link) {
  const uint32_t links[] = {ctsim::kLinkEthernet, ctsim::kLinkLinuxSll, ctsim::kLinkLinuxSll2,
                            ctsim::kLinkNull,     ctsim::kLinkLoop,     ctsim::kLinkRaw,
                            ctsim::kLinkIpv4,     ctsim::kLinkIpv6,     ctsim::kLinkPpp};
  for (int i = 0; i < 9; ++i) {
    if (links[i] == link) return i;
  }
  return 9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: fuzz_seed_frames OUTDIR MAX_PER_FILE CAPTURE...\n");
    return 2;
  }
  std::string out = argv[1];
  long max = std::atol(argv[2]);
  long written = 0;
  for (int i = 3; i < argc; ++i) {
    auto r = ctsim::TraceReader::open(argv[i]);
    if (!r.ok()) continue;
    ctsim::TraceRecord rec;
    for (long n = 0; n < max && r.value()->next(rec); ++n) {
      std::string path = out + "/f" + std::to_string(i) + "-" + std::to_string(n);
      FILE* f = std::fopen(path.c_str(), "wb");
      if (f == nullptr) return 1;
      unsigned char link = static_cast<unsigned char>(linkIndex(rec.linktype));
      std::fwrite(&link, 1, 1, f);
      std::fwrite(rec.data, 1, rec.caplen, f);
      std::fclose(f);
      ++written;
    }
  }
  std::printf("fuzz_seed_frames: %ld seeds in %s\n", written, out.c_str());
  return 0;
}

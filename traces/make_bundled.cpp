// make-bundled-traces [DIR]: regenerates the traces the repository ships (default: the source
// tree's traces/bundled/), printing each file's name, seed and packet count.
#include <cstdio>
#include <string>

#include "traces/bundled.h"

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : CTSIM_BUNDLED_DIR;
  for (const auto& t : ctsim::traces::allBundledTraces()) {
    std::string path = dir + "/" + t.name;
    ctsim::Status s = ctsim::traces::writeBundledTrace(t, path);
    if (!s.ok()) {
      std::fprintf(stderr, "make-bundled-traces: %s: %s\n", path.c_str(), s.message().c_str());
      return 1;
    }
    std::printf("%s: seed %llu, %zu packets\n", path.c_str(), (unsigned long long)t.seed,
                t.frames.size());
  }
  std::string workload = dir + "/workload-small.pcap";
  auto g = ctsim::traces::generate(ctsim::traces::workloadSmallConfig(), workload);
  if (!g.ok()) {
    std::fprintf(stderr, "make-bundled-traces: %s: %s\n", workload.c_str(),
                 g.status().message().c_str());
    return 1;
  }
  std::printf("%s: seed %llu, %llu packets (ctsim gen)\n", workload.c_str(),
              (unsigned long long)ctsim::traces::workloadSmallConfig().seed,
              (unsigned long long)g.value().packets);
  return 0;
}

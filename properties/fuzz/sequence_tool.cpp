// sequence_tool: the fuzz_sequence format (properties/fuzz/sequence.h) by hand.
//   sequence_tool seeds OUTDIR    writes the hand-made sequences as OUTDIR/NAME.seq
//   sequence_tool show FILE...    prints each sequence decoded, one step per line
//   sequence_tool run FILE...     replays each under strict; prints violations, exit 1 if any
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "properties/fuzz/sequence.h"

namespace fz = ctsim::props::fuzz;

int main(int argc, char** argv) {
  if (argc < 3 || (std::strcmp(argv[1], "seeds") != 0 && std::strcmp(argv[1], "show") != 0 &&
                   std::strcmp(argv[1], "run") != 0)) {
    std::fprintf(stderr, "usage: sequence_tool seeds OUTDIR | show FILE... | run FILE...\n");
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "seeds") {
    int n = 0;
    for (const auto& [name, bytes] : fz::seedSequences()) {
      std::string path = std::string(argv[2]) + "/" + name + ".seq";
      std::ofstream(path, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
      ++n;
    }
    std::printf("sequence_tool: %d seeds in %s\n", n, argv[2]);
    return 0;
  }
  int status = 0;
  for (int i = 2; i < argc; ++i) {
    auto bytes = fz::readSequenceFile(argv[i]);
    if (!bytes.ok()) {
      std::fprintf(stderr, "sequence_tool: %s\n", bytes.status().message().c_str());
      status = 2;
      continue;
    }
    const auto& b = bytes.value();
    if (cmd == "show") {
      std::printf("== %s (%zu bytes)\n%s", argv[i], b.size(),
                  fz::describeSequence(b.data(), b.size()).c_str());
    } else {
      std::string v = fz::runSequence(b.data(), b.size());
      std::printf("%s: %s\n%s", argv[i], v.empty() ? "clean" : "VIOLATED", v.c_str());
      if (!v.empty() && status == 0) status = 1;
    }
  }
  return status;
}

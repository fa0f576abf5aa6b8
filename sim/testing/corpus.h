#pragma once
// Access to the shared capture corpus for tests: ../shared/traces beside the source tree, or
// $CTSIM_CORPUS. Tests call GTEST_SKIP with corpusMissingMessage() when it is absent.

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace ctsim::testing {

inline std::filesystem::path corpusDir() {
  if (const char* env = std::getenv("CTSIM_CORPUS"); env != nullptr && *env != '\0') return env;
#ifdef CTSIM_CORPUS_DEFAULT
  return CTSIM_CORPUS_DEFAULT;
#else
  return "../shared/traces";
#endif
}

inline std::filesystem::path manifestPath() { return corpusDir() / "public" / "MANIFEST.tsv"; }

inline bool corpusPresent() { return std::filesystem::exists(manifestPath()); }

inline std::string corpusMissingMessage() {
  return "corpus not found at " + manifestPath().string() +
         " (set CTSIM_CORPUS to the folder that holds public/MANIFEST.tsv)";
}

// One row of MANIFEST.tsv, as column name -> value.
using ManifestRow = std::map<std::string, std::string>;

inline std::vector<ManifestRow> readManifest() {
  std::vector<ManifestRow> rows;
  std::ifstream in(manifestPath());
  std::string line;
  std::vector<std::string> header;
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string cell;
    while (std::getline(ss, cell, '\t')) out.push_back(cell);
    return out;
  };
  if (!std::getline(in, line)) return rows;
  header = split(line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto cells = split(line);
    ManifestRow row;
    for (size_t i = 0; i < header.size() && i < cells.size(); ++i) row[header[i]] = cells[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace ctsim::testing

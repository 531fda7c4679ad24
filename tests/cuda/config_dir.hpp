// Where the [cuda] trainer tests find configs/: $MHC_CONFIG_DIR when set (the packed binaries of
// scripts/gpu-check.sh run in another checkout), else the source tree they were built from.
#pragma once

#include <cstdlib>
#include <string>

namespace mhc::test {

inline std::string config_dir() {
  const char* dir = std::getenv("MHC_CONFIG_DIR");
  return dir != nullptr && *dir != '\0' ? dir : MHC_CONFIG_DIR;
}

}  // namespace mhc::test

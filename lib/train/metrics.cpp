// metrics.jsonl writer.
#include "train/metrics.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace mhc::train {

MetricsWriter::MetricsWriter(const std::string& run_dir, std::int64_t keep_through_step)
    : path_((std::filesystem::path(run_dir) / "metrics.jsonl").string()) {
  std::string kept;
  if (keep_through_step >= 0) {
    std::ifstream in(path_);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const auto record = nlohmann::json::parse(line, nullptr, false);  // a torn or foreign line is dropped
      if (!record.is_object()) continue;
      const auto step = record.find("step");
      if (step != record.end() && step->is_number_integer() && step->get<std::int64_t>() <= keep_through_step)
        kept += line + "\n";
    }
  }
  write_file_atomic(path_, kept);
  out_.open(path_, std::ios::app);
  MHC_CHECK(out_.good(), IoError, "cannot append to '", path_, "': ", std::strerror(errno));
}

void MetricsWriter::write(const nlohmann::json& record) {
  out_ << record.dump() << "\n";
  out_.flush();
  MHC_CHECK(out_.good(), IoError, "write to '", path_, "' failed: ", std::strerror(errno));
}

}  // namespace mhc::train

// metrics.jsonl: one JSON object per logged step, flushed line by line so a killed run keeps what it logged.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace mhc::train {

class MetricsWriter {
 public:
  // Opens RUN_DIR/metrics.jsonl; keep_through_step >= 0 keeps the existing records (JSON objects) with an integer
  // step <= it (resume) and drops every other line, < 0 starts a new file.
  MetricsWriter(const std::string& run_dir, std::int64_t keep_through_step);
  void write(const nlohmann::json& record);

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace mhc::train

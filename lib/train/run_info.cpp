// run.json: run id, start time, launches.
#include "train/run_info.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"

namespace mhc::train {

namespace {

std::string random_hex_id() {
  std::random_device rd;
  const std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The object in path, or an empty object when the file is missing or not a JSON object.
nlohmann::json read_object(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

}  // namespace

std::string utc_now_iso8601() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

RunInfo record_launch(const std::string& run_dir, bool resume, std::int64_t step, const std::string& precision,
                      const std::vector<std::string>& notices) {
  const std::string path = (std::filesystem::path(run_dir) / "run.json").string();
  const std::string now = utc_now_iso8601();
  nlohmann::json info = resume ? read_object(path) : nlohmann::json::object();
  if (!info.contains("run_id") || !info["run_id"].is_string() || !info.contains("started") ||
      !info["started"].is_string() || !info.contains("launches") || !info["launches"].is_array()) {
    info = {{"run_id", random_hex_id()}, {"started", now}, {"launches", nlohmann::json::array()}};
  }
  info["launches"].push_back({{"time", now}, {"step", step}, {"precision", precision}, {"notices", notices}});
  write_file_atomic(path, info.dump(2) + "\n");
  return {info["run_id"].get<std::string>(), info["started"].get<std::string>()};
}

}  // namespace mhc::train

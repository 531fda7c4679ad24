// Calibrating the pipeline simulator from a run's trace: reading trace.json back, the measured F, B, W and receive
// costs, the measured bubble, and the errors that name the trace.
#include <catch2/catch.hpp>

#include <fstream>

#include "dist/calibration.hpp"
#include "dist/trace.hpp"
#include "support/temp_dir.hpp"

using namespace mhc;
using namespace mhc::dist;

namespace {

// Two ranks, two traced steps each (times in microseconds).
std::vector<std::vector<TraceSpan>> two_steps() {
  return {{{"step", "step", 0, 100},
           {"F0", "F", 0, 20, 0, 0},
           {"B0", "B", 30, 30, 0, 0},
           {"W0", "W", 60, 10, 0, 0},
           {"step", "step", 100, 100},
           {"F0", "F", 100, 40, 0, 0},
           {"B0", "B", 150, 30, 0, 0},
           {"W0", "W", 180, 10, 0, 0}},
          {{"step", "step", 0, 100},
           {"wait", "wait", 0, 20, 0, 1},
           {"F0", "F", 20, 30, 0, 1},
           {"wait", "wait", 50, 2, 0, 1},
           {"B0", "B", 52, 40, 0, 1},
           {"step", "step", 100, 200},
           {"F0", "F", 100, 30, 0, 1},
           {"B0", "B", 130, 40, 0, 1},
           {"W0", "W", 170, 10, 0, 1},
           {"eval", "eval", 300, 50}}};
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

}  // namespace

TEST_CASE("read_chrome_trace reads back what chrome_trace_json wrote", "[dist]") {
  test::TempDir dir("calibration");
  const std::string path = dir.file("trace.json");
  write(path, chrome_trace_json(two_steps()));
  CHECK(read_chrome_trace(path) == two_steps());
}

TEST_CASE("calibrate: median F, B, W, the shortest wait, and the bubble each rank measured", "[dist]") {
  const Calibration c = calibrate(two_steps(), "t.json");
  CHECK(c.costs.F == Approx(0.030));   // F of 20, 40, 30, 30 us
  CHECK(c.costs.B == Approx(0.035));   // 30, 30, 40, 40
  CHECK(c.costs.W == Approx(0.010));   // 10, 10, 10
  CHECK(c.costs.comm == Approx(0.002));
  CHECK(c.steps == 2);
  REQUIRE(c.measured_bubble.size() == 2);
  CHECK(c.measured_bubble[0] == Approx(0.3));   // 1 - 60/100 and 1 - 80/100
  CHECK(c.measured_bubble[1] == Approx(0.45));  // 1 - 70/100 and 1 - 80/200
}

TEST_CASE("calibrate and read_chrome_trace name the trace when it cannot calibrate", "[dist]") {
  auto spans = two_steps();
  spans[1].erase(spans[1].begin());  // rank 1's first step span
  spans[1].erase(spans[1].begin() + 4);
  CHECK_THROWS_WITH(calibrate(spans, "t.json"), Catch::Contains("t.json") && Catch::Contains("rank 1"));
  auto no_w = two_steps();
  for (auto& rank : no_w)
    for (auto& s : rank)
      if (s.category == "W") s.category = "other";
  CHECK_THROWS_AS(calibrate(no_w, "t.json"), IoError);
  CHECK_THROWS_WITH(calibrate(no_w, "t.json"), Catch::Contains("t.json") && Catch::Contains("\"W\""));

  test::TempDir dir("calibration_bad");
  const std::string missing = dir.file("missing.json"), bad = dir.file("bad.json"), odd = dir.file("odd.json");
  CHECK_THROWS_AS(read_chrome_trace(missing), IoError);
  CHECK_THROWS_WITH(read_chrome_trace(missing), Catch::Contains("missing.json"));
  write(bad, "{\"traceEvents\": [");
  CHECK_THROWS_WITH(read_chrome_trace(bad), Catch::Contains("bad.json") && Catch::Contains("not valid JSON"));
  write(odd, "{\"traceEvents\": [{\"ph\": \"X\", \"tid\": 0, \"name\": \"F\"}]}");
  CHECK_THROWS_WITH(read_chrome_trace(odd), Catch::Contains("odd.json: traceEvents[0]"));
  write(odd, "{\"events\": []}");
  CHECK_THROWS_WITH(read_chrome_trace(odd), Catch::Contains("not a Chrome trace"));
}

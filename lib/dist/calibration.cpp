// Calibration of the pipeline simulator from a run's trace spans.
#include "dist/calibration.hpp"

#include <algorithm>
#include <cstdint>

namespace mhc::dist {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

bool is_compute(const TraceSpan& s) { return s.category == "F" || s.category == "B" || s.category == "W"; }

}  // namespace

Calibration calibrate(const std::vector<std::vector<TraceSpan>>& spans_per_rank, const std::string& what) {
  Calibration c;
  std::vector<double> durations[3];  // ms of F, B, W
  double shortest_wait = -1;
  for (std::size_t r = 0; r < spans_per_rank.size(); ++r) {
    const std::vector<TraceSpan>& spans = spans_per_rank[r];
    std::vector<double> bubble;
    for (const TraceSpan& step : spans) {
      if (step.category != "step") continue;
      std::int64_t compute = 0;
      for (const TraceSpan& s : spans)
        if (is_compute(s) && s.start_us >= step.start_us && s.start_us < step.start_us + step.dur_us)
          compute += s.dur_us;
      bubble.push_back(step.dur_us > 0 ? 1.0 - static_cast<double>(compute) / static_cast<double>(step.dur_us) : 0);
    }
    MHC_CHECK(!bubble.empty(), IoError, what, ": rank ", r, " has no \"step\" span to measure its bubble in");
    if (r == 0) c.steps = static_cast<int>(bubble.size());
    c.measured_bubble.push_back(median(bubble));
    for (const TraceSpan& s : spans) {
      const double ms = static_cast<double>(s.dur_us) / 1e3;
      if (s.category == "F") durations[0].push_back(ms);
      if (s.category == "B") durations[1].push_back(ms);
      if (s.category == "W") durations[2].push_back(ms);
      if (s.category == "wait" && (shortest_wait < 0 || ms < shortest_wait)) shortest_wait = ms;
    }
  }
  const char* names[3] = {"F", "B", "W"};
  for (int k = 0; k < 3; ++k)
    MHC_CHECK(!durations[k].empty(), IoError, what, ": no \"", names[k], "\" span to measure its cost from");
  c.costs = Costs{median(durations[0]), median(durations[1]), median(durations[2]), std::max(shortest_wait, 0.0)};
  return c;
}

}  // namespace mhc::dist

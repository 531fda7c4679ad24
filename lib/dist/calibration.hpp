// Simulator costs measured in a run: the F, B, W and receive costs a trace implies, and the bubble it measured.
#pragma once

#include <string>
#include <vector>

#include "dist/simulator.hpp"
#include "dist/trace.hpp"

namespace mhc::dist {

struct Calibration {
  // Milliseconds. F, B, W: the median duration of the spans of that category over every rank. comm: the shortest
  // "wait" span, the cost a receive adds even when its message was sent long before (Open MPI here moves a message
  // only inside MPI calls, so that is the transfer no schedule hides); 0 when the trace has no waits.
  Costs costs;
  std::vector<double> measured_bubble;  // per rank: median over its "step" spans of 1 - (F + B + W) / step time
  int steps = 0;                        // "step" spans of rank 0
};

// The calibration of spans indexed by rank (read_chrome_trace); IoError naming `what` (the trace) when a rank has
// no "step" span or a category of F, B, W has no span.
Calibration calibrate(const std::vector<std::vector<TraceSpan>>& spans_per_rank, const std::string& what);

}  // namespace mhc::dist

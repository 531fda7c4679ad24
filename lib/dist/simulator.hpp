// Discrete-event simulator of per-rank pipeline instruction lists: timelines, makespan, bubble, text timeline.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"
#include "dist/schedule.hpp"

namespace mhc::dist {

// A schedule that cannot run: a deadlock (no rank can progress) or a dependency error (B before its F,
// a receive with no matching send, a send never received, an instruction twice, ...). The message names
// the rank, the position in its list and the instruction.
class ScheduleError : public Error {
  using Error::Error;
};

// Durations of the compute instructions and the latency of one message. OptimizerStep, sends and
// receives take no compute time.
struct Costs {
  double F = 1.0;
  double B = 1.0;
  double W = 1.0;
  double comm = 0.0;
};

struct TimedInstruction {
  Instruction instr;
  double start = 0.0;
  double end = 0.0;
};

struct SimResult {
  std::vector<std::vector<TimedInstruction>> timelines;  // [rank], in list order
  double makespan = 0.0;                                 // latest end over all ranks (all start at 0)
  // Bubble of rank r: makespan - (its busy compute time, the sum of its F, B and W durations), i.e. all the
  // time rank r does not compute, including waiting on receives and idling after its last instruction.
  std::vector<double> bubble_per_rank;
  double bubble_total = 0.0;  // sum over ranks
  double bubble_mean = 0.0;   // bubble_total / ranks
  double bubble_max = 0.0;    // max over ranks
  std::string text;           // render_timeline of this result
};

// Executes the lists in order. Compute takes its cost; a send is non-blocking and takes no time; a receive
// blocks until the matching send has been issued and then completes at max(now, send time + comm).
// The number of stages is taken as 1 + the largest stage of any F. Throws ScheduleError (see above).
SimResult simulate(const Schedule& schedule, const Costs& costs);

// One line per rank: "rank 0 |F0 F1 .  B0 W0 ..." on a time grid of cells one min(F, B, W) wide; every
// compute instruction prints its letter and micro-batch in its first cell and '~' in the cells it
// continues into, '.' is idle. Upper-case letters for the rank's lowest stage, lower-case for any other
// (DualPipe's second chunk). Sends and receives are not drawn (their waiting shows as idle).
std::string render_timeline(const SimResult& result, const Costs& costs);

}  // namespace mhc::dist

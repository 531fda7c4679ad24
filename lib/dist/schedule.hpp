// Pipeline schedules as data: one instruction list per rank for 1F1B, DualPipe and DualPipeV.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace mhc::dist {

// F: forward of a micro-batch through a stage; B: its input gradient; W: its weight gradient.
// Send/Recv move a micro-batch's activation (forward) or gradient (backward) between ranks; they never
// carry a copy to the same rank (two consecutive stages on one rank hand over locally).
// OptimizerStep ends every list.
enum class Op { F, B, W, SendAct, RecvAct, SendGrad, RecvGrad, OptimizerStep };

// A stage is a chunk of consecutive blocks; stages are numbered 0..S-1 along every micro-batch's path
// (activations flow from stage s to s + 1, gradients from s + 1 to s). For Send/Recv, `stage` is the stage
// this rank runs for the micro-batch (SendAct after F(mb, stage), RecvAct before F(mb, stage), SendGrad
// after B(mb, stage), RecvGrad before B(mb, stage)) and `peer` the other rank. Unused fields are -1.
struct Instruction {
  Op op = Op::OptimizerStep;
  int mb = -1;
  int stage = -1;
  int peer = -1;
};
bool operator==(const Instruction& a, const Instruction& b);

enum class ScheduleKind { one_f_one_b, dualpipe, dualpipev };

using Schedule = std::vector<std::vector<Instruction>>;  // [rank][position]

// Builds the per-rank instruction lists. Throws ConfigError for invalid parameters:
//   one_f_one_b: ranks >= 1, micro_batches >= 1; stage r on rank r (S = ranks); warm-up ranks - rank - 1
//     forwards, steady 1F1B, cool-down; each W right after its B (after the gradient is sent).
//   dualpipe: ranks even and >= 2, micro_batches even and >= 2 * ranks; S = ranks stages, rank r holds
//     stages r and ranks-1-r. Micro-batches 0..M/2-1 enter at rank 0 (stage s on rank s), M/2..M-1 enter at
//     rank ranks-1 (stage s on rank ranks-1-s). The two copies of a stage (on ranks s and ranks-1-s) need
//     their gradients summed before OptimizerStep; that reduction is the executor's job, not an instruction.
//   dualpipev: ranks >= 1, micro_batches >= 2 * ranks; S = 2 * ranks stages in a V, stage s on rank s for
//     s < ranks and on rank 2*ranks-1-s otherwise; input and loss on rank 0.
// DualPipe(V) follow the eight phases of the DualPipe repository (nF0, nF0F1, nB1W1F1, nF0B1F1B0,
// nB1F1B0, nB1B0, nWB0, nW) in compute order; an overlapped F&B pair is emitted as F then B (then W when
// the phase does not defer it), receives right before the compute that needs them, sends right after.
Schedule build_schedule(ScheduleKind kind, int ranks, int micro_batches);

// For one rank's list: per stage, the most micro-batches between their F and their W (the activation slots the
// stage needs).
std::map<int, int> peak_in_flight(const std::vector<Instruction>& list);

// Number of stages of a schedule kind on `ranks` ranks (ranks for 1F1B and DualPipe, 2 * ranks for DualPipeV).
int stage_count(ScheduleKind kind, int ranks);
// The rank that runs stage `stage` for micro-batch `mb`.
int rank_of_stage(ScheduleKind kind, int ranks, int micro_batches, int mb, int stage);

// "1f1b", "dualpipe", "dualpipev" (also the spelling of parallel.schedule in configs).
std::string to_string(ScheduleKind kind);
// E.g. "F(mb 3, stage 1)", "SendAct(mb 3, stage 1, peer 2)", "OptimizerStep".
std::string to_string(const Instruction& instr);
const char* op_name(Op op);

}  // namespace mhc::dist

// Builders of the per-rank instruction lists for 1F1B, DualPipe and DualPipeV.
#include "dist/schedule.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <sstream>

#include "core/error.hpp"

namespace mhc::dist {

bool operator==(const Instruction& a, const Instruction& b) {
  return a.op == b.op && a.mb == b.mb && a.stage == b.stage && a.peer == b.peer;
}

int stage_count(ScheduleKind kind, int ranks) { return kind == ScheduleKind::dualpipev ? 2 * ranks : ranks; }

std::map<int, int> peak_in_flight(const std::vector<Instruction>& list) {
  std::map<int, int> live, peak;
  for (const auto& in : list) {
    if (in.op == Op::F) peak[in.stage] = std::max(peak[in.stage], ++live[in.stage]);
    if (in.op == Op::W) --live[in.stage];
  }
  return peak;
}

int rank_of_stage(ScheduleKind kind, int ranks, int micro_batches, int mb, int stage) {
  switch (kind) {
    case ScheduleKind::one_f_one_b:
      return stage;
    case ScheduleKind::dualpipe:
      return mb < micro_batches / 2 ? stage : ranks - 1 - stage;
    case ScheduleKind::dualpipev:
      return stage < ranks ? stage : 2 * ranks - 1 - stage;
  }
  return -1;
}

namespace {

void validate(ScheduleKind kind, int ranks, int micro_batches) {
  const std::string name = to_string(kind);
  MHC_CHECK(ranks >= 1, ConfigError, name, " schedule needs ranks >= 1, got ranks = ", ranks);
  MHC_CHECK(micro_batches >= 1, ConfigError, name, " schedule needs micro_batches >= 1, got ", micro_batches);
  if (kind == ScheduleKind::dualpipe) {
    MHC_CHECK(ranks % 2 == 0, ConfigError, "dualpipe needs an even number of pipeline ranks, got ranks = ", ranks);
    MHC_CHECK(micro_batches % 2 == 0 && micro_batches >= 2 * ranks, ConfigError,
              "dualpipe needs micro_batches even and >= 2 * ranks = ", 2 * ranks, ", got micro_batches = ",
              micro_batches, " with ranks = ", ranks);
  }
  if (kind == ScheduleKind::dualpipev) {
    MHC_CHECK(micro_batches >= 2 * ranks, ConfigError, "dualpipev needs micro_batches >= 2 * ranks = ", 2 * ranks,
              ", got micro_batches = ", micro_batches, " with ranks = ", ranks);
  }
}

// Emits one rank's list: compute instructions with the receives and sends their stage boundaries need.
class RankEmitter {
 public:
  RankEmitter(ScheduleKind kind, int ranks, int micro_batches, int rank)
      : kind_(kind), ranks_(ranks), micro_batches_(micro_batches), rank_(rank),
        stages_(stage_count(kind, ranks)) {}

  void forward(int mb, int stage) {
    if (stage > 0 && rank_for(mb, stage - 1) != rank_) emit(Op::RecvAct, mb, stage, rank_for(mb, stage - 1));
    emit(Op::F, mb, stage, -1);
    if (stage + 1 < stages_ && rank_for(mb, stage + 1) != rank_) emit(Op::SendAct, mb, stage, rank_for(mb, stage + 1));
  }
  // B then, unless deferred, W; deferred W's wait in a FIFO for weight().
  void backward(int mb, int stage, bool defer_weight) {
    if (stage + 1 < stages_ && rank_for(mb, stage + 1) != rank_) emit(Op::RecvGrad, mb, stage, rank_for(mb, stage + 1));
    emit(Op::B, mb, stage, -1);
    if (stage > 0 && rank_for(mb, stage - 1) != rank_) emit(Op::SendGrad, mb, stage, rank_for(mb, stage - 1));
    if (defer_weight) {
      deferred_.push_back(Instruction{Op::W, mb, stage, -1});
    } else {
      emit(Op::W, mb, stage, -1);
    }
  }
  void weight() {
    MHC_CHECK(!deferred_.empty(), Error, "rank ", rank_, ": W requested with no deferred weight gradient");
    list_.push_back(deferred_.front());
    deferred_.pop_front();
  }
  std::vector<Instruction> finish() {
    MHC_CHECK(deferred_.empty(), Error, "rank ", rank_, ": ", deferred_.size(), " deferred W left at the end");
    emit(Op::OptimizerStep, -1, -1, -1);
    return std::move(list_);
  }

 private:
  int rank_for(int mb, int stage) const { return rank_of_stage(kind_, ranks_, micro_batches_, mb, stage); }
  void emit(Op op, int mb, int stage, int peer) { list_.push_back(Instruction{op, mb, stage, peer}); }

  ScheduleKind kind_;
  int ranks_, micro_batches_, rank_, stages_;
  std::vector<Instruction> list_;
  std::deque<Instruction> deferred_;
};

std::vector<Instruction> one_f_one_b_rank(int ranks, int micro_batches, int rank) {
  RankEmitter out(ScheduleKind::one_f_one_b, ranks, micro_batches, rank);
  const int warmup = std::min(ranks - rank - 1, micro_batches);
  for (int mb = 0; mb < warmup; ++mb) out.forward(mb, rank);
  for (int i = 0; i + warmup < micro_batches; ++i) {
    out.forward(i + warmup, rank);
    out.backward(i, rank, false);
  }
  for (int mb = micro_batches - warmup; mb < micro_batches; ++mb) out.backward(mb, rank, false);
  return out.finish();
}

// The eight DualPipe phases for one rank. Chunk 0 is the stage this rank meets first on the way down
// (index `half_rank` along its direction), chunk 1 the stage it meets on the way back; `stage[c]` and the
// micro-batch numbering `first_mb[c] + counter` tell the two schedules apart. `half_ranks` is P/2 for
// DualPipe and P for DualPipeV, `per_chunk` the number of micro-batches through each chunk.
std::vector<Instruction> dualpipe_rank(ScheduleKind kind, int ranks, int micro_batches, int rank) {
  RankEmitter out(kind, ranks, micro_batches, rank);
  const bool v = kind == ScheduleKind::dualpipev;
  const int half_ranks = v ? ranks : ranks / 2;
  const int half_rank = v ? rank : std::min(rank, ranks - 1 - rank);
  const int per_chunk = v ? micro_batches : micro_batches / 2;
  std::array<int, 2> stage{}, first_mb{};
  if (v) {
    stage = {rank, 2 * ranks - 1 - rank};
    first_mb = {0, 0};
  } else {
    // Chunk 0 carries the direction entering at this rank's end of the pipe.
    const bool second_half = rank >= ranks / 2;
    const std::array<int, 2> direction_mb0 = {0, per_chunk};
    const std::array<int, 2> direction_stage = {rank, ranks - 1 - rank};
    for (int c = 0; c < 2; ++c) {
      const int direction = c ^ (second_half ? 1 : 0);
      stage[c] = direction_stage[direction];
      first_mb[c] = direction_mb0[direction];
    }
  }
  std::array<int, 2> f_count{0, 0}, b_count{0, 0};
  auto forward = [&](int c) { out.forward(first_mb[c] + f_count[c]++, stage[c]); };
  auto backward = [&](int c, bool defer) { out.backward(first_mb[c] + b_count[c]++, stage[c], defer); };

  const int outer = half_ranks - half_rank - 1;  // ranks further from the middle than this one
  const int inner = half_rank + 1;
  for (int i = 0; i < 2 * outer; ++i) forward(0);  // 1: nF0
  for (int i = 0; i < inner; ++i) {                // 2: nF0F1
    forward(0);
    forward(1);
  }
  for (int i = 0; i < outer; ++i) {  // 3: nB1W1F1 (zero bubble)
    backward(1, true);
    out.weight();
    forward(1);
  }
  const int main_steps = per_chunk - 2 * half_ranks + half_rank + 1;
  for (int i = 0; i < main_steps; ++i) {  // 4: nF0B1F1B0, forward of one chunk paired with backward of the other
    forward(0);
    backward(1, false);
    forward(1);
    backward(0, false);
  }
  for (int i = 0; i < outer; ++i) {  // 5: nB1F1B0
    backward(1, false);
    forward(1);
    backward(0, false);
  }
  bool defer = false;  // 6: nB1B0, the second half defers W
  for (int i = 0; i < inner; ++i) {
    if (i == inner / 2 && half_rank % 2 == 1) defer = true;
    backward(1, defer);
    if (i == inner / 2 && half_rank % 2 == 0) defer = true;
    backward(0, defer);
  }
  for (int i = 0; i < outer; ++i) {  // 7: nWB0
    out.weight();
    backward(0, true);
  }
  for (int i = 0; i < inner; ++i) out.weight();  // 8: nW
  return out.finish();
}

}  // namespace

Schedule build_schedule(ScheduleKind kind, int ranks, int micro_batches) {
  validate(kind, ranks, micro_batches);
  Schedule schedule;
  for (int rank = 0; rank < ranks; ++rank) {
    schedule.push_back(kind == ScheduleKind::one_f_one_b ? one_f_one_b_rank(ranks, micro_batches, rank)
                                                         : dualpipe_rank(kind, ranks, micro_batches, rank));
  }
  return schedule;
}

std::string to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::one_f_one_b:
      return "1f1b";
    case ScheduleKind::dualpipe:
      return "dualpipe";
    case ScheduleKind::dualpipev:
      return "dualpipev";
  }
  return "?";
}

const char* op_name(Op op) {
  switch (op) {
    case Op::F:
      return "F";
    case Op::B:
      return "B";
    case Op::W:
      return "W";
    case Op::SendAct:
      return "SendAct";
    case Op::RecvAct:
      return "RecvAct";
    case Op::SendGrad:
      return "SendGrad";
    case Op::RecvGrad:
      return "RecvGrad";
    case Op::OptimizerStep:
      return "OptimizerStep";
  }
  return "?";
}

std::string to_string(const Instruction& instr) {
  std::ostringstream os;
  os << op_name(instr.op);
  if (instr.op == Op::OptimizerStep) return os.str();
  os << "(mb " << instr.mb << ", stage " << instr.stage;
  if (instr.peer >= 0) os << ", peer " << instr.peer;
  os << ")";
  return os.str();
}

}  // namespace mhc::dist

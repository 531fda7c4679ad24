// Simulator of per-rank pipeline instruction lists with blocking receives, dependency and deadlock checks.
#include "dist/simulator.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

namespace mhc::dist {

namespace {

// A message: (is_grad, mb, sending stage, source rank, destination rank).
using MessageKey = std::tuple<bool, int, int, int, int>;
// Work done on a rank: (op, mb, stage).
using WorkKey = std::tuple<Op, int, int>;

bool is_compute(Op op) { return op == Op::F || op == Op::B || op == Op::W; }

std::string where(int rank, std::size_t pos, const Instruction& instr) {
  std::ostringstream os;
  os << "rank " << rank << ", instruction " << pos << " " << to_string(instr);
  return os.str();
}

class Simulator {
 public:
  Simulator(const Schedule& schedule, const Costs& costs)
      : schedule_(schedule), costs_(costs), ranks_(static_cast<int>(schedule.size())), pc_(schedule.size(), 0),
        clock_(schedule.size(), 0.0), done_(schedule.size()), stepped_(schedule.size(), false) {
    MHC_CHECK(ranks_ >= 1, ScheduleError, "empty schedule (no ranks)");
    for (int r = 0; r < ranks_; ++r) {
      for (const Instruction& in : schedule[r]) {
        if (in.op == Op::F) stages_ = std::max(stages_, in.stage + 1);
        if (in.op == Op::SendAct || in.op == Op::SendGrad) planned_sends_.insert(send_key(r, in));
      }
    }
    result_.timelines.resize(ranks_);
  }

  SimResult run() {
    for (;;) {
      bool progressed = false, finished = true;
      for (int r = 0; r < ranks_; ++r) {
        while (pc_[r] < schedule_[r].size() && step(r)) progressed = true;
        if (pc_[r] < schedule_[r].size()) finished = false;
      }
      if (finished) break;
      if (!progressed) report_stuck();
    }
    MHC_CHECK(sent_.empty(), ScheduleError, "send never received: ", describe_message(sent_.begin()->first));
    summarize();
    return std::move(result_);
  }

 private:
  MessageKey send_key(int rank, const Instruction& in) const {
    return {in.op == Op::SendGrad, in.mb, in.stage, rank, in.peer};
  }
  // The send a receive waits for: activations come from stage - 1, gradients from stage + 1.
  MessageKey recv_key(int rank, const Instruction& in) const {
    const bool grad = in.op == Op::RecvGrad;
    return {grad, in.mb, grad ? in.stage + 1 : in.stage - 1, in.peer, rank};
  }
  static std::string describe_message(const MessageKey& k) {
    std::ostringstream os;
    os << (std::get<0>(k) ? "gradient" : "activation") << " of mb " << std::get<1>(k) << " from stage "
       << std::get<2>(k) << " on rank " << std::get<3>(k) << " to rank " << std::get<4>(k);
    return os.str();
  }
  bool has(int rank, Op op, int mb, int stage) const { return done_[rank].count(WorkKey{op, mb, stage}) > 0; }
  void require(bool ok, int rank, const Instruction& in, const std::string& what) const {
    MHC_CHECK(ok, ScheduleError, where(rank, pc_[rank], in), ": ", what);
  }

  // Executes the next instruction of `rank` if it can run now; false when it waits on a receive.
  bool step(int rank) {
    const Instruction& in = schedule_[rank][pc_[rank]];
    const double now = clock_[rank];
    double end = now;
    if (in.op != Op::OptimizerStep) {
      require(in.mb >= 0 && in.stage >= 0 && in.stage < stages_, rank, in,
              "micro-batch or stage out of range (stages = " + std::to_string(stages_) + ")");
      require(!stepped_[rank], rank, in, "after OptimizerStep");
    }
    switch (in.op) {
      case Op::F:
        require(in.stage == 0 || has(rank, Op::F, in.mb, in.stage - 1) || has(rank, Op::RecvAct, in.mb, in.stage),
                rank, in, "its input activation was neither received nor produced on this rank");
        end = now + costs_.F;
        break;
      case Op::B:
        require(has(rank, Op::F, in.mb, in.stage), rank, in, "B before its F on this rank");
        require(in.stage == stages_ - 1 || has(rank, Op::B, in.mb, in.stage + 1) ||
                    has(rank, Op::RecvGrad, in.mb, in.stage),
                rank, in, "its output gradient was neither received nor produced on this rank");
        end = now + costs_.B;
        break;
      case Op::W:
        require(has(rank, Op::B, in.mb, in.stage), rank, in, "W before its B on this rank");
        end = now + costs_.W;
        break;
      case Op::SendAct:
      case Op::SendGrad: {
        const Op source = in.op == Op::SendAct ? Op::F : Op::B;
        require(has(rank, source, in.mb, in.stage), rank, in, std::string("send before its ") + op_name(source));
        require(in.peer >= 0 && in.peer < ranks_ && in.peer != rank, rank, in, "peer out of range or self");
        const bool fresh = sent_.emplace(send_key(rank, in), now).second;
        require(fresh, rank, in, "the same message is sent twice");
        break;
      }
      case Op::RecvAct:
      case Op::RecvGrad: {
        const MessageKey key = recv_key(rank, in);
        require(planned_sends_.count(key) > 0, rank, in, "no matching send (expects " + describe_message(key) + ")");
        const auto it = sent_.find(key);
        if (it == sent_.end()) return false;  // blocked until the sender issues it
        end = std::max(now, it->second + costs_.comm);
        sent_.erase(it);
        break;
      }
      case Op::OptimizerStep:
        stepped_[rank] = true;
        break;
    }
    if (in.op != Op::OptimizerStep) {
      const bool fresh = done_[rank].insert(WorkKey{in.op, in.mb, in.stage}).second;
      require(fresh, rank, in, "the same instruction twice on this rank");
      if (is_compute(in.op)) {
        const bool first = computed_.insert(WorkKey{in.op, in.mb, in.stage}).second;
        require(first, rank, in, "this compute already ran on another rank");
      }
    }
    result_.timelines[rank].push_back(TimedInstruction{in, now, end});
    clock_[rank] = end;
    ++pc_[rank];
    return true;
  }

  [[noreturn]] void report_stuck() const {
    std::ostringstream os;
    os << "deadlock: no rank can progress;";
    for (int r = 0; r < ranks_; ++r) {
      if (pc_[r] >= schedule_[r].size()) continue;
      const Instruction& in = schedule_[r][pc_[r]];
      os << " rank " << r << " waits at instruction " << pc_[r] << " " << to_string(in) << " for the "
         << describe_message(recv_key(r, in)) << ";";
    }
    throw ScheduleError(os.str());
  }

  void summarize() {
    double makespan = 0.0;
    for (int r = 0; r < ranks_; ++r) makespan = std::max(makespan, clock_[r]);
    result_.makespan = makespan;
    for (int r = 0; r < ranks_; ++r) {
      double busy = 0.0;
      for (const TimedInstruction& t : result_.timelines[r]) {
        if (is_compute(t.instr.op)) busy += t.end - t.start;
      }
      const double bubble = makespan - busy;
      result_.bubble_per_rank.push_back(bubble);
      result_.bubble_total += bubble;
      result_.bubble_max = std::max(result_.bubble_max, bubble);
    }
    result_.bubble_mean = result_.bubble_total / ranks_;
    result_.text = render_timeline(result_, costs_);
  }

  const Schedule& schedule_;
  Costs costs_;
  int ranks_;
  int stages_ = 0;
  std::vector<std::size_t> pc_;
  std::vector<double> clock_;
  std::vector<std::set<WorkKey>> done_;  // per rank: compute and received messages (RecvAct/RecvGrad keys)
  std::set<WorkKey> computed_;           // all ranks: F, B, W already run somewhere
  std::vector<bool> stepped_;
  std::set<MessageKey> planned_sends_;
  std::map<MessageKey, double> sent_;  // issued and not yet received: issue time
  SimResult result_;
};

}  // namespace

SimResult simulate(const Schedule& schedule, const Costs& costs) {
  MHC_CHECK(costs.F >= 0 && costs.B >= 0 && costs.W >= 0 && costs.comm >= 0, ConfigError,
            "pipeline costs must be >= 0, got F = ", costs.F, ", B = ", costs.B, ", W = ", costs.W,
            ", comm = ", costs.comm);
  return Simulator(schedule, costs).run();
}

std::string render_timeline(const SimResult& result, const Costs& costs) {
  double cell = std::min({costs.F, costs.B, costs.W});
  if (!(cell > 0)) cell = 1.0;
  const auto to_cell = [cell](double t) { return static_cast<std::size_t>(std::llround(t / cell)); };
  const std::size_t cells = to_cell(result.makespan);
  int widest_mb = 0;
  for (const auto& line : result.timelines) {
    for (const TimedInstruction& t : line) widest_mb = std::max(widest_mb, t.instr.mb);
  }
  const std::size_t width = std::to_string(widest_mb).size() + 2;  // letter, number, one space
  std::ostringstream os;
  const std::size_t label_width = std::to_string(result.timelines.size() - 1).size();
  for (std::size_t r = 0; r < result.timelines.size(); ++r) {
    int lowest_stage = -1;
    for (const TimedInstruction& t : result.timelines[r]) {
      if (is_compute(t.instr.op) && (lowest_stage < 0 || t.instr.stage < lowest_stage)) lowest_stage = t.instr.stage;
    }
    std::vector<std::string> grid(cells, std::string("."));
    for (const TimedInstruction& t : result.timelines[r]) {
      if (!is_compute(t.instr.op)) continue;
      std::string letter = op_name(t.instr.op);
      if (t.instr.stage != lowest_stage) letter[0] = static_cast<char>(letter[0] - 'A' + 'a');
      const std::size_t first = to_cell(t.start), last = std::max(first + 1, to_cell(t.end));
      for (std::size_t c = first; c < last && c < cells; ++c) {
        grid[c] = c == first ? letter + std::to_string(t.instr.mb) : std::string("~");
      }
    }
    std::string rank_label = std::to_string(r);
    os << "rank " << std::string(label_width - rank_label.size(), ' ') << rank_label << " |";
    for (const std::string& g : grid) os << g << std::string(width - std::min(width, g.size()), ' ');
    os << "\n";
  }
  return os.str();
}

}  // namespace mhc::dist

// Tests of the pipeline schedule builders: validity for many sizes, one F/B/W per micro-batch and stage,
// placement of stages on ranks, and the ConfigError rules.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <tuple>

#include "dist/schedule.hpp"
#include "dist/simulator.hpp"

using namespace mhc;
using namespace mhc::dist;

namespace {

const ScheduleKind kAllKinds[] = {ScheduleKind::one_f_one_b, ScheduleKind::dualpipe, ScheduleKind::dualpipev};

// Micro-batch counts worth trying for a kind on `ranks` ranks: the smallest valid ones and a few larger.
std::vector<int> valid_micro_batches(ScheduleKind kind, int ranks) {
  if (kind == ScheduleKind::one_f_one_b) return {1, 2, ranks - 1, ranks, ranks + 1, 2 * ranks + 3, 4 * ranks};
  if (kind == ScheduleKind::dualpipe) return {2 * ranks, 2 * ranks + 2, 2 * ranks + 4, 3 * ranks, 4 * ranks};
  return {2 * ranks, 2 * ranks + 1, 2 * ranks + 2, 3 * ranks + 1, 4 * ranks};
}

}  // namespace

TEST_CASE("every schedule is deadlock-free and dependency-correct", "[dist]") {
  for (ScheduleKind kind : kAllKinds) {
    for (int ranks : {2, 4, 8}) {
      for (int mbs : valid_micro_batches(kind, ranks)) {
        INFO(to_string(kind) << " ranks " << ranks << " micro_batches " << mbs);
        const Schedule schedule = build_schedule(kind, ranks, mbs);
        REQUIRE(schedule.size() == static_cast<std::size_t>(ranks));
        SimResult result;
        REQUIRE_NOTHROW(result = simulate(schedule, Costs{}));
        REQUIRE_NOTHROW(simulate(schedule, Costs{2.0, 3.0, 1.0, 0.5}));
        CHECK(result.makespan > 0);
      }
    }
  }
}

TEST_CASE("each micro-batch gets exactly one F, B and W per stage, on the stage's rank", "[dist]") {
  for (ScheduleKind kind : kAllKinds) {
    for (int ranks : {2, 4, 8}) {
      for (int mbs : valid_micro_batches(kind, ranks)) {
        INFO(to_string(kind) << " ranks " << ranks << " micro_batches " << mbs);
        const int stages = stage_count(kind, ranks);
        const Schedule schedule = build_schedule(kind, ranks, mbs);
        std::map<std::tuple<Op, int, int>, int> count;
        for (int r = 0; r < ranks; ++r) {
          int optimizer_steps = 0;
          for (const Instruction& in : schedule[r]) {
            if (in.op == Op::OptimizerStep) ++optimizer_steps;
            if (in.op != Op::F && in.op != Op::B && in.op != Op::W) continue;
            ++count[{in.op, in.mb, in.stage}];
            CHECK(rank_of_stage(kind, ranks, mbs, in.mb, in.stage) == r);
          }
          CHECK(optimizer_steps == 1);
          CHECK(schedule[r].back().op == Op::OptimizerStep);
        }
        CHECK(count.size() == static_cast<std::size_t>(3 * mbs * stages));
        for (Op op : {Op::F, Op::B, Op::W}) {
          for (int mb = 0; mb < mbs; ++mb) {
            for (int s = 0; s < stages; ++s) CHECK(count[{op, mb, s}] == 1);
          }
        }
      }
    }
  }
}

TEST_CASE("stages sit where the schedules put them", "[dist]") {
  // 1F1B: stage r on rank r. DualPipe: rank r holds stages r and P-1-r, half the micro-batches per end.
  CHECK(stage_count(ScheduleKind::one_f_one_b, 4) == 4);
  CHECK(stage_count(ScheduleKind::dualpipe, 4) == 4);
  CHECK(stage_count(ScheduleKind::dualpipev, 4) == 8);
  CHECK(rank_of_stage(ScheduleKind::dualpipe, 4, 8, 3, 0) == 0);  // mb 3 < 4 enters at rank 0
  CHECK(rank_of_stage(ScheduleKind::dualpipe, 4, 8, 4, 0) == 3);  // mb 4 enters at rank 3
  CHECK(rank_of_stage(ScheduleKind::dualpipe, 4, 8, 4, 3) == 0);
  // DualPipeV: a V over 2P stages, input and loss on rank 0.
  CHECK(rank_of_stage(ScheduleKind::dualpipev, 4, 8, 0, 0) == 0);
  CHECK(rank_of_stage(ScheduleKind::dualpipev, 4, 8, 0, 3) == 3);
  CHECK(rank_of_stage(ScheduleKind::dualpipev, 4, 8, 0, 4) == 3);
  CHECK(rank_of_stage(ScheduleKind::dualpipev, 4, 8, 0, 7) == 0);

  // The 1F1B lists of 2 ranks and 3 micro-batches, instruction by instruction.
  const Schedule s = build_schedule(ScheduleKind::one_f_one_b, 2, 3);
  const std::vector<Instruction> rank0 = {
      {Op::F, 0, 0, -1},        {Op::SendAct, 0, 0, 1}, {Op::F, 1, 0, -1},       {Op::SendAct, 1, 0, 1},
      {Op::RecvGrad, 0, 0, 1},  {Op::B, 0, 0, -1},      {Op::W, 0, 0, -1},       {Op::F, 2, 0, -1},
      {Op::SendAct, 2, 0, 1},   {Op::RecvGrad, 1, 0, 1}, {Op::B, 1, 0, -1},      {Op::W, 1, 0, -1},
      {Op::RecvGrad, 2, 0, 1},  {Op::B, 2, 0, -1},      {Op::W, 2, 0, -1},       {Op::OptimizerStep, -1, -1, -1}};
  CHECK(s[0] == rank0);
  const std::vector<Instruction> rank1 = {
      {Op::RecvAct, 0, 1, 0}, {Op::F, 0, 1, -1}, {Op::B, 0, 1, -1}, {Op::SendGrad, 0, 1, 0}, {Op::W, 0, 1, -1},
      {Op::RecvAct, 1, 1, 0}, {Op::F, 1, 1, -1}, {Op::B, 1, 1, -1}, {Op::SendGrad, 1, 1, 0}, {Op::W, 1, 1, -1},
      {Op::RecvAct, 2, 1, 0}, {Op::F, 2, 1, -1}, {Op::B, 2, 1, -1}, {Op::SendGrad, 2, 1, 0}, {Op::W, 2, 1, -1},
      {Op::OptimizerStep, -1, -1, -1}};
  CHECK(s[1] == rank1);
}

TEST_CASE("DualPipeV hands over between its two stages on the last rank without a message", "[dist]") {
  const Schedule s = build_schedule(ScheduleKind::dualpipev, 4, 8);
  for (const Instruction& in : s[3]) {
    const bool message = in.op == Op::SendAct || in.op == Op::RecvAct || in.op == Op::SendGrad || in.op == Op::RecvGrad;
    if (message) CHECK(in.peer == 2);
  }
  for (const Instruction& in : s[0]) {  // input at stage 0 and loss at stage 7 need no message
    if (in.op == Op::RecvAct) CHECK(in.stage == 7);
    if (in.op == Op::RecvGrad) CHECK(in.stage == 0);
  }
}

TEST_CASE("invalid schedule parameters throw ConfigError naming the rule", "[dist]") {
  const auto message_of = [](ScheduleKind kind, int ranks, int mbs) {
    try {
      build_schedule(kind, ranks, mbs);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no throw");
  };
  using Catch::Matchers::Contains;
  CHECK_THAT(message_of(ScheduleKind::one_f_one_b, 0, 4), Contains("ranks >= 1") && Contains("0"));
  CHECK_THAT(message_of(ScheduleKind::one_f_one_b, 4, 0), Contains("micro_batches >= 1"));
  CHECK_THAT(message_of(ScheduleKind::dualpipe, 3, 12), Contains("even") && Contains("ranks = 3"));
  CHECK_THAT(message_of(ScheduleKind::dualpipe, 4, 6), Contains(">= 2 * ranks = 8") && Contains("micro_batches = 6"));
  CHECK_THAT(message_of(ScheduleKind::dualpipe, 4, 9), Contains("even") && Contains("micro_batches = 9"));
  CHECK_THAT(message_of(ScheduleKind::dualpipev, 4, 7), Contains(">= 2 * ranks = 8") && Contains("micro_batches = 7"));
  CHECK_THAT(message_of(ScheduleKind::dualpipev, -1, 7), Contains("ranks >= 1"));
  CHECK_NOTHROW(build_schedule(ScheduleKind::dualpipev, 3, 6));  // DualPipeV takes odd rank counts
  CHECK_NOTHROW(build_schedule(ScheduleKind::one_f_one_b, 8, 1));

  CHECK(to_string(ScheduleKind::one_f_one_b) == "1f1b");
  CHECK(to_string(ScheduleKind::dualpipev) == "dualpipev");
  CHECK(to_string(Instruction{Op::SendAct, 3, 1, 2}) == "SendAct(mb 3, stage 1, peer 2)");
  CHECK(to_string(Instruction{Op::F, 3, 1, -1}) == "F(mb 3, stage 1)");
}

// Tests of the pipeline simulator: bubbles against spec section 6's table, timing of messages,
// deadlock and dependency errors, and the text timeline.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "dist/schedule.hpp"
#include "dist/simulator.hpp"

using namespace mhc;
using namespace mhc::dist;
using Catch::Matchers::Contains;

namespace {

std::string error_of(const Schedule& schedule) {
  try {
    simulate(schedule, Costs{});
  } catch (const ScheduleError& e) {
    return e.what();
  }
  return "no throw";
}

void check_every_rank_bubble(const SimResult& result, double expected) {
  for (double bubble : result.bubble_per_rank) CHECK(bubble == Approx(expected));
  CHECK(result.bubble_max == Approx(expected));
  CHECK(result.bubble_mean == Approx(expected));
  CHECK(result.bubble_total == Approx(expected * static_cast<double>(result.bubble_per_rank.size())));
}

}  // namespace

// Bubble here = per rank, makespan minus that rank's F + B + W time. With comm = 0 every rank of these
// schedules has the same bubble, so per-rank, mean and max agree.
TEST_CASE("1F1B bubble is (PP-1)(F+B) per rank, W right after B off the critical path", "[dist]") {
  // The table's B is our B (input gradient): each rank sends its gradient before running W, so only F and B
  // lie on the pipeline's fill and drain path. Holds for any F, B, W with comm = 0.
  for (const Costs& costs : {Costs{1, 1, 1, 0}, Costs{2, 3, 1, 0}, Costs{1, 2, 0.5, 0}}) {
    for (int pp : {2, 4, 8}) {
      for (int mbs : {1, pp, 2 * pp + 1, 4 * pp}) {
        INFO("pp " << pp << " micro_batches " << mbs << " F " << costs.F << " B " << costs.B << " W " << costs.W);
        const SimResult r = simulate(build_schedule(ScheduleKind::one_f_one_b, pp, mbs), costs);
        check_every_rank_bubble(r, (pp - 1) * (costs.F + costs.B));
      }
    }
  }
}

TEST_CASE("1F1B with the gradient sent only after W has bubble (PP-1)(F+B+W)", "[dist]") {
  // The simulator's own check: moving each SendGrad behind its W puts W on the drain path, which is
  // the table's 1F1B row with B read as the full backward B+W.
  const int pp = 4, mbs = 8;
  Schedule s = build_schedule(ScheduleKind::one_f_one_b, pp, mbs);
  for (auto& list : s) {
    for (std::size_t i = 0; i + 1 < list.size(); ++i) {
      if (list[i].op == Op::SendGrad && list[i + 1].op == Op::W) std::swap(list[i], list[i + 1]);
    }
  }
  const Costs costs{1, 2, 1, 0};
  check_every_rank_bubble(simulate(s, costs), (pp - 1) * (costs.F + costs.B + costs.W));
}

TEST_CASE("DualPipe and DualPipeV bubbles match (PP/2-1)(F&B+B-3W) when F = B = W", "[dist]") {
  // Reading the table with our instructions: an F&B pair of the main phase runs as F, B, W (its W is not
  // deferred), so F&B = F + B + W, and B is the input-gradient B as in the 1F1B row. For DualPipeV, PP
  // counts stages (2 * ranks), so PP/2 - 1 = ranks - 1. The equality holds exactly for F = B = W (any
  // scale) and every valid micro-batch count; for other ratios our fine-grained sends (each right after
  // its compute, not batched per F&B pair as in the reference) give a bubble at or below the table's.
  const auto table = [](int pp_over_2, const Costs& c) { return (pp_over_2 - 1) * (c.F + c.B + c.W + c.B - 3 * c.W); };
  for (double unit : {1.0, 2.0}) {
    const Costs costs{unit, unit, unit, 0};
    for (int ranks : {2, 4, 8}) {
      for (int mbs : {2 * ranks, 2 * ranks + 2, 4 * ranks}) {
        INFO("ranks " << ranks << " micro_batches " << mbs << " unit " << unit);
        check_every_rank_bubble(simulate(build_schedule(ScheduleKind::dualpipe, ranks, mbs), costs),
                                table(ranks / 2, costs));
        check_every_rank_bubble(simulate(build_schedule(ScheduleKind::dualpipev, ranks, mbs + 1), costs),
                                table(ranks, costs));
      }
    }
  }
  for (const Costs& costs : {Costs{2, 3, 1, 0}, Costs{1, 2, 1, 0}, Costs{3, 2, 1, 0}, Costs{1, 1, 0.5, 0}}) {
    for (int ranks : {2, 4, 8}) {
      INFO("ranks " << ranks << " F " << costs.F << " B " << costs.B << " W " << costs.W);
      CHECK(simulate(build_schedule(ScheduleKind::dualpipe, ranks, 2 * ranks), costs).bubble_max <=
            table(ranks / 2, costs) + 1e-12);
      CHECK(simulate(build_schedule(ScheduleKind::dualpipev, ranks, 2 * ranks), costs).bubble_max <=
            table(ranks, costs) + 1e-12);
    }
  }
}

TEST_CASE("a receive completes at the send time plus comm, and waits block the rank", "[dist]") {
  const Schedule s = build_schedule(ScheduleKind::one_f_one_b, 2, 1);
  const SimResult r = simulate(s, Costs{1, 2, 4, 0.5});
  // rank 0: F [0,1], SendAct at 1; rank 1: RecvAct [0,1.5], F [1.5,2.5], B [2.5,4.5], SendGrad 4.5, W [4.5,8.5].
  const auto& rank1 = r.timelines[1];
  REQUIRE(rank1.size() == 6);
  CHECK(rank1[0].instr.op == Op::RecvAct);
  CHECK(rank1[0].end == Approx(1.5));
  CHECK(rank1[1].start == Approx(1.5));
  CHECK(rank1[4].end == Approx(8.5));
  // rank 0: RecvGrad completes at 5, B [5,7], W [7,11].
  const auto& rank0 = r.timelines[0];
  CHECK(rank0[2].instr.op == Op::RecvGrad);
  CHECK(rank0[2].end == Approx(5.0));
  CHECK(rank0.back().end == Approx(11.0));
  CHECK(r.makespan == Approx(11.0));
  CHECK(r.bubble_per_rank[0] == Approx(11.0 - 7.0));
  CHECK(r.bubble_per_rank[1] == Approx(11.0 - 7.0));
}

TEST_CASE("the simulator reports deadlocks and dependency errors", "[dist]") {
  // Two ranks that each wait for the other's activation first.
  const Schedule deadlock = {{{Op::RecvGrad, 0, 0, 1}, {Op::F, 0, 0, -1}, {Op::SendAct, 0, 0, 1}},
                             {{Op::RecvAct, 0, 1, 0}, {Op::F, 0, 1, -1}, {Op::B, 0, 1, -1}, {Op::SendGrad, 0, 1, 0}}};
  const std::string d = error_of(deadlock);
  CHECK_THAT(d, Contains("deadlock") && Contains("rank 0 waits") && Contains("rank 1 waits") &&
                    Contains("RecvAct(mb 0, stage 1, peer 0)"));

  CHECK_THAT(error_of({{{Op::B, 0, 0, -1}, {Op::F, 0, 0, -1}}}), Contains("B before its F") && Contains("rank 0"));
  CHECK_THAT(error_of({{{Op::F, 0, 0, -1}, {Op::W, 0, 0, -1}}}), Contains("W before its B"));
  CHECK_THAT(error_of({{{Op::F, 0, 0, -1}, {Op::F, 0, 0, -1}}}), Contains("twice"));
  CHECK_THAT(error_of({{{Op::F, 0, 0, -1}, {Op::OptimizerStep}, {Op::B, 0, 0, -1}}}), Contains("after OptimizerStep"));
  CHECK_THAT(error_of({{{Op::F, 0, 0, -1}}, {{Op::RecvAct, 1, 1, 0}, {Op::F, 1, 1, -1}}}),
             Contains("no matching send") && Contains("rank 1"));
  CHECK_THAT(error_of({{{Op::F, 0, 0, -1}, {Op::SendAct, 0, 0, 1}}, {{Op::F, 0, 1, -1}}}),
             Contains("neither received nor produced"));
  CHECK_THAT(error_of({{{Op::F, 0, 0, -1}, {Op::SendAct, 0, 0, 1}}, {}}), Contains("send never received"));
  CHECK_THAT(error_of({{{Op::SendAct, 0, 0, 1}, {Op::F, 0, 0, -1}}, {{Op::RecvAct, 0, 1, 0}, {Op::F, 0, 1, -1}}}),
             Contains("send before its F"));
  // B of a non-last stage needs its output gradient.
  CHECK_THAT(error_of({{{Op::F, 0, 0, -1}, {Op::F, 0, 1, -1}, {Op::B, 0, 0, -1}}}),
             Contains("output gradient was neither received nor produced"));
  CHECK_THROWS_AS(simulate(build_schedule(ScheduleKind::one_f_one_b, 2, 2), Costs{1, -1, 1, 0}), ConfigError);
}

TEST_CASE("the text timeline shows one line per rank with letters and micro-batches", "[dist]") {
  const SimResult r = simulate(build_schedule(ScheduleKind::one_f_one_b, 2, 2), Costs{});
  // Unit costs: rank 0 waits for each gradient, rank 1 for the activation of micro-batch 1.
  CHECK(r.text ==
        "rank 0 |F0 F1 .  B0 W0 .  B1 W1 \n"
        "rank 1 |.  F0 B0 W0 F1 B1 W1 .  \n");
  CHECK(r.makespan == Approx(8.0));
  // DualPipe draws the second chunk in lower case; durations of two cells continue with '~'.
  const SimResult d = simulate(build_schedule(ScheduleKind::dualpipe, 2, 4), Costs{1, 2, 1, 0});
  CHECK_THAT(d.text, Contains("rank 0 |F0") && Contains("rank 1 |F2") && Contains("b") && Contains("~"));
  CHECK(std::count(d.text.begin(), d.text.end(), '\n') == 2);
}

// Pipeline and data parallelism under mpirun (2 or 4 ranks): every schedule x connection type against the
// single-process run - one step's loss and gradients, parameters after 5 steps, dp against a larger single batch,
// pp x dp, and resuming a checkpoint in another layout.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "data/dataset.hpp"
#include "dist/communicator.hpp"
#include "support/temp_dir.hpp"
#include "train/memory_plan.hpp"
#include "train/optimizer.hpp"
#include "train/pipeline.hpp"
#include "train/trainer.hpp"

using namespace mhc;
namespace fs = std::filesystem;

namespace {

constexpr double kParamsTol = 1e-3;

dist::Communicator& world() { return dist::world(); }

// A model small enough for 4 ranks on 2 cores, with as many blocks as the most stages any layout here needs.
config::Config small(model::ConnectionType type, dist::ScheduleKind schedule, std::int64_t pp, std::int64_t dp,
                     std::int64_t micro_batches) {
  config::Config c = config::default_config();
  c.model.vocab_size = 256;  // the synthetic task needs >= 240
  c.model.d_model = 32;
  c.model.n_blocks = 8;
  c.model.n_heads = 2;
  c.model.ffn_hidden = 64;
  c.model.seq_len = 16;
  c.residual.type = type;
  c.residual.n_streams = type->default_streams();
  c.parallel.pp = pp;
  c.parallel.dp = dp;
  c.parallel.schedule = schedule;
  c.train.micro_batch = 2;
  c.train.micro_batches = micro_batches;
  c.train.steps = 5;
  c.train.lr = 1e-2;
  c.train.min_lr = 1e-3;
  c.train.warmup = 2;
  c.train.eval_every = 5;
  c.train.eval_batches = 1;
  c.train.log_every = 1;
  c.train.diag_every = 5;
  return c;
}

// The same model and global batch on one process.
config::Config single(config::Config c) {
  c.train.micro_batches *= c.parallel.dp;
  c.parallel.pp = c.parallel.dp = 1;
  c.parallel.schedule = dist::ScheduleKind::one_f_one_b;
  c.parallel.layout.clear();
  return c;
}

std::vector<dist::ScheduleKind> schedules_for(int ranks) {
  std::vector<dist::ScheduleKind> s{dist::ScheduleKind::one_f_one_b, dist::ScheduleKind::dualpipev};
  if (ranks % 2 == 0) s.push_back(dist::ScheduleKind::dualpipe);
  return s;
}

// max |a - b| / max |b| over a tensor (0 when both are zero).
double rel_diff(Tensor a, Tensor b) {
  double diff = 0, scale = 0;
  for (std::int64_t k = 0; k < b.numel(); ++k) {
    diff = std::max(diff, std::fabs(static_cast<double>(a.ptr<float>()[k]) - b.ptr<float>()[k]));
    scale = std::max(scale, std::fabs(static_cast<double>(b.ptr<float>()[k])));
  }
  return scale > 0 ? diff / scale : diff;
}

bool bitwise_equal(Tensor a, Tensor b) { return std::memcmp(a.data, b.data, static_cast<std::size_t>(a.bytes())) == 0; }

// A run directory every rank agrees on (rank 0 creates it and owns its removal).
class SharedDir {
 public:
  explicit SharedDir(const std::string& tag) {
    char path[512] = {};
    if (world().rank() == 0) {
      owned_ = std::make_unique<test::TempDir>(tag);
      std::snprintf(path, sizeof path, "%s", owned_->str().c_str());
    }
    world().broadcast(path, sizeof path, 0);
    path_ = path;
  }
  ~SharedDir() { world().barrier(); }
  const std::string& str() const { return path_; }

 private:
  std::unique_ptr<test::TempDir> owned_;
  std::string path_;
};

std::vector<double> losses(const std::string& run_dir) {
  std::vector<double> out;
  std::ifstream f(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(f, line)) out.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  return out;
}

train::TrainOptions quiet(const std::string& dir, dist::Communicator* comm, bool resume = false) {
  train::TrainOptions o;
  o.run_dir = dir;
  o.console = false;
  o.world = comm;
  o.resume = resume;
  return o;
}

// Every parameter this rank holds in `got` is within rel_tol of the single-process store, as max |difference| over
// max |value| of each tensor. After several AdamW steps the parameters are compared at kParamsTol = 1e-3: Adam
// divides by sqrt(v), so for an element whose gradient is near zero a round-off difference in the gradient (sums
// in another order: DualPipe's copies, data-parallel replicas, the norm) changes the update by up to lr = 1e-2.
// A wrong gradient shows up at 1e-5 in the one-step test and in the loss curves (1e-5).
void check_params(model::ParameterStore& got, model::ParameterStore& ref, double rel_tol, const std::string& what) {
  for (const auto& s : got.specs()) {
    INFO(what << " rank " << world().rank() << " parameter " << s.name);
    CHECK(rel_diff(got.param(s.name), ref.param(s.name)) <= rel_tol);
  }
}

void check_curves(const std::vector<double>& got, const std::vector<double>& ref, double rel_tol) {
  REQUIRE(got.size() == ref.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    INFO("step " << k + 1 << ": " << got[k] << " vs " << ref[k]);
    CHECK(std::fabs(got[k] - ref[k]) <= rel_tol * std::fabs(ref[k]));
  }
}

}  // namespace

// One step's loss and every parameter gradient against Model::forward_backward over the same micro-batches (no
// recompute). 1F1B without tied embeddings sums every gradient in the single-process order: bitwise, with
// recompute on too (recompute blocks end at stage boundaries and rebuild bitwise). Elsewhere a gradient
// is a sum of partial sums (DualPipe's two copies, an embedding tied across stages): relative 1e-5.
TEST_CASE("every schedule x connection: one step's loss and gradients match the single process", "[pipeline]") {
  const int ranks = world().size();
  for (const auto schedule : schedules_for(ranks))
    for (const auto type : model::connection_kinds())
      // untied; tied embeddings; recompute with one block per stage (nothing rebuilt: the backward starts in the
      // resident block); recompute with one layer per block (every other block rebuilt, W split around rebuilds)
      for (const int variant : {0, 1, 2, 3}) {
        auto cfg = small(type, schedule, ranks, 1, 2 * ranks);
        const bool tied = variant == 1;
        cfg.model.tie_embeddings = tied;
        cfg.recompute.mhc = variant >= 2;
        cfg.recompute.block_layers = variant == 3 ? "1" : "stage";
        INFO("schedule " << dist::to_string(schedule) << " type " << type->name() << " tied " << tied
                         << " recompute " << cfg.recompute.mhc);
        const auto data = data::make_dataset(cfg);
        const std::int64_t B = cfg.train.micro_batch, L = cfg.model.seq_len + 1, M = cfg.train.micro_batches;
        const train::RowsFn rows = [&](std::int64_t mb, std::int32_t* out) {
          for (std::int64_t r = 0; r < B; ++r)
            data->row(data::Split::train, static_cast<std::uint64_t>(mb * B + r), L, out + r * L);
        };
        train::PipelineExecutor pipe(cfg, world(), cfg.train.seed);
        // What the rank holds is the memory plan `plan` prints for it: a slot per micro-batch in flight, the stages'
        // parameters, their gradients and AdamW moments, byte for byte.
        const train::RankMemoryPlan plan = train::rank_memory_plans(cfg)[static_cast<std::size_t>(world().rank())];
        std::map<int, int> planned_slots;
        for (const auto& s : plan.stages) planned_slots[s.stage] = s.slots;
        CHECK(pipe.slots_per_stage() == planned_slots);
        CHECK(pipe.activation_bytes() == plan.activation_bytes);
        CHECK(pipe.store().specs().size() == plan.params.size());
        CHECK(pipe.store().parameter_bytes() + pipe.store().bf16_copy_bytes() == plan.parameter_bytes);
        CHECK(pipe.store().gradient_bytes() == plan.gradient_bytes);
        CHECK(train::AdamW(pipe.store()).state_bytes() == plan.optimizer_bytes);
        const double loss = pipe.forward_backward(rows, 1.0 / static_cast<double>(M), nullptr);

        model::Model ref(single(cfg), DType::f32, cfg.train.seed, B);
        std::vector<std::int32_t> buf(static_cast<std::size_t>(B * L));
        double ref_loss = 0;
        for (std::int64_t mb = 0; mb < M; ++mb) {
          rows(mb, buf.data());
          ref_loss += ref.forward_backward(Tensor(buf.data(), DType::i32, Shape{B, L}), 1.0 / static_cast<double>(M));
        }
        CHECK(std::fabs(loss - ref_loss) <= 1e-12 * std::fabs(ref_loss));
        const bool exact = schedule == dist::ScheduleKind::one_f_one_b && !tied;
        for (const auto& s : pipe.store().specs()) {
          INFO("rank " << world().rank() << " gradient of " << s.name);
          if (exact)
            CHECK(bitwise_equal(pipe.store().grad(s.name), ref.store().grad(s.name)));
          else
            CHECK(rel_diff(pipe.store().grad(s.name), ref.store().grad(s.name)) <= 1e-5);
        }
      }
}

TEST_CASE("every schedule x connection: 5 training steps match the single process", "[pipeline]") {
  const int ranks = world().size();
  auto self = world().split(world().rank(), 0);
  for (const auto schedule : schedules_for(ranks))
    for (const auto type : model::connection_kinds()) {
      const auto cfg = small(type, schedule, ranks, 1, 2 * ranks);
      INFO("schedule " << dist::to_string(schedule) << " type " << type->name());
      SharedDir dir("pp_steps");
      test::TempDir ref_dir("pp_ref");
      train::Trainer pipe(cfg, quiet(dir.str(), &world()));
      pipe.run();
      train::Trainer ref(single(cfg), quiet(ref_dir.str(), self.get()));
      ref.run();
      check_params(pipe.store(), ref.store(), kParamsTol, "after 5 steps");
      if (world().rank() == 0) {
        check_curves(losses(dir.str()), losses(ref_dir.str()), 1e-5);
        CHECK(fs::exists(dir.str() + "/trace.json"));
      }
    }
}

TEST_CASE("data parallel (and pp x dp) matches one process on the same global batch", "[pipeline]") {
  const int ranks = world().size();
  auto self = world().split(world().rank(), 0);
  const std::int64_t pp = ranks == 4 ? 2 : 1, dp = ranks / pp;
  for (const auto type : model::connection_kinds()) {
    const auto cfg = small(type, dist::ScheduleKind::one_f_one_b, pp, dp, 2);
    INFO("pp " << pp << " dp " << dp << " type " << type->name());
    SharedDir dir("dp_steps");
    test::TempDir ref_dir("dp_ref");
    train::Trainer par(cfg, quiet(dir.str(), &world()));
    par.run();
    train::Trainer ref(single(cfg), quiet(ref_dir.str(), self.get()));
    ref.run();
    check_params(par.store(), ref.store(), kParamsTol, "after 5 steps");
    if (world().rank() == 0) check_curves(losses(dir.str()), losses(ref_dir.str()), 1e-5);
  }
}

// A checkpoint names tensors by global layer: written with pp = ranks it resumes on one process, and back.
TEST_CASE("a checkpoint resumes across pipeline layouts on the same curve", "[pipeline]") {
  const int ranks = world().size();
  auto self = world().split(world().rank(), 0);
  auto cfg = small(model::connection_kind("mhc"), dist::ScheduleKind::dualpipev, ranks, 1, 2 * ranks);
  cfg.train.steps = 6;
  cfg.checkpoint.every = 3;
  cfg.checkpoint.keep = 5;
  test::TempDir whole("resume_whole");
  train::Trainer straight(single(cfg), quiet(whole.str(), self.get()));
  straight.run();

  // pp = ranks for steps 1-6 with checkpoints at 3 and 6; drop 6 (as if the job died) and redo 4-6 on one process.
  SharedDir there("resume_pp");
  train::Trainer(cfg, quiet(there.str(), &world())).run();
  world().barrier();
  if (world().rank() == 0) {
    fs::remove_all(there.str() + "/checkpoints/step_00000006");
    train::Trainer back(single(cfg), quiet(there.str(), self.get(), true));
    CHECK(back.run().steps_done == 6);
    check_curves(losses(there.str()), losses(whole.str()), 1e-5);
    check_params(back.store(), straight.store(), kParamsTol, "pp -> 1");
  }
  // And back: continue the single process's step-3 checkpoint with pp = ranks.
  SharedDir again("resume_again");
  if (world().rank() == 0) {
    fs::create_directories(again.str() + "/checkpoints");
    fs::copy(whole.str() + "/checkpoints/step_00000003", again.str() + "/checkpoints/step_00000003",
             fs::copy_options::recursive);
  }
  world().barrier();
  train::Trainer forth(cfg, quiet(again.str(), &world(), true));
  CHECK(forth.run().steps_done == 6);
  check_params(forth.store(), straight.store(), kParamsTol, "1 -> pp");
}

TEST_CASE("a world size other than pp x dp is refused on every rank", "[pipeline]") {
  const int ranks = world().size();
  SharedDir dir("bad_world");
  const auto cfg = small(model::connection_kind("mhc"), dist::ScheduleKind::one_f_one_b, ranks + 1, 1, 8);
  try {
    train::Trainer t(cfg, quiet(dir.str(), &world()));
    FAIL("no error");
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("parallel.pp x parallel.dp") != std::string::npos);
    CHECK(msg.find(std::to_string(ranks) + " ranks") != std::string::npos);
  }
}

// End-to-end trainer tests on the synthetic task: learning, determinism, resume, and the connection identities
// of spec 2 at the model level (hc with n = 1 is residual; mhc with phi = 0 is residual up to eps).
#include <catch2/catch.hpp>

#include <omp.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/connection_kinds.hpp"
#include "ops/cpu/blas/blas.hpp"
#include "support/temp_dir.hpp"
#include "train/trainer.hpp"

using namespace mhc;
using TempRun = mhc::test::TempDir;
namespace fs = std::filesystem;

namespace {

config::Config tiny(model::ConnectionType type, std::int64_t steps) {
  config::Config c = config::default_config();
  c.model.d_model = 32;
  c.model.n_blocks = 2;
  c.model.n_heads = 2;
  c.model.ffn_hidden = 64;
  c.model.seq_len = 32;
  c.residual.type = type;
  c.residual.n_streams = type->default_streams();
  c.train.steps = steps;
  c.train.micro_batch = 4;
  c.train.micro_batches = 2;
  c.train.lr = 1e-2;
  c.train.min_lr = 1e-3;
  c.train.warmup = 5;
  c.train.eval_every = steps;
  c.train.eval_batches = 2;
  c.train.log_every = 1;
  c.train.diag_every = steps;
  c.checkpoint.keep = 3;
  return c;
}

std::vector<nlohmann::json> read_metrics(const std::string& run_dir) {
  std::vector<nlohmann::json> out;
  std::ifstream f(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(f, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::vector<double> losses(const std::string& run_dir) {
  std::vector<double> l;
  for (const auto& r : read_metrics(run_dir)) l.push_back(r["loss"].get<double>());
  return l;
}

train::TrainResult train_run(const config::Config& cfg, const std::string& dir, bool resume = false) {
  train::TrainOptions o;
  o.run_dir = dir;
  o.resume = resume;
  o.console = false;
  train::Trainer t(cfg, o);
  return t.run();
}

// Every parameter of a model as bytes, by name.
std::map<std::string, std::vector<char>> weights(model::ParameterStore& store) {
  std::map<std::string, std::vector<char>> w;
  for (const auto& s : store.specs()) {
    const Tensor t = store.param(s.name);
    const char* p = static_cast<const char*>(t.data);
    w[s.name] = std::vector<char>(p, p + t.bytes());
  }
  return w;
}

}  // namespace

TEST_CASE("the loss falls on the synthetic task for every connection type", "[train]") {
  for (auto type : model::connection_kinds()) {
    INFO("type " << type->name());
    TempRun run("falls_" + std::string(type->name()));
    train_run(tiny(type, 60), run.str());
    const auto m = read_metrics(run.str());
    REQUIRE(m.size() == 60);
    double last = 0;
    for (std::size_t k = 50; k < 60; ++k) last += m[k]["loss"].get<double>() / 10;
    CHECK(m[0]["loss"].get<double>() > 5.0);  // ~ln(256) at init
    CHECK(last < m[0]["loss"].get<double>() - 1.5);
    CHECK(m.back().contains("val_loss"));
    CHECK(m.back()["val_loss"].get<double>() < m[0]["loss"].get<double>() - 1.5);
    CHECK(m.back()["amax_fwd"].get<double>() > 0);
    CHECK(std::isfinite(m.back()["amax_bwd"].get<double>()));
  }
}

TEST_CASE("two identical runs are bitwise equal", "[train]") {
  TempRun a("det_a"), b("det_b");
  const auto cfg = tiny(model::connection_kind("mhc"), 6);
  train_run(cfg, a.str());
  train_run(cfg, b.str());
  CHECK(losses(a.str()) == losses(b.str()));
  // Final weights: the checkpoints hold them.
  train::Trainer ta(cfg, {a.str(), true, nullptr, false}), tb(cfg, {b.str(), true, nullptr, false});
  ta.run();
  tb.run();
  CHECK(weights(ta.store()) == weights(tb.store()));
}

TEST_CASE("runs on 1 and 2 threads are bitwise equal for every connection type", "[train][threads]") {
  // Products large enough that the GEMM library splits them over the threads (it runs small ones on one thread),
  // and OpenMP loops over tokens, (batch, head) pairs and parameters: only the thread count differs.
  const ops::cpu::blas::Info library = ops::cpu::blas::info();
  if (!library.thread_count_independent) {
    WARN(library.library << " gives thread-count dependent products (docs/performance.md): not checked");
    return;
  }
  for (auto type : model::connection_kinds()) {
    INFO("type " << type->name());
    auto cfg = tiny(type, 3);
    cfg.train.warmup = 1;
    cfg.model.d_model = 64;
    cfg.model.ffn_hidden = 160;
    cfg.model.seq_len = 64;
    const int before = omp_get_max_threads();
    std::vector<std::vector<double>> loss;
    std::vector<std::map<std::string, std::vector<char>>> final;
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      TempRun run("threads_" + std::to_string(threads) + "_" + std::string(type->name()));
      train::Trainer t(cfg, {run.str(), false, nullptr, false});
      t.run();
      loss.push_back(losses(run.str()));
      final.push_back(weights(t.store()));
    }
    omp_set_num_threads(before);
    REQUIRE(loss[0].size() == 3);
    CHECK(loss[0] == loss[1]);
    CHECK(final[0] == final[1]);
  }
}

TEST_CASE("10 steps, resume, 10 more steps equals 20 steps bitwise", "[train]") {
  for (auto type : model::connection_kinds()) {
    INFO("type " << type->name());
    auto cfg = tiny(type, 20);
    cfg.checkpoint.every = 10;
    TempRun whole("whole"), split("split");
    train::Trainer t20(cfg, {whole.str(), false, nullptr, false});
    t20.run();

    train_run(cfg, split.str());
    fs::remove_all(split.str() + "/checkpoints/step_00000020");  // as if the job died after step 10's checkpoint
    train::Trainer resumed(cfg, {split.str(), true, nullptr, false});
    CHECK(resumed.run().steps_done == 20);
    CHECK(losses(split.str()) == losses(whole.str()));
    CHECK(weights(resumed.store()) == weights(t20.store()));
  }
}

TEST_CASE("a stop request finishes the step, checkpoints, and the run resumes bitwise", "[train]") {
  const auto cfg = tiny(model::connection_kind("mhc"), 8);
  TempRun whole("stop_whole"), stopped("stopped");
  train_run(cfg, whole.str());
  std::atomic<bool> stop{true};  // as if SIGTERM arrived during the first step
  const auto r = train::Trainer(cfg, {stopped.str(), false, &stop, false}).run();
  CHECK(r.stopped_early);
  CHECK(r.steps_done == 1);
  CHECK(fs::exists(stopped.str() + "/checkpoints/step_00000001/model.safetensors"));
  train_run(cfg, stopped.str(), true);
  CHECK(losses(stopped.str()) == losses(whole.str()));
}

TEST_CASE("resuming with another model config is refused", "[train]") {
  auto cfg = tiny(model::connection_kind("mhc"), 6);
  TempRun run("mismatch");
  train_run(cfg, run.str());
  cfg.model.d_model = 64;
  CHECK_THROWS_WITH(train_run(cfg, run.str(), true), Catch::Contains("another model/residual/data config"));
}

namespace {
// Loss and gradients of one batch for a fresh model of cfg.
struct OneBatch {
  double loss;
  std::unique_ptr<model::Model> model;
};
OneBatch one_batch(const config::Config& cfg) {
  OneBatch r{0, std::make_unique<model::Model>(cfg, DType::f32, cfg.train.seed, cfg.train.micro_batch)};
  const auto data = data::make_dataset(cfg);
  const std::int64_t B = cfg.train.micro_batch, L = cfg.model.seq_len + 1;
  std::vector<std::int32_t> rows(static_cast<std::size_t>(B * L));
  for (std::int64_t b = 0; b < B; ++b) data->row(data::Split::train, static_cast<std::uint64_t>(b), L, rows.data() + b * L);
  r.loss = r.model->forward_backward(Tensor(rows.data(), DType::i32, Shape{B, L}), 1.0);
  return r;
}
}  // namespace

TEST_CASE("hc with n = 1 and zero dynamic weights is the residual model", "[train]") {
  auto res = tiny(model::connection_kind("residual"), 1);
  auto hc = tiny(model::connection_kind("hc"), 1);
  hc.residual.n_streams = 1;
  const auto a = one_batch(res), b = one_batch(hc);
  CHECK(a.loss == b.loss);
  for (const auto& s : a.model->store().specs()) {  // every residual parameter exists in hc with the same gradient
    INFO(s.name);
    const Tensor ga = a.model->store().grad(s.name), gb = b.model->store().grad(s.name);
    double diff = 0, norm = 0;
    for (std::int64_t k = 0; k < ga.numel(); ++k) {
      diff = std::fmax(diff, std::fabs(ga.ptr<float>()[k] - gb.ptr<float>()[k]));
      norm = std::fmax(norm, std::fabs(ga.ptr<float>()[k]));
    }
    CHECK(diff <= 1e-6 * norm);
  }
}

TEST_CASE("mhc with phi = 0 gives the loss of the residual model with the same F weights", "[train]") {
  auto res = tiny(model::connection_kind("residual"), 1);
  auto m = tiny(model::connection_kind("mhc"), 1);
  m.residual.phi_init = ops::MhcInit::Phi::zero;
  m.residual.bias_init = ops::MhcInit::Bias::identity;
  const auto a = one_batch(res), b = one_batch(m);
  CHECK(std::fabs(a.loss - b.loss) <= 1e-4 * a.loss);
}

TEST_CASE("training with recompute.mhc on is bitwise the run with it off", "[train][recompute]") {
  for (auto type : test::stream_kinds()) {
    INFO("type " << type->name());
    TempRun off("recompute_off_" + std::string(type->name())), on("recompute_on_" + std::string(type->name()));
    auto cfg = tiny(type, 6);
    train_run(cfg, off.str());
    cfg.recompute.mhc = true;
    cfg.recompute.block_layers = "stage";
    train_run(cfg, on.str());
    const auto m_off = read_metrics(off.str()), m_on = read_metrics(on.str());
    REQUIRE(m_on.size() == m_off.size());
    for (std::size_t k = 0; k < m_on.size(); ++k) {
      for (const char* key : {"loss", "grad_norm", "amax_fwd", "amax_bwd", "hres_dist_identity", "val_loss"}) {
        INFO("record " << k << " " << key);
        CHECK(m_on[k].contains(key) == m_off[k].contains(key));
        if (m_on[k].contains(key)) CHECK(m_on[k][key].get<double>() == m_off[k][key].get<double>());
      }
    }
  }
}

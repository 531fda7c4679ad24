// The trainer's rules pinned one by one, each by a test that fails when the rule is broken: clipping scales the
// gradient to norm grad_clip, norms/gains/biases are not decayed, periodic validation reads the val split through the
// one validation_loss that eval uses, and the evaluation is a labelled span in trace.json.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/connection_kinds.hpp"
#include "support/temp_dir.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"
#include "train_test_util.hpp"

using namespace mhc;
namespace fs = std::filesystem;

namespace {

config::Config small(std::int64_t steps) {
  config::Config c = test::small_train_config(steps, 2);
  c.residual.head_merge = config::HeadMerge::gate;  // gate parameters too
  c.train.eval_batches = 3;
  return c;
}

double norm(const model::ParameterStore& store, bool grads) {
  double sum = 0;
  for (const auto& s : store.specs()) {
    const Tensor t = grads ? store.grad(s.name) : store.param(s.name);
    for (std::int64_t i = 0; i < t.numel(); ++i) sum += static_cast<double>(t.ptr<float>()[i]) * t.ptr<float>()[i];
  }
  return std::sqrt(sum);
}

nlohmann::json last_metrics(const std::string& dir) {
  std::ifstream f(dir + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(f, line)) last = line;
  return nlohmann::json::parse(last);
}

}  // namespace

TEST_CASE("clipping scales the gradient to norm grad_clip and leaves it alone below that or with 0", "[train]") {
  for (const double clip : {1e-3, 0.0, 1e6}) {
    INFO("grad_clip " << clip);
    const test::TempDir dir("clip");
    config::Config c = small(1);
    c.train.grad_clip = clip;
    train::Trainer trainer(c, test::quiet_options(dir.str()));
    trainer.run();
    const double before = last_metrics(dir.str())["grad_norm"].get<double>();  // logged before clipping
    REQUIRE(before > 1e-3);
    REQUIRE(before < 1e6);
    const double after = norm(trainer.store(), true);
    CHECK(after == Approx(clip == 1e-3 ? clip : before).epsilon(1e-5));
  }
}

TEST_CASE("AdamW decays exactly the parameters the table marks and never norms, gains or biases", "[train]") {
  config::Config c = small(1);
  c.train.weight_decay = 0.5;
  for (const auto type : test::stream_kinds()) {
    c.residual.type = type;
    const auto specs = model::model_parameter_specs(c);
    for (const auto& s : specs) {  // the rule of the table
      const std::string& n = s.name;
      auto ends = [&](const std::string& tail) {
        return n.size() >= tail.size() && n.compare(n.size() - tail.size(), tail.size(), tail) == 0;
      };
      const bool gain_or_bias = ends("norm.weight") || ends(".bias") || ends(".alpha") || ends("conn.s") ||
                                ends("conn.am") || ends("conn.ar") || ends("conn.bb");
      INFO(n);
      CHECK(s.weight_decay == !gain_or_bias);
    }
    model::ParameterStore store(specs, c, DType::f32, 3);
    store.zero_grads();  // zero gradients: AdamW's change is the decay alone, p -= lr * wd * p
    std::map<std::string, std::vector<float>> before;
    for (const auto& s : specs) {
      const Tensor p = store.param(s.name);
      before[s.name].assign(p.ptr<float>(), p.ptr<float>() + p.numel());
    }
    train::AdamW adam(store);
    const double lr = 0.1;
    adam.step(store, lr, c.train);
    for (const auto& s : specs) {
      INFO(s.name);
      const Tensor p = store.param(s.name);
      const float factor = s.weight_decay ? static_cast<float>(1.0 - lr * c.train.weight_decay) : 1.0f;
      bool as_ruled = true;
      for (std::int64_t i = 0; i < p.numel(); ++i) {
        const float want = before[s.name][static_cast<std::size_t>(i)] * factor;
        as_ruled = as_ruled && std::abs(p.ptr<float>()[i] - want) <= 1e-6f * std::abs(want) + 1e-30f;
      }
      CHECK(as_ruled);
    }
  }
}

TEST_CASE("periodic validation reads the val split through the validation_loss that eval uses", "[train]") {
  const test::TempDir dir("val_split");
  const config::Config c = small(2);
  train::Trainer(c, test::quiet_options(dir.str())).run();
  const double logged = last_metrics(dir.str())["val_loss"].get<double>();

  // The final weights in a single-process model, and the loss over val and train rows computed here, by hand.
  const auto ck = train::load_checkpoint(dir.str());
  const std::int64_t B = c.train.micro_batch, L = c.model.seq_len + 1;
  model::Model model(c, DType::f32, c.train.seed, B, Device::cpu);
  std::vector<io::NamedTensor> params;
  for (const auto& s : model.store().specs()) params.push_back({s.name, model.store().param(s.name)});
  train::restore_tensors(ck.model, params, false);
  const auto data = data::make_dataset(c);
  auto loss_on = [&](data::Split split) {
    std::vector<std::int32_t> rows(static_cast<std::size_t>(B * L));
    double sum = 0;
    for (std::int64_t e = 0; e < c.train.eval_batches; ++e) {
      for (std::int64_t r = 0; r < B; ++r) data->row(split, static_cast<std::uint64_t>(e * B + r), L, &rows[r * L]);
      sum += model.forward_loss(Tensor(rows.data(), DType::i32, Shape{B, L}));
    }
    return sum / static_cast<double>(c.train.eval_batches);
  };
  const double on_val = loss_on(data::Split::val), on_train = loss_on(data::Split::train);
  REQUIRE(std::abs(on_val - on_train) > 1e-4);  // the two splits are distinguishable
  CHECK(logged == Approx(on_val).epsilon(1e-12));
  const double shared = train::validation_loss(*data, c, B, [&](std::int32_t* rows) {
    return model.forward_loss(Tensor(rows, DType::i32, Shape{B, L}));
  });
  CHECK(shared == Approx(on_val).epsilon(1e-12));
}

TEST_CASE("evaluation and diagnostics and checkpoint writes are labelled spans in trace.json", "[train]") {
  const test::TempDir dir("trace_eval");
  config::Config c = small(3);
  c.train.diag_every = 1;
  c.checkpoint.every = 1;
  train::TrainOptions o = test::quiet_options(dir.str());
  o.trace_steps = 2;
  train::Trainer(c, o).run();
  nlohmann::json trace;
  std::ifstream(dir.file("trace.json")) >> trace;
  std::map<std::string, std::vector<nlohmann::json>> by_cat;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "X") by_cat[e["cat"].get<std::string>()].push_back(e);
  REQUIRE(by_cat["step"].size() == 2);
  REQUIRE(by_cat["eval"].size() == 2);
  CHECK(by_cat["diagnostics"].size() == 2);
  CHECK(by_cat["checkpoint"].size() == 1);  // step 2; the last step's checkpoint is written after the loop
  for (std::size_t k = 0; k < 2; ++k) {
    const auto& step = by_cat["step"][k];
    const auto& eval = by_cat["eval"][k];
    CHECK(eval["tid"] == 0);
    CHECK(eval["ts"].get<double>() >= step["ts"].get<double>() + step["dur"].get<double>());
  }
}

// The pipeline executor: instruction lists run on micro-batch slots of real stages.
#include "train/pipeline.hpp"

#include <algorithm>

#include "core/copy.hpp"
#include "ops/elementwise.hpp"
#include "ops/grad_norm.hpp"
#include "train/memory_plan.hpp"

namespace mhc::train {

namespace {

// Message kinds (see tag()): a step's activations and gradients, the shared-gradient sum, checkpoint gathers.
constexpr int kActivation = 0, kGradient = 1, kSharedSum = 2, kGather = 3;

}  // namespace

// The micro-batch slots of one stage: a Model per micro-batch in flight, all sharing the rank's store.
struct PipelineExecutor::StageSlots {
  model::StagePart part;
  std::vector<std::unique_ptr<model::Model>> models;
  std::vector<int> free;        // slot indices, lowest last
  std::map<int, int> slot_of;   // micro-batch -> slot
};

PipelineExecutor::PipelineExecutor(const config::Config& cfg, dist::Communicator& pipe, std::uint64_t seed)
    : cfg_(cfg),
      pipe_(pipe),
      kind_(cfg.parallel.schedule),
      ranks_(pipe.size()),
      stages_(dist::stage_count(kind_, pipe.size())),
      micro_batches_(static_cast<int>(cfg.train.micro_batches)),
      rank_(pipe.rank()) {
  MHC_CHECK(ranks_ == cfg.parallel.pp, ConfigError, "pipeline of ", ranks_, " ranks for parallel.pp = ",
            cfg.parallel.pp);
  MHC_CHECK(stages_ == cfg.parallel.num_stages(), ConfigError, "schedule ", dist::to_string(kind_), " has ", stages_,
            " stages, the config's layout ", cfg.parallel.num_stages());
  const dist::Schedule schedule = dist::build_schedule(kind_, ranks_, micro_batches_);
  list_ = schedule[static_cast<std::size_t>(rank_)];
  // Allocated by the memory plan that `mhc-train plan` prints: the held parameters and a slot per micro-batch in
  // flight for every stage.
  const std::vector<RankMemoryPlan> plans = rank_memory_plans(cfg, schedule);
  for (int r = 0; r < ranks_; ++r)
    for (const auto& spec : plans[static_cast<std::size_t>(r)].params) holders_[spec.name].push_back(r);
  const RankMemoryPlan& mine = plans[static_cast<std::size_t>(rank_)];
  store_ = std::make_unique<model::ParameterStore>(mine.params, cfg, DType::f32, seed, cfg.parallel.device);

  const std::int64_t B = cfg.train.micro_batch;
  for (const StagePlan& stage : mine.stages) {
    auto slots = std::make_unique<StageSlots>();
    slots->part = stage.part;
    for (int k = stage.slots - 1; k >= 0; --k) {
      slots->models.push_back(std::make_unique<model::Model>(cfg, *store_, B, slots->part));
      slots->free.push_back(k);
    }
    stage_slots_[stage.stage] = std::move(slots);
  }
  rows_.resize(static_cast<std::size_t>(B * (cfg.model.seq_len + 1)));
}

PipelineExecutor::~PipelineExecutor() = default;

model::Model& PipelineExecutor::acquire(int stage, int mb) {
  StageSlots& s = *stage_slots_.at(stage);
  MHC_CHECK(!s.free.empty(), Error, "pipeline rank ", rank_, ": no free slot for F(mb ", mb, ", stage ", stage, ")");
  const int k = s.free.back();
  s.free.pop_back();
  s.slot_of[mb] = k;
  return *s.models[static_cast<std::size_t>(k)];
}

model::Model& PipelineExecutor::slot_of(int stage, int mb) {
  StageSlots& s = *stage_slots_.at(stage);
  const auto it = s.slot_of.find(mb);
  MHC_CHECK(it != s.slot_of.end(), Error, "pipeline rank ", rank_, ": micro-batch ", mb, " of stage ", stage,
            " has no forward");
  return *s.models[static_cast<std::size_t>(it->second)];
}

void PipelineExecutor::release(int stage, int mb) {
  StageSlots& s = *stage_slots_.at(stage);
  s.free.push_back(s.slot_of.at(mb));
  s.slot_of.erase(mb);
}

Tensor PipelineExecutor::buffer(std::map<std::int64_t, HostTensor>& pool, int mb, int stage) {
  const std::int64_t key = static_cast<std::int64_t>(mb) * stages_ + stage;
  auto it = pool.find(key);
  if (it == pool.end()) {
    const std::int64_t N = cfg_.train.micro_batch * cfg_.model.seq_len;
    it = pool.emplace(key, HostTensor(DType::f32, Shape{N, cfg_.residual.n_streams, cfg_.model.d_model})).first;
  }
  return it->second.view();
}

// Blocking; a GPU tensor travels through host memory (the communicator moves host bytes).
void PipelineExecutor::send_tensor(Tensor t, int peer, int tag) {
  HostTensor staged;
  if (t.device != Device::cpu) {
    staged = HostTensor(t.dtype, t.shape);
    copy_tensor(staged.view(), t);
    t = staged.view();
  }
  dist::Request r = pipe_.isend(t.data, t.bytes(), peer, tag);
  pipe_.wait(r);
}

void PipelineExecutor::recv_tensor(Tensor t, int peer, int tag) {
  HostTensor staged;
  const Tensor dst = t.device == Device::cpu ? t : (staged = HostTensor(t.dtype, t.shape)).view();
  dist::Request r = pipe_.irecv(dst.data, dst.bytes(), peer, tag);
  pipe_.wait(r);
  if (dst.data != t.data) copy_tensor(t, dst);
}

// Messages are named by what they carry and the stage that consumes them.
int PipelineExecutor::tag(int kind, int mb, int stage) const { return (kind * stages_ + stage) * micro_batches_ + mb; }

// tokens_ (micro_batch * T) = the inputs (shift 0) or targets (shift 1) of rows (micro_batch, T + 1).
const std::int32_t* PipelineExecutor::split_rows(const std::int32_t* rows, int shift) {
  tokens_.resize(static_cast<std::size_t>(cfg_.train.micro_batch * cfg_.model.seq_len));
  model::split_token_rows(rows, cfg_.train.micro_batch, cfg_.model.seq_len, shift, tokens_.data());
  return tokens_.data();
}

double PipelineExecutor::forward_backward(const RowsFn& rows, double loss_weight, dist::TraceRecorder* trace) {
  using dist::Op;
  auto span = [&](const char* category, std::int64_t start, int mb, int stage) {
    if (trace == nullptr) return;
    std::string name = category;
    if (mb >= 0) name += " mb " + std::to_string(mb) + " stage " + std::to_string(stage);
    trace->add(name, category, start, trace->now_us() - start, mb, stage);
  };
  auto now = [&] { return trace != nullptr ? trace->now_us() : std::int64_t{0}; };
  const auto rank_for = [&](int mb, int stage) {
    return dist::rank_of_stage(kind_, ranks_, micro_batches_, mb, stage);
  };

  // Every receive of the step is posted up front.
  std::map<std::int64_t, dist::Request> recvs;
  for (const auto& in : list_) {
    if (in.op != Op::RecvAct && in.op != Op::RecvGrad) continue;
    const int kind = in.op == Op::RecvAct ? kActivation : kGradient;
    Tensor dst = buffer(kind == kActivation ? in_act_ : in_grad_, in.mb, in.stage);
    recvs[tag(kind, in.mb, in.stage)] = pipe_.irecv(dst.data, dst.bytes(), in.peer, tag(kind, in.mb, in.stage));
  }
  std::vector<dist::Request> sends;
  double loss_sum = 0;
  for (const auto& in : list_) {
    const std::int64_t start = now();
    switch (in.op) {
      case Op::RecvAct:
      case Op::RecvGrad: {
        pipe_.wait(recvs.at(tag(in.op == Op::RecvAct ? kActivation : kGradient, in.mb, in.stage)));
        span("wait", start, in.mb, in.stage);
        break;
      }
      case Op::SendAct:
      case Op::SendGrad: {
        const bool act = in.op == Op::SendAct;
        Tensor src = buffer(act ? out_act_ : out_grad_, in.mb, in.stage);
        const int to_stage = act ? in.stage + 1 : in.stage - 1;
        sends.push_back(pipe_.isend(src.data, src.bytes(), in.peer, tag(act ? kActivation : kGradient, in.mb, to_stage)));
        span("send", start, in.mb, in.stage);
        break;
      }
      case Op::F: {
        model::Model& m = acquire(in.stage, in.mb);
        const model::StagePart& part = m.part();
        if (part.embedding || part.head) rows(in.mb, rows_.data());
        if (part.embedding) {
          m.forward_stage(split_rows(rows_.data(), 0));
        } else {
          copy_tensor(m.stream_input(), buffer(in_act_, in.mb, in.stage));
          m.forward_stage(nullptr);
        }
        if (part.head) {
          loss_sum += m.head_loss(split_rows(rows_.data(), 1), loss_weight);
        } else {
          const bool local = rank_for(in.mb, in.stage + 1) == rank_;
          copy_tensor(local ? buffer(in_act_, in.mb, in.stage + 1) : buffer(out_act_, in.mb, in.stage),
                      m.stream_output());
        }
        span("F", start, in.mb, in.stage);
        break;
      }
      case Op::B: {
        model::Model& m = slot_of(in.stage, in.mb);
        if (!m.part().head) copy_tensor(m.grad_output(), buffer(in_grad_, in.mb, in.stage));
        m.backward_input_stage();
        if (!m.part().embedding) {
          const bool local = rank_for(in.mb, in.stage - 1) == rank_;
          copy_tensor(local ? buffer(in_grad_, in.mb, in.stage - 1) : buffer(out_grad_, in.mb, in.stage),
                      m.grad_input());
        }
        span("B", start, in.mb, in.stage);
        break;
      }
      case Op::W: {
        slot_of(in.stage, in.mb).backward_weight_stage();
        release(in.stage, in.mb);
        span("W", start, in.mb, in.stage);
        break;
      }
      case Op::OptimizerStep: {
        for (auto& r : sends) pipe_.wait(r);
        span("wait", start, -1, -1);
        const std::int64_t reduce_start = now();
        sum_shared_gradients();
        pipe_.allreduce_sum(&loss_sum, 1);
        span("allreduce", reduce_start, -1, -1);
        break;
      }
    }
  }
  return loss_sum;
}

// Deterministic: the lowest holder adds the others' gradients in rank order and sends the sum back.
void PipelineExecutor::sum_shared_gradients() {
  for (const auto& spec : store_->specs()) {
    const auto& holders = holders_.at(spec.name);
    if (holders.size() < 2) continue;
    Tensor g = store_->grad(spec.name);
    const int tag_base = tag(kSharedSum, 0, 0);
    if (rank_ == holders.front()) {
      HostTensor sum(g.dtype, g.shape), other(g.dtype, g.shape);  // summed on the host, whatever g's device
      copy_tensor(sum.view(), g);
      for (std::size_t k = 1; k < holders.size(); ++k) {
        recv_tensor(other.view(), holders[k], tag_base);
        ops::axpby(sum.view(), 1.0F, sum.view(), 1.0F, other.view());
      }
      copy_tensor(g, sum.view());
      std::vector<dist::Request> out;
      for (std::size_t k = 1; k < holders.size(); ++k)
        out.push_back(pipe_.isend(sum.view().data, sum.view().bytes(), holders[k], tag_base));
      for (auto& r : out) pipe_.wait(r);
    } else {
      send_tensor(g, holders.front(), tag_base);
      recv_tensor(g, holders.front(), tag_base);
    }
  }
}

double PipelineExecutor::forward_loss(const std::int32_t* rows) {
  double loss = 0;
  for (int stage = 0; stage < stages_; ++stage) {
    const int holder = dist::rank_of_stage(kind_, ranks_, micro_batches_, 0, stage);
    const int prev = stage > 0 ? dist::rank_of_stage(kind_, ranks_, micro_batches_, 0, stage - 1) : -1;
    const int next = stage + 1 < stages_ ? dist::rank_of_stage(kind_, ranks_, micro_batches_, 0, stage + 1) : -1;
    if (holder != rank_) continue;
    model::Model& m = *stage_slots_.at(stage)->models.front();
    if (m.part().embedding) {
      m.forward_stage(split_rows(rows, 0));
    } else {
      Tensor in = m.stream_input();
      if (prev == rank_) {
        copy_tensor(in, stage_slots_.at(stage - 1)->models.front()->stream_output());
      } else {
        recv_tensor(in, prev, tag(kActivation, 0, stage));
      }
      m.forward_stage(nullptr);
    }
    if (m.part().head) {
      loss = m.head_loss(split_rows(rows, 1), 0.0);
    } else if (next != rank_) {
      send_tensor(m.stream_output(), next, tag(kActivation, 0, stage + 1));
    }
  }
  pipe_.allreduce_sum(&loss, 1);  // one rank holds the loss, the others add 0
  return loss;
}

std::vector<HostTensor> PipelineExecutor::gather_h_res() {
  std::vector<HostTensor> out;
  if (!cfg_.residual.type->keeps_streams()) return out;
  const std::int64_t N = cfg_.train.micro_batch * cfg_.model.seq_len, n = cfg_.residual.n_streams;
  for (int stage = 0; stage < stages_; ++stage) {
    const int holder = dist::rank_of_stage(kind_, ranks_, micro_batches_, 0, stage);
    const model::StagePart part = model::StagePart::of_stage(cfg_, stage);
    std::vector<Tensor> local;
    if (holder == rank_) local = stage_slots_.at(stage)->models.front()->last_h_res();
    for (std::int64_t l = 0; l < part.layers(); ++l) {
      const int t = tag(kGather, 0, 0);
      if (rank_ == 0) {
        out.emplace_back(DType::f32, Shape{N, n, n});
        if (holder == 0) {
          copy_tensor(out.back().view(), local[static_cast<std::size_t>(l)]);
        } else {
          recv_tensor(out.back().view(), holder, t);
        }
      } else if (holder == rank_) {
        send_tensor(local[static_cast<std::size_t>(l)], 0, t);
      }
    }
  }
  return out;
}

int PipelineExecutor::owner_of(const std::string& name) const {
  const auto it = holders_.find(name);
  MHC_CHECK(it != holders_.end(), ConfigError, "no pipeline rank holds parameter '", name, "'");
  return it->second.front();
}

double PipelineExecutor::owned_grad_norm_squared() const {
  std::vector<Tensor> grads;
  for (const auto& spec : store_->specs())
    if (owner_of(spec.name) == rank_) grads.push_back(store_->grad(spec.name));
  return ops::grad_norm_squared(grads);
}

std::vector<HostTensor> PipelineExecutor::gather_to_first(const std::vector<std::string>& params,
                                                          const std::function<Tensor(const std::string&)>& local) {
  std::map<std::string, Shape> shapes;
  for (const auto& spec : model::model_parameter_specs(cfg_)) shapes[spec.name] = spec.shape;
  std::vector<HostTensor> out;
  for (const auto& name : params) {
    const int owner = owner_of(name);
    if (rank_ == 0) {
      out.emplace_back(DType::f32, shapes.at(name));
      const Tensor dst = out.back().view();
      if (owner == 0) {
        copy_tensor(dst, local(name));
      } else {
        recv_tensor(dst, owner, tag(kGather, 0, 0));
      }
    } else if (owner == rank_) {
      send_tensor(local(name), 0, tag(kGather, 0, 0));
    }
  }
  return out;
}

std::int64_t PipelineExecutor::activation_bytes() const {
  std::int64_t total = 0;
  for (const auto& [stage, slots] : stage_slots_)
    for (const auto& m : slots->models) total += m->activation_bytes();
  return total;
}

std::map<int, int> PipelineExecutor::slots_per_stage() const {
  std::map<int, int> out;
  for (const auto& [stage, slots] : stage_slots_) out[stage] = static_cast<int>(slots->models.size());
  return out;
}

}  // namespace mhc::train

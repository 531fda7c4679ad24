// PipelineExecutor: runs this rank's instruction list of a pipeline schedule (dist::build_schedule) on real stages -
// micro-batch slots of the stages the rank holds - with receives posted at the start of the step and non-blocking
// sends, so that communication overlaps compute. pp = 1 is the single-process case (F, B, W per micro-batch).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/host_tensor.hpp"
#include "dist/communicator.hpp"
#include "dist/schedule.hpp"
#include "dist/trace.hpp"
#include "model/model.hpp"

namespace mhc::train {

// Writes the rows (micro_batch, T + 1) i32 of micro-batch `mb` (0 .. micro_batches - 1) of the current step.
using RowsFn = std::function<void(std::int64_t mb, std::int32_t* rows)>;

class PipelineExecutor {
 public:
  // The stages pipe.rank() runs in cfg.parallel.schedule over pipe.size() == cfg.parallel.pp ranks, with
  // cfg.train.micro_batches micro-batches of cfg.train.micro_batch rows; fp32 parameters initialised from
  // (seed, name), so every layout holds the same values under the same names.
  PipelineExecutor(const config::Config& cfg, dist::Communicator& pipe, std::uint64_t seed);
  ~PipelineExecutor();

  model::ParameterStore& store() { return *store_; }
  const model::ParameterStore& store() const { return *store_; }

  // Forward and backward of every micro-batch of one step: each gradient += loss_weight * d(mean token loss of a
  // micro-batch)/d(param), summed over the micro-batches; the gradients of parameters held by several ranks
  // (DualPipe's two copies, tied embeddings split over stages) are then summed across them in rank order.
  // Returns the sum over micro-batches of their mean token loss, on every rank of the pipe. `trace` may be null.
  double forward_backward(const RowsFn& rows, double loss_weight, dist::TraceRecorder* trace);

  // Forward only of one batch of rows (micro_batch, T + 1), the same rows passed on every rank: the mean token
  // loss, on every rank. Stage by stage (no overlap): for evaluation and diagnostics.
  double forward_loss(const std::int32_t* rows);
  // H_res (rows, n, n) of every residual layer of the last forward_loss in layer order, gathered on pipe rank 0
  // (empty on the other ranks, and for residual.type "residual").
  std::vector<HostTensor> gather_h_res();

  // The pipe rank that owns a parameter: the lowest rank holding it. It alone counts the parameter in the
  // gradient norm and sends it for a checkpoint.
  int owner_of(const std::string& name) const;
  // Sum of squared gradients over the parameters this rank owns.
  double owned_grad_norm_squared() const;
  // For each parameter name in `params` (the same list on every rank), the owner's tensor local(name), gathered
  // on pipe rank 0 (empty vector elsewhere). Collective over the pipe. Used to write one checkpoint of the whole
  // model (parameters, and the optimizer's moments per parameter) from any layout.
  std::vector<HostTensor> gather_to_first(const std::vector<std::string>& params,
                                          const std::function<Tensor(const std::string&)>& local);

  // Bytes of activations held by every micro-batch slot of this rank.
  std::int64_t activation_bytes() const;
  // Micro-batch slots of each stage this rank holds (the most micro-batches a stage has in flight).
  std::map<int, int> slots_per_stage() const;

 private:
  struct StageSlots;
  model::Model& acquire(int stage, int mb);
  model::Model& slot_of(int stage, int mb);
  void release(int stage, int mb);
  Tensor buffer(std::map<std::int64_t, HostTensor>& pool, int mb, int stage);
  // Blocking point-to-point of a tensor on any device.
  void send_tensor(Tensor t, int peer, int tag);
  void recv_tensor(Tensor t, int peer, int tag);
  int tag(int kind, int mb, int stage) const;
  const std::int32_t* split_rows(const std::int32_t* rows, int shift);
  void sum_shared_gradients();

  config::Config cfg_;
  dist::Communicator& pipe_;
  dist::ScheduleKind kind_;
  int ranks_, stages_, micro_batches_, rank_;
  std::vector<dist::Instruction> list_;               // this rank's instructions
  std::map<std::string, std::vector<int>> holders_;   // parameter name -> pipe ranks holding it, ascending
  std::unique_ptr<model::ParameterStore> store_;
  std::map<int, std::unique_ptr<StageSlots>> stage_slots_;  // by stage
  std::map<std::int64_t, HostTensor> in_act_, in_grad_, out_act_, out_grad_;  // (N, n, C) by (mb, stage)
  std::vector<std::int32_t> rows_, tokens_;
};

}  // namespace mhc::train

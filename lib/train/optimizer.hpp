// AdamW over a ParameterStore: fp32 (or f64) moments in an optimizer-state arena, decay only where the table says.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "config/config.hpp"
#include "core/arena.hpp"
#include "model/parameters.hpp"

namespace mhc::train {

class AdamW {
 public:
  explicit AdamW(const model::ParameterStore& store);

  // One update of every parameter from its gradient at learning rate lr; weight decay applies to the parameters
  // whose ParamSpec::weight_decay is true (not norms, gates, biases or connection static parameters).
  void step(const model::ParameterStore& store, double lr, const config::TrainConfig& t);

  // Updates applied so far (the bias-correction step count).
  std::int64_t updates() const { return updates_; }
  void set_updates(std::int64_t u) { updates_ = u; }

  // "m.<name>" and "v.<name>" for every parameter (checkpointing).
  std::map<std::string, Tensor> state_tensors() const;
  std::int64_t state_bytes() const { return arena_.capacity(); }
  // The bytes of the moments AdamW keeps for these parameters (what state_bytes() of a store of them is).
  static std::int64_t state_bytes_for(const std::vector<model::ParamSpec>& specs, DType dtype);

 private:
  Arena arena_;
  std::map<std::string, Tensor> m_, v_;
  std::int64_t updates_ = 0;
};

}  // namespace mhc::train

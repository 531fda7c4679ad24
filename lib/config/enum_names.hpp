// The JSON spelling of every config enum, in one table per enum (internal to lib/config).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace mhc::config::detail {

template <typename E>
using EnumNames = std::vector<std::pair<E, const char*>>;

template <typename E>
const EnumNames<E>& enum_names();

template <>
inline const EnumNames<ResidualType>& enum_names() {
  static const EnumNames<ResidualType> names{
      {ResidualType::residual, "residual"}, {ResidualType::hc, "hc"}, {ResidualType::mhc, "mhc"}};
  return names;
}
template <>
inline const EnumNames<BiasInit>& enum_names() {
  static const EnumNames<BiasInit> names{{BiasInit::identity, "identity"}, {BiasInit::zero, "zero"}};
  return names;
}
template <>
inline const EnumNames<HeadMerge>& enum_names() {
  static const EnumNames<HeadMerge> names{{HeadMerge::sum, "sum"}, {HeadMerge::gate, "gate"}};
  return names;
}
template <>
inline const EnumNames<PhiInit>& enum_names() {
  static const EnumNames<PhiInit> names{{PhiInit::xavier, "xavier"}, {PhiInit::zero, "zero"}};
  return names;
}
template <>
inline const EnumNames<DataSource>& enum_names() {
  static const EnumNames<DataSource> names{
      {DataSource::synthetic, "synthetic"}, {DataSource::text, "text"}, {DataSource::tokens, "tokens"}};
  return names;
}
template <>
inline const EnumNames<LrSchedule>& enum_names() {
  static const EnumNames<LrSchedule> names{
      {LrSchedule::cosine, "cosine"}, {LrSchedule::step, "step"}, {LrSchedule::constant, "constant"}};
  return names;
}
template <>
inline const EnumNames<PipelineSchedule>& enum_names() {
  static const EnumNames<PipelineSchedule> names{{PipelineSchedule::one_f_one_b, "1f1b"},
                                                 {PipelineSchedule::dualpipe, "dualpipe"},
                                                 {PipelineSchedule::dualpipev, "dualpipev"}};
  return names;
}
template <>
inline const EnumNames<DeviceKind>& enum_names() {
  static const EnumNames<DeviceKind> names{{DeviceKind::cpu, "cpu"}, {DeviceKind::cuda, "cuda"}};
  return names;
}
template <>
inline const EnumNames<MatmulPrecision>& enum_names() {
  static const EnumNames<MatmulPrecision> names{{MatmulPrecision::fp32, "fp32"}, {MatmulPrecision::tf32, "tf32"}};
  return names;
}

template <typename E>
std::string enum_name(E value) {
  for (const auto& [v, name] : enum_names<E>()) {
    if (v == value) return name;
  }
  return "<invalid>";
}

// The valid spellings for an error message: "\"residual\", \"hc\", \"mhc\"".
template <typename E>
std::string enum_choices() {
  std::string out;
  for (const auto& entry : enum_names<E>()) {
    if (!out.empty()) out += ", ";
    out += std::string("\"") + entry.second + "\"";
  }
  return out;
}

}  // namespace mhc::config::detail

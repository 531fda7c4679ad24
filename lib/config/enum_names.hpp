// The JSON spelling of every config enum, in one table per enum (internal to lib/config).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace mhc::config::detail {

template <typename E>
using EnumNames = std::vector<std::pair<E, std::string>>;

template <typename E>
const EnumNames<E>& enum_names();

template <>
inline const EnumNames<ops::MhcInit::Bias>& enum_names() {
  using B = ops::MhcInit::Bias;
  static const EnumNames<B> names{{B::identity, "identity"}, {B::zero, "zero"}};
  return names;
}
template <>
inline const EnumNames<HeadMerge>& enum_names() {
  static const EnumNames<HeadMerge> names{{HeadMerge::sum, "sum"}, {HeadMerge::gate, "gate"}};
  return names;
}
template <>
inline const EnumNames<ops::MhcInit::Phi>& enum_names() {
  using P = ops::MhcInit::Phi;
  static const EnumNames<P> names{{P::xavier, "xavier"}, {P::zero, "zero"}};
  return names;
}
template <>
inline const EnumNames<DataSource>& enum_names() {
  static const EnumNames<DataSource> names{
      {DataSource::synthetic, "synthetic"}, {DataSource::text, "text"}, {DataSource::tokens, "tokens"}};
  return names;
}
template <>
inline const EnumNames<train::LrScheduleKind>& enum_names() {
  using L = train::LrScheduleKind;
  static const EnumNames<L> names{{L::cosine, "cosine"}, {L::step, "step"}, {L::constant, "constant"}};
  return names;
}
template <>
inline const EnumNames<dist::ScheduleKind>& enum_names() {  // dist's own spelling
  using S = dist::ScheduleKind;
  static const EnumNames<S> names{{S::one_f_one_b, dist::to_string(S::one_f_one_b)},
                                  {S::dualpipe, dist::to_string(S::dualpipe)},
                                  {S::dualpipev, dist::to_string(S::dualpipev)}};
  return names;
}
template <>
inline const EnumNames<Device>& enum_names() {  // core's own spelling
  static const EnumNames<Device> names{{Device::cpu, std::string(device_name(Device::cpu))},
                                       {Device::cuda, std::string(device_name(Device::cuda))}};
  return names;
}
template <>
inline const EnumNames<ops::MatmulPrecision>& enum_names() {
  using M = ops::MatmulPrecision;
  static const EnumNames<M> names{{M::fp32, "fp32"}, {M::tf32, "tf32"}};
  return names;
}

template <>
inline const EnumNames<Precision>& enum_names() {
  static const EnumNames<Precision> names{{Precision::fp32, "fp32"}, {Precision::bf16, "bf16"}};
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
    out += "\"" + entry.second + "\"";
  }
  return out;
}

}  // namespace mhc::config::detail

// The CPU GEMM library in `bench` reports: what is linked, and its speed on a config's training-step GEMMs.
#pragma once

#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace mhc::app {

// {"library", "version", "kernel", "threading", "threads", "thread_count_independent"} of the linked GEMM library
// (ops/cpu/blas/), and "cpu": the CPU's model name (/proc/cpuinfo) with its widest vector extension.
nlohmann::json gemm_library_json();

// Every GEMM shape of one micro-batch step of cfg (model::step_gemm_shapes), timed through ops::matmul on the CPU
// (median of `repeats` after a warm-up): per shape ms and GFLOP/s and whether one thread gives the same bits, and
// the step's total GEMM time and rate.
nlohmann::json bench_step_gemms(const config::Config& cfg, int repeats);

}  // namespace mhc::app

// The built-in synthetic task: deterministic sequences mixing copying, associative recall and modular sums.
//
// Each sequence is a run of segments, each drawn uniformly from three kinds (token ids in brackets):
//   copy    [1] s1 .. sk [2] s1 .. sk [7]            k in 3..10 symbols from 16..79
//   recall  [3] k1 v1 .. km vm [4] ki vi [7]         m in 2..8 distinct keys 80..143, values 144..207
//   modsum  [5] d1 .. dj [6] (d1 + .. + dj) mod 32 [7]  j in 2..4 digits 208..239
// The markers and answers are predictable from the context (copy, look-up, arithmetic); the rest is noise,
// so the loss floor is well above zero and deeper models reach lower loss. Needs vocab_size >= 240
// (config::kSyntheticMinVocab, checked by config validation).
#pragma once

#include <cstdint>
#include <string>

namespace mhc::data {

// Writes `length` tokens of sequence `index` of the stream named `split` ("train" or "val") into out.
// Depends only on (seed, split, index).
void synthetic_sequence(std::uint64_t seed, const std::string& split, std::uint64_t index, std::int64_t length,
                        std::int32_t* out);

}  // namespace mhc::data

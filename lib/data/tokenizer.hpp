// llm.c's GPT-2 tokenizer file (gpt2_tokenizer.bin), for decoding token ids to text: a header of 256 uint32 (magic
// 20240328, version 1 or 2, vocab size, for version 2 the end-of-text id), then per token a uint8 length and its bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mhc::data {

constexpr std::uint32_t kTokenizerMagic = 20240328;

class TokenDecoder {
 public:
  // IoError naming the file when it is missing, has another magic or version, or ends early.
  explicit TokenDecoder(const std::string& path);
  std::int64_t vocab_size() const { return static_cast<std::int64_t>(pieces_.size()); }
  // The bytes of token `id`; IoError naming the tokenizer for an id beyond its vocabulary.
  const std::string& decode(std::int64_t id) const;

 private:
  std::string path_;
  std::vector<std::string> pieces_;
};

}  // namespace mhc::data

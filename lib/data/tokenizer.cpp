// Reading llm.c's tokenizer file.
#include "data/tokenizer.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.hpp"

namespace mhc::data {

TokenDecoder::TokenDecoder(const std::string& path) : path_(path) {
  std::ifstream in(path, std::ios::binary);
  MHC_CHECK(in.good(), IoError, "cannot open the tokenizer '", path, "': ", std::strerror(errno));
  std::uint32_t header[256];
  in.read(reinterpret_cast<char*>(header), sizeof header);
  MHC_CHECK(in.gcount() == sizeof header, IoError, "tokenizer '", path, "': shorter than its 1024-byte header");
  MHC_CHECK(header[0] == kTokenizerMagic, IoError, "tokenizer '", path, "': magic ", header[0], ", expected ",
            kTokenizerMagic, " (llm.c's gpt2_tokenizer.bin)");
  MHC_CHECK(header[1] == 1 || header[1] == 2, IoError, "tokenizer '", path, "': version ", header[1],
            ", expected 1 or 2");
  pieces_.resize(header[2]);
  for (std::uint32_t i = 0; i < header[2]; ++i) {
    unsigned char length = 0;
    in.read(reinterpret_cast<char*>(&length), 1);
    pieces_[i].resize(length);
    if (length > 0) in.read(pieces_[i].data(), length);
    MHC_CHECK(in.good(), IoError, "tokenizer '", path, "': ends inside token ", i, " of ", header[2]);
  }
}

const std::string& TokenDecoder::decode(std::int64_t id) const {
  MHC_CHECK(id >= 0 && id < vocab_size(), IoError, "token id ", id, " is beyond the ", vocab_size(),
            " tokens of the tokenizer '", path_, "'");
  return pieces_[static_cast<std::size_t>(id)];
}

}  // namespace mhc::data

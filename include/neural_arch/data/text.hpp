// Character-level text data for language models: a byte vocabulary built from the text and
// (x, y) blocks where y is x shifted by one character.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "neural_arch/data/dataset.hpp"
#include "neural_arch/random.hpp"

namespace neural_arch::data {

/// The distinct bytes of a text, sorted, each mapped to its rank (0 .. size()-1). Bytes,
/// not Unicode code points: any text works and decode(encode(s)) == s byte for byte.
class CharVocab {
 public:
  explicit CharVocab(const std::string& text);
  int64_t size() const { return static_cast<int64_t>(chars_.size()); }
  /// Token ids of s; a byte that is not in the vocabulary is an Error.
  std::vector<int64_t> encode(const std::string& s) const;
  /// Text of ids; an id outside [0, size()) is an Error.
  std::string decode(const std::vector<int64_t>& ids) const;
  /// The same for an integer tensor of any shape (read in row-major order).
  std::string decode(const Tensor& ids) const;
  const std::string& chars() const { return chars_; }

 private:
  std::string chars_;
  std::array<int16_t, 256> id_{};  // -1: not in the vocabulary
};

/// Every window of block_size + 1 consecutive tokens of a text: get(i) = {x, y} with
/// x = ids[i, i + block_size) and y = ids[i + 1, i + block_size + 1), both i64 (block_size).
/// random_batch() draws batch_size windows at random positions, as nanoGPT's get_batch does.
///
///   data::CharTextDataset ds(text, 64);
///   auto [x, y] = ds.random_batch(32, gen);   // (32, 64) each
class CharTextDataset : public Dataset {
 public:
  CharTextDataset(const std::string& text, int64_t block_size);
  /// Uses a given vocabulary (e.g. the training split's for a validation split).
  CharTextDataset(const std::string& text, int64_t block_size, CharVocab vocab);
  int64_t size() const override;
  Example get(int64_t index) const override;
  Example get_batch(const std::vector<int64_t>& indices) const override;
  /// batch_size windows at uniformly random start positions drawn from gen.
  Example random_batch(int64_t batch_size, Generator& gen) const;

  const CharVocab& vocab() const { return vocab_; }
  int64_t block_size() const { return block_size_; }
  /// All token ids of the text, i64 of shape (text length).
  const Tensor& tokens() const { return tokens_; }

 private:
  CharVocab vocab_;
  int64_t block_size_;
  Tensor tokens_;
};

/// Where Debian's fortunes packages install their databases.
inline constexpr const char* kFortunesDebianDir = "/usr/share/games/fortunes";

/// The text of the fortune databases in dir (files that have a ".dat" index beside them, in
/// name order), concatenated. Fortunes stay separated by their "%" lines; terminal
/// overstrike sequences (x BACKSPACE x) are reduced to the final character and other control
/// characters except newline and tab are dropped. Throws Error (with the apt-get command)
/// if there is none.
std::string read_fortunes(const std::string& dir = kFortunesDebianDir);

}  // namespace neural_arch::data

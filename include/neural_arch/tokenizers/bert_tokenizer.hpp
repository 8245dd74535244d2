// BERT's WordPiece tokenizer, built from a Hugging Face `tokenizer.json`.
//
// Reproduces the `tokenizers` package's pipeline for BertNormalizer + BertPreTokenizer +
// WordPiece + the [CLS] A [SEP] template, id for id (tests/test_bert_tokenizer.cpp checks every
// line of Debian's fortunes corpus, every code point of planes 0-3 and a set of hard strings):
//   1. special tokens ([CLS], [MASK], ...) are cut out of the raw text first and kept whole;
//   2. normalizer: drop NUL, U+FFFD and "other" characters (Cc/Cf/Cn/Co/Cs, except \t \n \r),
//      turn whitespace into ' ', put spaces around CJK ideographs, strip accents (NFD, then
//      drop Mn) and lowercase each character on its own (full mapping, no final-sigma context);
//   3. pre-tokenizer: split on whitespace, then isolate each punctuation character (ASCII
//      punctuation or Unicode P*);
//   4. WordPiece: greedy longest match with "##" continuations; a word longer than
//      max_input_chars_per_word characters, or one with no complete match, becomes [UNK].
// Unicode properties come from ICU.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "neural_arch/tensor.hpp"

namespace neural_arch::tokenizers {

/// A padded batch: int64 tensors of shape [batch, longest], like a `transformers` tokenizer's
/// output with padding=True. attention_mask is 1 on real tokens and 0 on padding.
struct BatchEncoding {
  Tensor input_ids;
  Tensor attention_mask;
  Tensor token_type_ids;
};

class BertTokenizer {
 public:
  /// Reads a tokenizer.json whose model is WordPiece (normalizer BertNormalizer or absent,
  /// pre-tokenizer BertPreTokenizer). The file's truncation max_length becomes the default
  /// truncation; its padding section is ignored (encode_batch pads to the longest sequence).
  static BertTokenizer from_file(const std::string& tokenizer_json_path);
  /// from_file(model_dir + "/tokenizer.json").
  static BertTokenizer from_pretrained(const std::string& model_dir);

  BertTokenizer(BertTokenizer&&) noexcept;
  BertTokenizer& operator=(BertTokenizer&&) noexcept;
  ~BertTokenizer();

  /// Token ids of one UTF-8 text, [CLS] and [SEP] included, truncated (on the right) so that
  /// the result has at most truncation() ids. Throws on text that is not valid UTF-8.
  std::vector<int64_t> encode(std::string_view text) const;
  /// encode() of each text, padded with the pad id to the longest one.
  BatchEncoding encode_batch(const std::vector<std::string>& texts) const;

  /// Maximum ids per sequence (special tokens included); 0 means no truncation.
  int64_t truncation() const;
  /// Sets the maximum ids per sequence (>= 2, the special tokens), or 0 for no truncation.
  void set_truncation(int64_t max_length);

  int64_t vocab_size() const;
  /// The id of a vocabulary entry; -1 when absent.
  int64_t token_to_id(std::string_view token) const;
  /// The vocabulary entry of an id; throws when out of range.
  const std::string& id_to_token(int64_t id) const;
  int64_t pad_id() const;
  int64_t cls_id() const;
  int64_t sep_id() const;
  int64_t unk_id() const;

 private:
  struct Impl;
  explicit BertTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace neural_arch::tokenizers

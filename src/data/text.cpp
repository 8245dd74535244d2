#include "neural_arch/data/text.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/random_index.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::data {

namespace {
std::string byte_desc(unsigned char c) {
  char buf[16];
  if (c >= 0x20 && c < 0x7f)
    std::snprintf(buf, sizeof buf, "'%c'", c);
  else
    std::snprintf(buf, sizeof buf, "0x%02x", c);
  return buf;
}
}  // namespace

CharVocab::CharVocab(const std::string& text) {
  std::array<bool, 256> seen{};
  for (unsigned char c : text) seen[c] = true;
  id_.fill(-1);
  for (int c = 0; c < 256; ++c)
    if (seen[c]) {
      id_[c] = static_cast<int16_t>(chars_.size());
      chars_ += static_cast<char>(c);
    }
  NA_CHECK(!chars_.empty(), "CharVocab", "cannot build a vocabulary from empty text");
}

std::vector<int64_t> CharVocab::encode(const std::string& s) const {
  std::vector<int64_t> ids(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    NA_CHECK(id_[c] >= 0, "CharVocab", "character ", byte_desc(c), " at position ", i,
             " is not in the vocabulary");
    ids[i] = id_[c];
  }
  return ids;
}

std::string CharVocab::decode(const std::vector<int64_t>& ids) const {
  std::string s(ids.size(), '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    NA_CHECK(ids[i] >= 0 && ids[i] < size(), "CharVocab", "id ", ids[i], " at position ", i,
             " is outside the vocabulary [0, ", size(), ")");
    s[i] = chars_[static_cast<size_t>(ids[i])];
  }
  return s;
}

std::string CharVocab::decode(const Tensor& ids) const {
  NA_CHECK(ids.defined() && is_integral(ids.dtype()), "CharVocab", "decode needs an integer tensor, got ",
           ids.defined() ? dtype_name(ids.dtype()) : "an undefined tensor");
  return decode(ids.to_vector<int64_t>());
}

CharTextDataset::CharTextDataset(const std::string& text, int64_t block_size)
    : CharTextDataset(text, block_size, CharVocab(text)) {}

CharTextDataset::CharTextDataset(const std::string& text, int64_t block_size, CharVocab vocab)
    : vocab_(std::move(vocab)), block_size_(block_size) {
  NA_CHECK(block_size > 0, "CharTextDataset", "block_size must be positive, got ", block_size);
  NA_CHECK(static_cast<int64_t>(text.size()) > block_size, "CharTextDataset", "text of ", text.size(),
           " characters is too short for block_size ", block_size, " (needs at least block_size + 1)");
  const std::vector<int64_t> ids = vocab_.encode(text);
  tokens_ = from_blob_copy(ids.data(), {static_cast<int64_t>(ids.size())}, kInt64);
}

int64_t CharTextDataset::size() const { return tokens_.size(0) - block_size_; }

Example CharTextDataset::get(int64_t index) const {
  NA_CHECK(index >= 0 && index < size(), "CharTextDataset", "index ", index, " is out of range for ", size(),
           " windows");
  return {tokens_.slice(0, index, index + block_size_), tokens_.slice(0, index + 1, index + 1 + block_size_)};
}

Example CharTextDataset::get_batch(const std::vector<int64_t>& indices) const {
  const int64_t b = static_cast<int64_t>(indices.size());
  Example out{empty({b, block_size_}, kInt64), empty({b, block_size_}, kInt64)};
  const auto* t = tokens_.data_ptr<int64_t>();
  auto* x = out.data.data_ptr<int64_t>();
  auto* y = out.target.data_ptr<int64_t>();
  const size_t row = static_cast<size_t>(block_size_) * sizeof(int64_t);
  for (int64_t k = 0; k < b; ++k) {
    const int64_t i = indices[static_cast<size_t>(k)];
    NA_CHECK(i >= 0 && i < size(), "CharTextDataset", "index ", i, " is out of range for ", size(),
             " windows");
    std::memcpy(x + k * block_size_, t + i, row);
    std::memcpy(y + k * block_size_, t + i + 1, row);
  }
  return out;
}

Example CharTextDataset::random_batch(int64_t batch_size, Generator& gen) const {
  NA_CHECK(batch_size > 0, "CharTextDataset", "batch_size must be positive, got ", batch_size);
  std::vector<int64_t> idx(static_cast<size_t>(batch_size));
  for (auto& i : idx)
    i = static_cast<int64_t>(detail::uniform_below(gen.engine(), static_cast<uint64_t>(size())));
  return get_batch(idx);
}

std::string read_fortunes(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string hint = "; install Debian's fortunes with `apt-get install fortunes-min` (or `fortunes`)";
  std::error_code ec;
  NA_CHECK(fs::is_directory(dir, ec), "read_fortunes", "'", dir, "' is not a directory", hint);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    // Debian adds "<name>.u8" symlinks to the same files; symlink_status skips them.
    if (!fs::is_regular_file(fs::symlink_status(e.path()))) continue;
    const fs::path p = e.path();
    if (p.extension() == ".dat") continue;
    if (fs::exists(fs::path(p.string() + ".dat"))) files.push_back(p);
  }
  NA_CHECK(!ec, "read_fortunes", "cannot list '", dir, "': ", ec.message());
  NA_CHECK(!files.empty(), "read_fortunes", "no fortune databases (files with a .dat index) in '", dir, "'",
           hint);
  std::sort(files.begin(), files.end());

  std::string out;
  for (const auto& p : files) {
    std::ifstream in(p, std::ios::binary);
    NA_CHECK(in.good(), "read_fortunes", "cannot read '", p.string(), "'");
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string raw = ss.str();
    for (unsigned char c : raw) {
      if (c == '\b') {
        if (!out.empty() && out.back() != '\n') out.pop_back();  // overstrike: the next byte replaces it
      } else if (c >= 0x20 || c == '\n' || c == '\t') {
        if (c != 0x7f) out += static_cast<char>(c);
      }
    }
    if (!out.empty() && out.back() != '\n') out += '\n';
  }
  return out;
}

}  // namespace neural_arch::data

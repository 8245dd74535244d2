// tokenizers::BertTokenizer against Hugging Face `tokenizers` (reference/gen_bert_tokenizer.py):
// identical ids on every line of Debian's fortunes corpus, on every code point of planes 0-3 and
// on hard strings. Needs the model (scripts/install_deps.sh --models) and the corpus (--data);
// without them the tests fail, saying what to install.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "neural_arch/data/text.hpp"
#include "neural_arch/models/model_dir.hpp"
#include "neural_arch/ops.hpp"
#include "neural_arch/tokenizers/bert_tokenizer.hpp"
#include "test_util.hpp"

namespace {

namespace na = neural_arch;
using na::tokenizers::BertTokenizer;

// The references are encoded without truncation.
const BertTokenizer& tokenizer() {
  static const BertTokenizer tok = [] {
    BertTokenizer t = BertTokenizer::from_pretrained(na::models::require_model_dir());
    t.set_truncation(0);
    return t;
  }();
  return tok;
}

std::vector<std::string> read_gz_lines(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error("cannot open " + path);
  std::string all;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
  gzclose(f);
  std::vector<std::string> lines;
  std::istringstream ss(all);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  return lines;
}

std::string unhex(std::string_view h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16));
  return out;
}

std::vector<int64_t> parse_ids(std::string_view s) {
  std::vector<int64_t> ids;
  std::istringstream ss{std::string(s)};
  for (int64_t v; ss >> v;) ids.push_back(v);
  return ids;
}

std::string show(const std::vector<int64_t>& ids) {
  std::string s;
  for (auto v : ids) s += std::to_string(v) + " ";
  return s;
}

// Compares one encode() with the reference ids, reporting at most a few mismatches in full.
void expect_ids(const std::string& text, const std::vector<int64_t>& want, int& mismatches,
                const std::string& where) {
  const auto got = tokenizer().encode(text);
  if (got == want) return;
  if (++mismatches <= 5)
    ADD_FAILURE() << where << ": text '" << text << "'\n  want " << show(want) << "\n  got  " << show(got);
}

const std::vector<std::string>& reference() {
  static const auto lines = read_gz_lines(std::string(NA_REFERENCE_DIR) + "/bert_tokenizer.txt.gz");
  return lines;
}

TEST(BertTokenizer, MatchesHuggingFaceOnHardStringsAndEveryCodePoint) {
  int mismatches = 0, checked = 0;
  for (const auto& line : reference()) {
    if (line[0] != 'S') continue;
    const size_t colon = line.find(" : ");
    expect_ids(unhex(std::string_view(line).substr(2, colon - 2)),
               parse_ids(std::string_view(line).substr(colon + 3)), mismatches,
               "S record " + std::to_string(checked));
    ++checked;
  }
  EXPECT_GT(checked, 2000);
  EXPECT_EQ(mismatches, 0) << "of " << checked << " strings";
}

TEST(BertTokenizer, TruncatesLikeHuggingFace) {
  BertTokenizer tok = BertTokenizer::from_pretrained(na::models::require_model_dir());
  EXPECT_EQ(tok.truncation(), 128);  // tokenizer.json's truncation section
  int checked = 0;
  for (const auto& line : reference()) {
    if (line[0] != 'T') continue;
    std::istringstream ss(line.substr(2));
    int64_t max_len = 0;
    std::string hex;
    ss >> max_len >> hex;
    tok.set_truncation(max_len);
    const auto want = parse_ids(std::string_view(line).substr(line.find(" : ") + 3));
    const std::string text = unhex(hex);
    EXPECT_EQ(tok.encode(text), want) << "max_length " << max_len << " text '" << text << "'";
    ++checked;
  }
  EXPECT_GT(checked, 100);
  EXPECT_THROW(tok.set_truncation(1), na::Error);
}

TEST(BertTokenizer, MatchesHuggingFaceOnEveryFortuneLine) {
  namespace fs = std::filesystem;
  const auto& ref = reference();
  int mismatches = 0, files = 0;
  size_t lines_checked = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (ref[i][0] != 'F') continue;
    std::istringstream ss(ref[i].substr(2));
    std::string name, crc_hex;
    size_t n = 0;
    ss >> name >> n >> crc_hex;
    const fs::path path = fs::path(na::data::kFortunesDebianDir) / name;
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in.good()) << "cannot read " << path
                           << "; install the corpus with scripts/install_deps.sh --data";
    std::ostringstream raw;
    raw << in.rdbuf();
    const std::string bytes = raw.str();
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
    ASSERT_EQ(crc, std::stoul(crc_hex, nullptr, 16))
        << path << " differs from the file the reference was made from";
    std::vector<std::string> lines;
    std::istringstream ls(bytes);
    for (std::string l; std::getline(ls, l);) lines.push_back(l);
    ASSERT_EQ(lines.size(), n) << path;
    ASSERT_LE(i + n, ref.size() - 1);
    for (size_t k = 0; k < n; ++k)
      expect_ids(lines[k], parse_ids(ref[i + 1 + k]), mismatches, name + ":" + std::to_string(k + 1));
    lines_checked += n;
    ++files;
  }
  EXPECT_GT(files, 30);
  EXPECT_GT(lines_checked, size_t{60000});
  EXPECT_EQ(mismatches, 0) << "of " << lines_checked << " lines";
}

TEST(BertTokenizer, BatchPadsToTheLongestWithAMask) {
  const auto& tok = tokenizer();
  const std::vector<std::string> texts{"a stitch in time", "hello", "Unbelievable tokenization, isn't it?"};
  const auto batch = tok.encode_batch(texts);
  const int64_t longest = static_cast<int64_t>(tok.encode(texts[2]).size());
  ASSERT_EQ(batch.input_ids.shape(), (na::Shape{3, longest}));
  ASSERT_EQ(batch.input_ids.dtype(), na::kInt64);
  for (int64_t b = 0; b < 3; ++b) {
    const auto ids = tok.encode(texts[static_cast<size_t>(b)]);
    for (int64_t j = 0; j < longest; ++j) {
      const bool real = j < static_cast<int64_t>(ids.size());
      EXPECT_EQ(batch.input_ids.data_ptr<int64_t>()[b * longest + j],
                real ? ids[static_cast<size_t>(j)] : tok.pad_id());
      EXPECT_EQ(batch.attention_mask.data_ptr<int64_t>()[b * longest + j], real ? 1 : 0);
      EXPECT_EQ(batch.token_type_ids.data_ptr<int64_t>()[b * longest + j], 0);
    }
  }
  EXPECT_EQ(tok.id_to_token(tok.cls_id()), "[CLS]");
  EXPECT_EQ(tok.token_to_id("[SEP]"), tok.sep_id());
  EXPECT_EQ(tok.token_to_id("no-such-token"), -1);
  EXPECT_THROW(tok.id_to_token(tok.vocab_size()), na::Error);
  EXPECT_THROW(tok.encode("bad \xff utf-8"), na::Error);
  EXPECT_THROW(tok.encode_batch({}), na::Error);
}

TEST(BertTokenizer, MissingModelSaysHowToInstallIt) {
  const std::string msg = na_test::error_of([] { na::models::require_model_dir("/nonexistent/model"); });
  EXPECT_NE(msg.find("install_deps.sh --models"), std::string::npos) << msg;
}

}  // namespace

#include "neural_arch/tokenizers/bert_tokenizer.hpp"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "io/json.hpp"
#include "neural_arch/error.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::tokenizers {

namespace {

constexpr const char* kOp = "BertTokenizer";

// Heterogeneous lookup, so a word piece is looked up from a string_view without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>>;

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  NA_CHECK(in.good(), kOp, "cannot read '", path, "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const io::json::Value& member(const io::json::Value& obj, std::string_view key, io::json::Value::Kind kind,
                              const std::string& path) {
  const io::json::Value* v = obj.kind == io::json::Value::Kind::object ? obj.find(key) : nullptr;
  NA_CHECK(v != nullptr && v->kind == kind, kOp, "'", path, "': expected member '", key, "' of kind ",
           io::json::Value{kind}.kind_name(),
           v ? std::string(" (found ") + v->kind_name() + ")" : " (absent)");
  return *v;
}

int64_t to_int(const io::json::Value& v, std::string_view what, const std::string& path) {
  uint64_t u = 0;
  NA_CHECK(io::json::to_uint64(v, u) && u < (uint64_t{1} << 31), kOp, "'", path, "': ", what,
           " must be a non-negative integer below 2^31, got '", v.text, "'");
  return static_cast<int64_t>(u);
}

bool flag(const io::json::Value& obj, std::string_view key, bool fallback) {
  const io::json::Value* v = obj.find(key);
  return v != nullptr && v->kind == io::json::Value::Kind::boolean ? v->boolean : fallback;
}

// HF tokenizers' BertNormalizer / BertPreTokenizer character classes. Its "other", "nonspacing
// mark" and "punctuation" tests come from the Rust crate unicode_categories, whose tables are
// Unicode 8.0's: a character assigned later is unassigned there (none of the three), and the
// few characters whose category changed since 8.0 keep their 8.0 category. Whitespace, case
// mapping and NFD follow current Unicode (Rust's std), as ICU does.
UCharCategory unicode8_category(UChar32 c) {
  switch (c) {
    case 0x1734: return U_NON_SPACING_MARK;  // Mc since Unicode 14
    case 0x1885:
    case 0x1886: return U_OTHER_LETTER;            // Mn since Unicode 9
    case 0xA9BD: return U_COMBINING_SPACING_MARK;  // Mn since Unicode 12
    case 0x111C9: return U_OTHER_PUNCTUATION;      // Mn since Unicode 11
    case 0x166D: return U_OTHER_PUNCTUATION;       // So since Unicode 12
    default: break;
  }
  UVersionInfo age;
  u_charAge(c, age);
  if (age[0] > 8 || (age[0] == 0 && age[1] == 0)) return U_UNASSIGNED;
  return static_cast<UCharCategory>(u_charType(c));
}
bool is_bert_whitespace(UChar32 c) { return c == '\t' || c == '\n' || c == '\r' || u_isUWhiteSpace(c); }
bool is_bert_control(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  // Cc Cf Cs Co; unassigned code points (Cn) stay, as in HF tokenizers (they become [UNK]).
  return (U_MASK(unicode8_category(c)) & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CS_MASK | U_GC_CO_MASK)) != 0;
}
bool is_chinese_char(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}
bool is_bert_punctuation(UChar32 c) {
  if (c < 0x80)
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return (U_MASK(unicode8_category(c)) & U_GC_P_MASK) != 0;
}

void append_utf8(std::string& out, UChar32 c) {
  char buf[4];
  int32_t n = 0;
  UBool error = false;
  U8_APPEND(reinterpret_cast<uint8_t*>(buf), n, 4, c, error);
  out.append(buf, static_cast<size_t>(n));
}

}  // namespace

struct BertTokenizer::Impl {
  Vocab vocab;
  std::vector<std::string> id_to_token;
  std::vector<std::pair<std::string, int64_t>> specials;  // added tokens matched in raw text
  int64_t unk = -1, cls = -1, sep = -1, pad = 0;
  int64_t max_chars_per_word = 100;
  std::string prefix = "##";
  int64_t truncation = 0;
  bool clean_text = true, chinese_chars = true, strip_accents = true, lowercase = true;
  const icu::Normalizer2* nfd = nullptr;

  // Steps 2 and 3 of the header: normalized words of one special-token-free segment.
  void words(std::string_view text, std::vector<std::string>& out) const;
  void wordpiece(const std::string& word, std::vector<int64_t>& ids) const;
  void encode_segment(std::string_view text, std::vector<int64_t>& ids) const;
};

void BertTokenizer::Impl::words(std::string_view text, std::vector<std::string>& out) const {
  // clean_text and CJK spacing, straight from the UTF-8 input.
  icu::UnicodeString s;
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const int32_t len = static_cast<int32_t>(text.size());
  for (int32_t i = 0; i < len;) {
    UChar32 c;
    U8_NEXT(p, i, len, c);
    if (clean_text) {
      if (c == 0 || c == 0xFFFD || is_bert_control(c)) continue;
      if (is_bert_whitespace(c)) c = ' ';
    }
    if (chinese_chars && is_chinese_char(c)) {
      s.append(UChar32{' '}).append(c).append(UChar32{' '});
    } else {
      s.append(c);
    }
  }
  if (strip_accents) {
    UErrorCode err = U_ZERO_ERROR;
    icu::UnicodeString d = nfd->normalize(s, err);
    NA_CHECK(U_SUCCESS(err), kOp, "NFD normalization failed: ", u_errorName(err));
    s.remove();
    for (int32_t i = 0; i < d.length(); i = d.moveIndex32(i, 1)) {
      const UChar32 c = d.char32At(i);
      if (unicode8_category(c) != U_NON_SPACING_MARK) s.append(c);
    }
  }
  // Lowercase each character alone (HF maps char by char: Σ is always σ), then split.
  std::string word;
  auto flush = [&] {
    if (!word.empty()) out.push_back(std::move(word));
    word.clear();
  };
  auto emit = [&](UChar32 c) {
    if (u_isUWhiteSpace(c)) {
      flush();
    } else if (is_bert_punctuation(c)) {
      flush();
      append_utf8(word, c);
      flush();
    } else {
      append_utf8(word, c);
    }
  };
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) {
    const UChar32 c = s.char32At(i);
    if (!lowercase) {
      emit(c);
    } else if (c < 0x80) {
      emit(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    } else {
      icu::UnicodeString one(c);
      one.toLower(icu::Locale::getRoot());
      for (int32_t j = 0; j < one.length(); j = one.moveIndex32(j, 1)) emit(one.char32At(j));
    }
  }
  flush();
}

void BertTokenizer::Impl::wordpiece(const std::string& word, std::vector<int64_t>& ids) const {
  // Character boundaries (byte offsets) of the word; word.size() closes the last one.
  std::vector<size_t> bounds;
  const auto* p = reinterpret_cast<const uint8_t*>(word.data());
  const int32_t len = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < len;) {
    bounds.push_back(static_cast<size_t>(i));
    U8_FWD_1(p, i, len);
  }
  if (static_cast<int64_t>(bounds.size()) > max_chars_per_word) {
    ids.push_back(unk);
    return;
  }
  bounds.push_back(word.size());
  const size_t first_piece = ids.size();
  std::string candidate;
  size_t start = 0;  // index into bounds
  while (start + 1 < bounds.size()) {
    size_t end = bounds.size() - 1;
    int64_t found = -1;
    for (; end > start; --end) {
      const std::string_view piece(word.data() + bounds[start], bounds[end] - bounds[start]);
      Vocab::const_iterator it;
      if (start == 0) {
        it = vocab.find(piece);
      } else {
        candidate.assign(prefix).append(piece);
        it = vocab.find(candidate);
      }
      if (it != vocab.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {
      ids.resize(first_piece);
      ids.push_back(unk);
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

void BertTokenizer::Impl::encode_segment(std::string_view text, std::vector<int64_t>& ids) const {
  std::vector<std::string> ws;
  words(text, ws);
  for (const auto& w : ws) wordpiece(w, ids);
}

BertTokenizer::BertTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BertTokenizer::BertTokenizer(BertTokenizer&&) noexcept = default;
BertTokenizer& BertTokenizer::operator=(BertTokenizer&&) noexcept = default;
BertTokenizer::~BertTokenizer() = default;

BertTokenizer BertTokenizer::from_pretrained(const std::string& model_dir) {
  return from_file(model_dir + "/tokenizer.json");
}

BertTokenizer BertTokenizer::from_file(const std::string& path) {
  using Kind = io::json::Value::Kind;
  const std::string text = read_text_file(path);
  const io::json::Value root = io::json::parse(text, kOp, "tokenizer.json");
  auto impl = std::make_unique<Impl>();

  const auto& model = member(root, "model", Kind::object, path);
  const auto& type = member(model, "type", Kind::string, path);
  NA_CHECK(type.text == "WordPiece", kOp, "'", path, "': model type is '", type.text,
           "', only WordPiece is supported");
  const auto& vocab = member(model, "vocab", Kind::object, path);
  impl->id_to_token.resize(vocab.members.size());
  std::vector<bool> seen(vocab.members.size(), false);
  for (const auto& [tok, idv] : vocab.members) {
    const int64_t id = to_int(idv, "a vocabulary id", path);
    NA_CHECK(static_cast<size_t>(id) < seen.size() && !seen[static_cast<size_t>(id)], kOp, "'", path,
             "': vocabulary ids must be 0..", seen.size() - 1, " each once; '", tok, "' has id ", id);
    seen[static_cast<size_t>(id)] = true;
    impl->id_to_token[static_cast<size_t>(id)] = tok;
    impl->vocab.emplace(tok, id);
  }
  const auto& unk = member(model, "unk_token", Kind::string, path);
  const auto it = impl->vocab.find(unk.text);
  NA_CHECK(it != impl->vocab.end(), kOp, "'", path, "': unk_token '", unk.text, "' is not in the vocabulary");
  impl->unk = it->second;
  if (const auto* v = model.find("continuing_subword_prefix"); v && v->kind == Kind::string)
    impl->prefix = v->text;
  if (const auto* v = model.find("max_input_chars_per_word"); v && v->kind == Kind::number)
    impl->max_chars_per_word = to_int(*v, "max_input_chars_per_word", path);

  if (const auto* n = root.find("normalizer"); n && n->kind == Kind::object) {
    const auto& nt = member(*n, "type", Kind::string, path);
    NA_CHECK(nt.text == "BertNormalizer", kOp, "'", path, "': normalizer '", nt.text,
             "' is not supported (only BertNormalizer)");
    impl->clean_text = flag(*n, "clean_text", true);
    impl->chinese_chars = flag(*n, "handle_chinese_chars", true);
    impl->lowercase = flag(*n, "lowercase", true);
    impl->strip_accents = flag(*n, "strip_accents", impl->lowercase);  // null: follows lowercase
  } else {
    impl->clean_text = impl->chinese_chars = impl->strip_accents = impl->lowercase = false;
  }
  if (const auto* pt = root.find("pre_tokenizer"); pt && pt->kind == Kind::object) {
    const auto& ptt = member(*pt, "type", Kind::string, path);
    NA_CHECK(ptt.text == "BertPreTokenizer", kOp, "'", path, "': pre_tokenizer '", ptt.text,
             "' is not supported (only BertPreTokenizer)");
  }
  if (const auto* added = root.find("added_tokens"); added && added->kind == Kind::array) {
    for (const auto& a : added->items) {
      const auto& content = member(a, "content", Kind::string, path);
      NA_CHECK(!content.text.empty() && !flag(a, "normalized", false), kOp, "'", path, "': added token '",
               content.text, "' must be non-empty and not normalized");
      impl->specials.emplace_back(content.text,
                                  to_int(member(a, "id", Kind::number, path), "an added token id", path));
    }
  }
  auto vocab_id = [&](const char* tok) {
    const auto i = impl->vocab.find(std::string_view(tok));
    NA_CHECK(i != impl->vocab.end(), kOp, "'", path, "': the vocabulary has no ", tok);
    return i->second;
  };
  impl->cls = vocab_id("[CLS]");
  impl->sep = vocab_id("[SEP]");
  impl->pad = vocab_id("[PAD]");
  if (const auto* t = root.find("truncation"); t && t->kind == Kind::object)
    impl->truncation = to_int(member(*t, "max_length", Kind::number, path), "truncation max_length", path);
  UErrorCode err = U_ZERO_ERROR;
  impl->nfd = icu::Normalizer2::getNFDInstance(err);
  NA_CHECK(U_SUCCESS(err), kOp, "ICU's NFD normalizer is unavailable: ", u_errorName(err));
  BertTokenizer tok(std::move(impl));
  if (tok.impl_->truncation != 0) tok.set_truncation(tok.impl_->truncation);
  return tok;
}

std::vector<int64_t> BertTokenizer::encode(std::string_view text) const {
  NA_CHECK(io::json::is_valid_utf8(text), kOp, "encode: the text is not valid UTF-8");
  const Impl& m = *impl_;
  std::vector<int64_t> ids{m.cls};
  // Special tokens are matched in the raw text, leftmost first, the longest at one position.
  size_t pos = 0, segment = 0;
  while (pos < text.size()) {
    const std::pair<std::string, int64_t>* hit = nullptr;
    for (const auto& sp : m.specials)
      if (text.compare(pos, sp.first.size(), sp.first) == 0 && (!hit || sp.first.size() > hit->first.size()))
        hit = &sp;
    if (!hit) {
      ++pos;
      continue;
    }
    m.encode_segment(text.substr(segment, pos - segment), ids);
    ids.push_back(hit->second);
    pos += hit->first.size();
    segment = pos;
  }
  m.encode_segment(text.substr(segment), ids);
  if (m.truncation > 0 && static_cast<int64_t>(ids.size()) + 1 > m.truncation)
    ids.resize(static_cast<size_t>(m.truncation - 1));
  ids.push_back(m.sep);
  return ids;
}

BatchEncoding BertTokenizer::encode_batch(const std::vector<std::string>& texts) const {
  NA_CHECK(!texts.empty(), kOp, "encode_batch: no texts");
  std::vector<std::vector<int64_t>> all;
  all.reserve(texts.size());
  size_t longest = 0;
  for (const auto& t : texts) {
    all.push_back(encode(t));
    longest = std::max(longest, all.back().size());
  }
  const Shape shape{static_cast<int64_t>(texts.size()), static_cast<int64_t>(longest)};
  BatchEncoding out{full(shape, impl_->pad, kInt64), zeros(shape, kInt64), zeros(shape, kInt64)};
  auto* ids = out.input_ids.data_ptr<int64_t>();
  auto* mask = out.attention_mask.data_ptr<int64_t>();
  for (size_t b = 0; b < all.size(); ++b) {
    std::copy(all[b].begin(), all[b].end(), ids + b * longest);
    std::fill_n(mask + b * longest, all[b].size(), int64_t{1});
  }
  return out;
}

int64_t BertTokenizer::truncation() const { return impl_->truncation; }
void BertTokenizer::set_truncation(int64_t max_length) {
  NA_CHECK(max_length == 0 || max_length >= 2, kOp, "set_truncation: max_length must be 0 (none) or >= 2 ",
           "(room for [CLS] and [SEP]), got ", max_length);
  impl_->truncation = max_length;
}
int64_t BertTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_to_token.size()); }
int64_t BertTokenizer::token_to_id(std::string_view token) const {
  const auto it = impl_->vocab.find(token);
  return it == impl_->vocab.end() ? -1 : it->second;
}
const std::string& BertTokenizer::id_to_token(int64_t id) const {
  NA_CHECK(id >= 0 && id < vocab_size(), kOp, "id_to_token: id ", id, " is outside [0, ", vocab_size(), ")");
  return impl_->id_to_token[static_cast<size_t>(id)];
}
int64_t BertTokenizer::pad_id() const { return impl_->pad; }
int64_t BertTokenizer::cls_id() const { return impl_->cls; }
int64_t BertTokenizer::sep_id() const { return impl_->sep; }
int64_t BertTokenizer::unk_id() const { return impl_->unk; }

}  // namespace neural_arch::tokenizers

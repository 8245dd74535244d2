#!/usr/bin/python3
"""Writes the Hugging Face `tokenizers` token ids that tests/test_bert_tokenizer.cpp checks
tokenizers::BertTokenizer against (data/bert_tokenizer.txt.gz).

`tokenizers` comes from PyPI into a throw-away venv; it is never a dependency of neural_arch:

    /usr/bin/python3 -m venv --system-site-packages /tmp/tokvenv
    /tmp/tokvenv/bin/pip install tokenizers==0.23.3
    scripts/install_deps.sh --models --data     # the model's tokenizer.json and the corpus
    /tmp/tokvenv/bin/python tests/reference/gen_bert_tokenizer.py

Inputs:
  * every line of every Debian fortunes database (/usr/share/games/fortunes/<name> that has a
    <name>.dat index), read as raw UTF-8 (backspaces and other control bytes kept);
  * hand-picked hard strings (accents, CJK, emoji, control characters, words past 100
    characters, combining marks, Turkish dotted I, final sigma, special-token text);
  * every code point c (surrogates excepted) of planes 0-3 and 14 and the first block of 15, as
    space-separated words "a<c>a", 128 per string (so a dropped, kept, split-off or decomposed
    character each gives different ids).

The ids are those of `encode(text)` without padding and without truncation, [CLS]/[SEP]
included, except the `T` records, which are truncated to the stated max_length.

File format: gzip-compressed text, one record per line, ids space separated:
    S <utf-8 hex> : <ids>            a string encoded without truncation
    T <max_length> <utf-8 hex> : <ids>   the same with truncation to max_length
    F <name> <lines> <crc32 of the file's bytes, hex>   then <lines> lines of ids, one per
                                     line of the file (split on '\\n', a final empty piece dropped)
"""
import gzip
import os
import sys
import zlib

from tokenizers import Tokenizer

MODEL_DIR = os.environ.get("NA_MODEL_DIR",
                           os.path.expanduser("~/.cache/neural_arch/models/all-MiniLM-L6-v2"))
FORTUNES = "/usr/share/games/fortunes"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bert_tokenizer.txt.gz")

HARD = [
    "", " ", "\t\n\r ", "Hello, World!", "HELLO world", "naïve café résumé Ångström façade",
    "Crème brûlée à la mode", "e\u0301 e\u0300\u0323 a\u030a\u0327", "\u0301start with a mark",
    "İstanbul ıi İI", "ΟΔΥΣΣΕΥΣ Σίσυφος ΣΑΣ σς", "Straße STRASSE ß ẞ", "ﬁnance ﬀ ﬃ Ⅻ ①",
    "中文分词测试：我爱北京天安门。", "日本語のテキスト、カタカナ。", "한국어 텍스트입니다", "𠀀𠀁 𪜀 丽",
    "emoji 😀😃 👍🏽 👨‍👩‍👧 🥰 🇫🇷", "control\x00chars\x01\x07\x1b[0m\x7f\x85\u200b\u200d\ufeff\ufffd",
    "soft\u00adhyphen non\u00a0breaking\u2003em\u3000ideographic\u2028line\u2029para",
    "tab\tsep\x0bvt\x0cff\x1cfs\x1fus", "a" * 100, "b" * 101, "x" * 99 + "é", "ab" * 300,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "unaffable unbelievably tokenization", "don't stop-believing (really) [sic] {ok} <tag/>",
    "1,234.56 $100 €50 £20 ¥ 100% #hash @user a_b", "¿Qué? ¡Sí! «quote» „German“ “curly” ‘single’",
    "dash – em — ellipsis … bullet • section § pilcrow ¶ middle·dot", "x\u2019s it\u02bcs",
    "[CLS] [SEP] [MASK] [PAD] [UNK] [mask] [CLS][SEP]x[MASK]y", "Ελληνικά Русский текст עברית العربية",
    "हिन्दी भाषा தமிழ் ไทย ภาษา", "Tiếng Việt có dấu", "mixed日本english中文русский",
    "\U0001d400\U0001d401 math bold 𝔸𝔹", "ＦＵＬＬＷＩＤＴＨ ｆｕｌｌ", "Ǆ ǅ ǆ ǈ Ǌ", "ﬀ\u0308",
    "ÅÄÖ åäö ØÆ øæ Ł ł Đ đ", "zero\u200cwidth non-joiner", "\U000e0041 tag char \U000f0000 pua",
    "ⓐⓑⓒ ⒜ ㊀ ㍿", "the quick brown fox jumps over the lazy dog " * 40,
]


def hexs(s):
    return s.encode("utf-8").hex()


def ids_line(enc):
    return " ".join(map(str, enc.ids))


def code_point_blocks():
    planes = list(range(0, 0x40000)) + list(range(0xE0000, 0xE1000)) + list(range(0xF0000, 0xF0080))
    cps = [c for c in planes if not 0xD800 <= c <= 0xDFFF]
    for i in range(0, len(cps), 128):
        yield " ".join("a" + chr(c) + "a" for c in cps[i:i + 128])


def main():
    tok = Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    out = []
    strings = HARD + list(code_point_blocks())
    for s, e in zip(strings, tok.encode_batch(strings)):
        out.append(f"S {hexs(s)} : {ids_line(e)}")
    for max_len in (8, 16, 128):
        tok.enable_truncation(max_len)
        for s in HARD:
            out.append(f"T {max_len} {hexs(s)} : {ids_line(tok.encode(s))}")
    tok.no_truncation()
    names = sorted(n for n in os.listdir(FORTUNES)
                   if os.path.isfile(os.path.join(FORTUNES, n)) and not os.path.islink(os.path.join(FORTUNES, n))
                   and not n.endswith(".dat") and os.path.exists(os.path.join(FORTUNES, n + ".dat")))
    if not names:
        sys.exit(f"no fortune databases in {FORTUNES}; run scripts/install_deps.sh --data")
    for n in names:
        raw = open(os.path.join(FORTUNES, n), "rb").read()
        lines = raw.decode("utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        out.append(f"F {n} {len(lines)} {zlib.crc32(raw):08x}")
        out.extend(ids_line(e) for e in tok.encode_batch(lines))
    with gzip.GzipFile(OUT, "wb", compresslevel=9, mtime=0) as f:
        f.write(("\n".join(out) + "\n").encode())
    print(f"wrote {OUT}: {len(out)} records, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()

// A small strict JSON reader and string writer for file headers (safetensors).
//
// Written here rather than taken from nlohmann-json: safetensors headers only need objects,
// arrays, strings and non-negative integers, and a loader of untrusted files wants exactly
// the checks below (nesting depth limit, duplicate keys rejected, UTF-8 validated, integers
// parsed without going through double) with byte positions in its messages. That is a few
// hundred lines with no new build dependency.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace neural_arch::io::json {

struct Value {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::string text;  // a string's value, or a number's literal text
  std::vector<Value> items;
  std::vector<std::pair<std::string, Value>> members;  // file order; keys are unique

  const Value* find(std::string_view key) const;
  const char* kind_name() const;
};

/// Parses one JSON value that spans all of `text` (surrounding whitespace allowed).
/// Throws Error("[op] <what> is not valid JSON: <reason> at byte N").
Value parse(std::string_view text, const char* op, const char* what = "header");

/// A number value that is a plain non-negative integer ("12", not "1.2e1", "-0" or "012")
/// below 2^64; false otherwise.
bool to_uint64(const Value& v, uint64_t& out);

/// True when s is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);

/// Appends s as a quoted JSON string (control characters, quote and backslash escaped).
void append_string(std::string& out, std::string_view s);

}  // namespace neural_arch::io::json

// neural_arch::Error: the one exception type for user mistakes.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace neural_arch {

/// Thrown for every user error (bad shapes, dtypes, indices, files). The message
/// always starts with the op name in brackets, e.g. "[matmul] shapes (4,3) and (5,2) ...".
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <class... Args> [[noreturn]] void throw_error(const char* op, Args&&... args) {
  std::ostringstream os;
  os << '[' << op << "] ";
  (os << ... << std::forward<Args>(args));
  throw Error(os.str());
}
}  // namespace detail

}  // namespace neural_arch

/// NA_CHECK(cond, "op", parts...): throws neural_arch::Error("[op] parts...") when cond is false.
#define NA_CHECK(cond, op, ...)                                       \
  do {                                                                \
    if (!(cond)) ::neural_arch::detail::throw_error(op, __VA_ARGS__); \
  } while (0)

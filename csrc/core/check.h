// Error handling: exception types that the bindings translate to Python's ValueError,
// TypeError and IndexError, and EMBER_CHECK for argument validation with readable messages.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember {

struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };
struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };
struct NotImplementedError : std::runtime_error { using std::runtime_error::runtime_error; };

// Shapes print as [2, 3]. Declared before append() so that its unqualified lookup finds it.
inline std::ostream& operator<<(std::ostream& os, const std::vector<int64_t>& v) {
  os << '[';
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  return os << ']';
}

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<<.
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

}  // namespace ember

#define EMBER_CHECK(cond, ExcType, ...)                     \
  do {                                                      \
    if (!(cond)) throw ::ember::ExcType(::ember::str(__VA_ARGS__)); \
  } while (0)

// Internal invariant: a failure is a bug in ember, not in the caller's input.
#define EMBER_ASSERT(cond)                                                                 \
  do {                                                                                     \
    if (!(cond))                                                                           \
      throw std::logic_error(::ember::str("ember internal error: ", #cond, " at ", __FILE__, \
                                          ":", __LINE__));                                 \
  } while (0)

// MXGRID_CHECK: aborts with a message when an invariant (a bug, not bad input) is broken.
//
//   MXGRID_CHECK(offset <= size) << "offset " << offset << " past " << size;
//
// Bad input is never CHECKed: it returns an absl::Status. The message goes to stderr and to
// the spdlog default logger before abort(), so a crash in a server still leaves a reason.
#ifndef MXGRID_LIBS_BASE_CHECK_H_
#define MXGRID_LIBS_BASE_CHECK_H_

#include <sstream>

namespace mxgrid::base::internal {

// Collects the message of a failed check; its destructor reports and aborts.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  CheckFailure(const CheckFailure&) = delete;
  CheckFailure& operator=(const CheckFailure&) = delete;
  [[noreturn]] ~CheckFailure();

  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

// Makes `cond ? (void)0 : Voidify() & stream` well-typed.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace mxgrid::base::internal

#define MXGRID_CHECK(cond)                                     \
  (cond) ? (void)0                                             \
         : ::mxgrid::base::internal::Voidify() &               \
               ::mxgrid::base::internal::CheckFailure(         \
                   __FILE__, __LINE__, #cond).stream()

#endif  // MXGRID_LIBS_BASE_CHECK_H_

// The two status-propagation macros mxgrid uses (Debian's Abseil ships neither).
//
//   MXGRID_RETURN_IF_ERROR(DoThing());            // returns the Status if not OK
//   MXGRID_ASSIGN_OR_RETURN(NDArray a, Make());   // unwraps a StatusOr or returns its Status
//
// Both work in functions returning absl::Status or absl::StatusOr<T>.
#ifndef MXGRID_LIBS_BASE_STATUS_MACROS_H_
#define MXGRID_LIBS_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MXGRID_RETURN_IF_ERROR(expr)                        \
  do {                                                      \
    ::absl::Status mxgrid_status_ = (expr);                 \
    if (!mxgrid_status_.ok()) return mxgrid_status_;        \
  } while (false)

#define MXGRID_STATUS_CONCAT_INNER_(a, b) a##b
#define MXGRID_STATUS_CONCAT_(a, b) MXGRID_STATUS_CONCAT_INNER_(a, b)

#define MXGRID_ASSIGN_OR_RETURN(lhs, expr) \
  MXGRID_ASSIGN_OR_RETURN_IMPL_(           \
      MXGRID_STATUS_CONCAT_(mxgrid_statusor_, __LINE__), lhs, expr)

#define MXGRID_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // MXGRID_LIBS_BASE_STATUS_MACROS_H_

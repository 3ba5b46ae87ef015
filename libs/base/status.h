// Status helpers shared by every library. Libraries return absl::Status / absl::StatusOr
// with the most specific canonical code (see STYLE.md); these helpers build the common
// messages so that they read the same everywhere.
#ifndef MXGRID_LIBS_BASE_STATUS_H_
#define MXGRID_LIBS_BASE_STATUS_H_

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace mxgrid {

// Returns `status` with `context` prepended to its message ("context: message"), same code.
// OK stays OK.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

// The canonical code's name as gRPC spells it, e.g. "INVALID_ARGUMENT".
absl::string_view StatusCodeName(absl::StatusCode code);

}  // namespace mxgrid

#endif  // MXGRID_LIBS_BASE_STATUS_H_

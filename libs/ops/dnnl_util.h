// What every oneDNN-backed kernel shares: the CPU engine (one per thread), plain memory
// objects wrapping buffers the caller owns, and one form for oneDNN's errors.
//
// Thread-safety: CpuEngine is thread_local; Mem objects are per call.
#ifndef MXGRID_LIBS_OPS_DNNL_UTIL_H_
#define MXGRID_LIBS_OPS_DNNL_UTIL_H_

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace mxgrid::ops::dnnl_util {

inline dnnl::engine& CpuEngine() {
  thread_local dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// A oneDNN memory over `p` (not owned; oneDNN's API takes it non-const even for inputs).
inline dnnl::memory Mem(const dnnl::memory::desc& md, const float* p) {
  return dnnl::memory(md, CpuEngine(), const_cast<float*>(p));
}

// A oneDNN exception as a status: "Convolution: oneDNN forward failed: ...".
inline absl::Status Error(absl::string_view op, absl::string_view what, const std::exception& e) {
  return absl::InternalError(absl::StrCat(op, ": oneDNN ", what, " failed: ", e.what()));
}

}  // namespace mxgrid::ops::dnnl_util

#endif  // MXGRID_LIBS_OPS_DNNL_UTIL_H_

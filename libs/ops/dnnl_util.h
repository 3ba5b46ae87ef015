// What every oneDNN-backed kernel shares: the CPU engine (one per thread) and plain memory
// objects wrapping buffers the caller owns.
//
// Thread-safety: CpuEngine is thread_local; Mem objects are per call.
#ifndef MXGRID_LIBS_OPS_DNNL_UTIL_H_
#define MXGRID_LIBS_OPS_DNNL_UTIL_H_

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

}  // namespace mxgrid::ops::dnnl_util

#endif  // MXGRID_LIBS_OPS_DNNL_UTIL_H_

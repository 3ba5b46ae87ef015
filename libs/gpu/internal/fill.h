// The fill kernel behind gpu::Fill (private to libs/gpu; CUDA builds only).
#ifndef MXGRID_LIBS_GPU_INTERNAL_FILL_H_
#define MXGRID_LIBS_GPU_INTERNAL_FILL_H_

#include <cuda_runtime.h>

#include <cstdint>

namespace mxgrid::gpu::internal {

// Writes `count` elements of `element_bytes` (1, 2, 4, 8) holding `pattern`'s low bytes.
cudaError_t LaunchFill(void* dst, int64_t count, int element_bytes, uint64_t pattern,
                       void* stream);

}  // namespace mxgrid::gpu::internal

#endif  // MXGRID_LIBS_GPU_INTERNAL_FILL_H_

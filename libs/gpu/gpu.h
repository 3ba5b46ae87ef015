// The CUDA runtime as the rest of mxgrid sees it: devices, per-thread streams and library
// handles, device memory, copies, and CUDA errors as absl::Status. No CUDA type appears here,
// so every library can include it; only a --config=cuda build talks to a GPU.
//
//   if (gpu::DeviceCount() > 0) {
//     MXGRID_ASSIGN_OR_RETURN(gpu::DeviceInfo info, gpu::Info(0));   // "NVIDIA H200", ...
//     MXGRID_ASSIGN_OR_RETURN(void* stream, gpu::ThreadStream(0));
//     ... launch kernels on stream ...
//     MXGRID_RETURN_IF_ERROR(gpu::Synchronize(0, stream, "FullyConnected"));
//   }
//
// In a CPU-only build (or on a machine without a GPU or driver) DeviceCount() is 0 and every
// device function returns FailedPrecondition (or InvalidArgument for a device id that does
// not exist): mxgrid then runs as a CPU-only worker, never crashes.
//
// Streams: each thread has its own non-blocking stream per device, created on first use, with
// a cuBLAS and a cuDNN handle bound to it. The engine's GPU compute threads and copy threads
// are different threads, so copies and compute run on different streams and overlap. Work
// on a thread's stream is ordered; an engine operation synchronizes its stream before it
// completes (as MXNet does), which keeps the engine's dependency rules exact across devices.
//
// Errors: a failed launch or a failed synchronize becomes a Status (Internal, or
// ResourceExhausted for out-of-memory) naming the device and the operation. An error CUDA
// reports as sticky (the context is corrupt: an illegal address, a trap) also marks the
// device unhealthy (Healthy() false with the reason), which the health service reports.
//
// Thread-safety: every function is thread-safe.
#ifndef MXGRID_LIBS_GPU_GPU_H_
#define MXGRID_LIBS_GPU_GPU_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mxgrid::gpu {

// True when this binary was built with --config=cuda.
bool BuiltWithCuda();

// Usable CUDA devices (0: CPU-only build, no driver, or no GPU). Queried once.
int DeviceCount();

// Why DeviceCount() is 0 ("built without CUDA", the driver's error), or "" when it is not.
std::string NoDeviceReason();

struct DeviceInfo {
  std::string name;            // "NVIDIA H200"
  int64_t total_memory = 0;    // bytes
  int compute_major = 0;       // compute capability, e.g. 9.0
  int compute_minor = 0;
  int multiprocessors = 0;
};

// InvalidArgument for a device id that does not exist (naming how many there are).
absl::Status CheckDevice(int device);
absl::StatusOr<DeviceInfo> Info(int device);
// Free and total memory of the device now (cudaMemGetInfo).
absl::Status MemoryInfo(int device, int64_t* free_bytes, int64_t* total_bytes);

// Device memory straight from cudaMalloc (the pooled allocator in libs/tensor calls these).
// ResourceExhausted naming the device, the size and the free memory when the device is out
// of memory. Counted in MallocCalls().
absl::StatusOr<void*> Malloc(int device, size_t bytes);
void Free(int device, void* ptr);
// How many cudaMalloc calls this process made on `device` (steady-state training: none).
int64_t MallocCalls(int device);

// Page-locked host memory (cudaHostAlloc) for staging copies; FreeHost takes it back.
absl::StatusOr<void*> MallocHost(size_t bytes);
void FreeHost(void* ptr);

// The calling thread's stream on `device` (a cudaStream_t), also making `device` the
// thread's current device. Created on first use.
absl::StatusOr<void*> ThreadStream(int device);
// The calling thread's cuBLAS (cublasHandle_t) and cuDNN (cudnnHandle_t) handles on
// `device`, bound to ThreadStream(device).
absl::StatusOr<void*> ThreadCublas(int device);
absl::StatusOr<void*> ThreadCudnn(int device);

// Scratch device memory of at least `bytes` for the calling thread's kernels on `device`
// (cuDNN workspaces, reduction temporaries). Valid until the thread's next ThreadWorkspace
// call on the device; work queued on the thread's stream may use it (the stream orders
// its users). Grows by cudaMalloc only when a call needs more than any before it.
absl::StatusOr<void*> ThreadWorkspace(int device, size_t bytes);

// Waits for the work queued on `stream` and returns its error, naming `what` (the operation)
// and the device; a sticky error marks the device unhealthy.
absl::Status Synchronize(int device, void* stream, const char* what);
// Runs `fn` with the calling thread's stream on `device`, then synchronizes the stream:
// `fn`'s error if it failed, else the synchronization's (naming `what`). The shape of every
// GPU engine operation that owns its stream.
absl::Status RunOnThreadStream(int device, const char* what,
                               absl::FunctionRef<absl::Status(void* stream)> fn);
// The error of the last kernel launch on this thread (cudaGetLastError), as a Status.
absl::Status LastLaunchError(int device, const char* what);

// Copies that return once the bytes have arrived. `stream` is the calling thread's stream
// (ThreadStream). Host memory may be pageable: large copies go through pinned staging
// buffers in chunks, the host-side memcpy of one chunk overlapping the DMA of the previous.
absl::Status CopyHostToDevice(int device, void* stream, void* dst, const void* src,
                              size_t bytes);
absl::Status CopyDeviceToHost(int device, void* stream, void* dst, const void* src,
                              size_t bytes);
// Device to device, between devices too (peer access where the GPUs allow it, else through
// the host). Asynchronous on `stream`; synchronize before the result is read elsewhere.
absl::Status CopyDeviceToDevice(int dst_device, void* dst, int src_device, const void* src,
                                size_t bytes, void* stream);
// Sets `count` elements of `element_bytes` (1, 2, 4 or 8) at `dst` to the bytes of
// `pattern` (its low element_bytes bytes). Asynchronous on `stream`.
absl::Status Fill(int device, void* stream, void* dst, int64_t count, int element_bytes,
                  uint64_t pattern);

// False once a sticky CUDA error hit the device; UnhealthyReason() says which.
bool Healthy(int device);
std::string UnhealthyReason(int device);
// Called (once per device, on the thread that saw the error) when a device turns unhealthy:
// a server reports it through its health service. Set before serving; replaces the last one.
void SetUnhealthyListener(std::function<void(int device, const std::string& reason)> listener);

}  // namespace mxgrid::gpu

#endif  // MXGRID_LIBS_GPU_GPU_H_

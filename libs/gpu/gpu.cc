#include "libs/gpu/gpu.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"

#if MXGRID_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "libs/gpu/internal/fill.h"
#endif

namespace mxgrid::gpu {
namespace {

// Device ids above this are refused (the counters below are fixed arrays).
constexpr int kMaxDevices = 64;

absl::Status NoCuda() {
  return absl::FailedPreconditionError(absl::StrCat(
      "no CUDA devices: ", NoDeviceReason(), "; use mx.cpu() or a worker with GPUs"));
}

struct Health {
  std::mutex mu;
  std::array<std::string, kMaxDevices> reasons;  // "" while healthy
  std::function<void(int, const std::string&)> listener;
};

Health& HealthState() {
  static Health* const health = new Health;
  return *health;
}

std::array<std::atomic<int64_t>, kMaxDevices>& MallocCounters() {
  static auto* const counters = new std::array<std::atomic<int64_t>, kMaxDevices>();
  return *counters;
}

#if MXGRID_CUDA

void MarkUnhealthy(int device, const std::string& reason) {
  if (device < 0 || device >= kMaxDevices) return;
  Health& h = HealthState();
  std::function<void(int, const std::string&)> listener;
  {
    std::lock_guard<std::mutex> lock(h.mu);
    if (!h.reasons[device].empty()) return;
    h.reasons[device] = reason;
    listener = h.listener;
  }
  if (listener) listener(device, reason);
}

struct DeviceCountResult {
  int count = 0;
  std::string reason;
};

const DeviceCountResult& Count() {
  static const DeviceCountResult* const result = [] {
    auto* r = new DeviceCountResult;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      cudaGetLastError();
      r->reason = absl::StrCat("the CUDA runtime found no usable device (",
                               cudaGetErrorString(err), ")");
    } else if (n == 0) {
      r->reason = "this machine has no GPU";
    }
    r->count = err == cudaSuccess ? std::min(n, kMaxDevices) : 0;
    return r;
  }();
  return *result;
}

// Errors that leave the device's context unusable (every later call fails too).
bool IsSticky(cudaError_t err) {
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
      return true;
    default:
      return false;
  }
}

absl::Status FromCuda(cudaError_t err, int device, absl::string_view what) {
  if (err == cudaSuccess) return absl::OkStatus();
  const std::string message =
      absl::StrCat(what, " on gpu(", device, "): CUDA error ", cudaGetErrorName(err), " (",
                   cudaGetErrorString(err), ")");
  if (IsSticky(err)) {
    MarkUnhealthy(device, message);
    return absl::InternalError(absl::StrCat(message, "; the device is now unhealthy"));
  }
  cudaGetLastError();  // a non-sticky error: clear it so later calls start clean
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

#define MXGRID_CUDA_RETURN(expr, device, what)                       \
  do {                                                               \
    if (cudaError_t e_ = (expr); e_ != cudaSuccess) {                \
      return FromCuda(e_, device, what);                             \
    }                                                                \
  } while (0)

absl::Status SetDevice(int device) {
  if (absl::Status s = CheckDevice(device); !s.ok()) return s;
  MXGRID_CUDA_RETURN(cudaSetDevice(device), device, "cudaSetDevice");
  return absl::OkStatus();
}

// One thread's resources on one device.
struct ThreadDevice {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  // Two pinned staging buffers and the events that say when their copies are done.
  std::array<void*, 2> staging{nullptr, nullptr};
  std::array<cudaEvent_t, 2> staged{nullptr, nullptr};
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// Staging chunk: large enough to run the copy engine at full speed, small enough to
// overlap the host-side memcpy of one chunk with the DMA of the other.
constexpr size_t kStagingBytes = size_t{16} << 20;

// memcpy on several threads (OpenMP, 1 MiB pieces): one thread moves about 8-10 GB/s, the
// copy engine over 50, so a single-threaded staging copy would cap the transfer.
void ParallelCopy(void* dst, const void* src, size_t n) {
  constexpr size_t kPiece = size_t{1} << 20;
  const int64_t pieces = static_cast<int64_t>((n + kPiece - 1) / kPiece);
#pragma omp parallel for schedule(static) if (pieces > 1)
  for (int64_t i = 0; i < pieces; ++i) {
    const size_t offset = static_cast<size_t>(i) * kPiece;
    std::memcpy(static_cast<char*>(dst) + offset, static_cast<const char*>(src) + offset,
                std::min(kPiece, n - offset));
  }
}
// Below this, the runtime's own staging of pageable memory is as fast.
constexpr size_t kDirectCopyBytes = size_t{256} << 10;

struct ThreadResources {
  std::array<ThreadDevice*, kMaxDevices> devices{};
  ~ThreadResources() {
    // Best effort at thread exit; errors (a driver shutting down) are ignored.
    for (ThreadDevice* d : devices) {
      if (d == nullptr) continue;
      if (d->cudnn) cudnnDestroy(d->cudnn);
      if (d->cublas) cublasDestroy(d->cublas);
      for (int i = 0; i < 2; ++i) {
        if (d->staged[i]) cudaEventDestroy(d->staged[i]);
        if (d->staging[i]) cudaFreeHost(d->staging[i]);
      }
      if (d->workspace) cudaFree(d->workspace);
      if (d->stream) cudaStreamDestroy(d->stream);
      delete d;
    }
  }
};

absl::StatusOr<ThreadDevice*> Resources(int device) {
  if (absl::Status s = SetDevice(device); !s.ok()) return s;
  thread_local ThreadResources resources;
  ThreadDevice*& d = resources.devices[device];
  if (d == nullptr) {
    auto fresh = std::make_unique<ThreadDevice>();
    MXGRID_CUDA_RETURN(cudaStreamCreateWithFlags(&fresh->stream, cudaStreamNonBlocking),
                       device, "creating a stream");
    d = fresh.release();
  }
  return d;
}

absl::StatusOr<ThreadDevice*> StagingResources(int device) {
  absl::StatusOr<ThreadDevice*> d = Resources(device);
  if (!d.ok()) return d.status();
  if ((*d)->staging[0] == nullptr) {
    for (int i = 0; i < 2; ++i) {
      MXGRID_CUDA_RETURN(cudaHostAlloc(&(*d)->staging[i], kStagingBytes, cudaHostAllocDefault),
                         device, "allocating pinned staging memory");
      MXGRID_CUDA_RETURN(cudaEventCreateWithFlags(&(*d)->staged[i], cudaEventDisableTiming),
                         device, "creating an event");
    }
  }
  return d;
}

bool IsPinned(const void* host) {
  cudaPointerAttributes attributes;
  if (cudaPointerGetAttributes(&attributes, host) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return attributes.type == cudaMemoryTypeHost;
}

#endif  // MXGRID_CUDA

}  // namespace

bool BuiltWithCuda() {
#if MXGRID_CUDA
  return true;
#else
  return false;
#endif
}

int DeviceCount() {
#if MXGRID_CUDA
  return Count().count;
#else
  return 0;
#endif
}

std::string NoDeviceReason() {
#if MXGRID_CUDA
  return Count().reason;
#else
  return "this mxgrid build has no CUDA support (build with --config=cuda)";
#endif
}

absl::Status CheckDevice(int device) {
  const int n = DeviceCount();
  if (n == 0) return NoCuda();
  if (device < 0 || device >= n) {
    return absl::InvalidArgumentError(absl::StrCat("gpu(", device, ") does not exist: this ",
                                                   "worker has ", n, " GPU",
                                                   n == 1 ? "" : "s", " (gpu(0) to gpu(",
                                                   n - 1, "))"));
  }
  return absl::OkStatus();
}

absl::StatusOr<DeviceInfo> Info(int device) {
  if (absl::Status s = CheckDevice(device); !s.ok()) return s;
#if MXGRID_CUDA
  cudaDeviceProp prop;
  MXGRID_CUDA_RETURN(cudaGetDeviceProperties(&prop, device), device, "cudaGetDeviceProperties");
  DeviceInfo info;
  info.name = prop.name;
  info.total_memory = static_cast<int64_t>(prop.totalGlobalMem);
  info.compute_major = prop.major;
  info.compute_minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  return info;
#else
  return NoCuda();
#endif
}

absl::Status MemoryInfo(int device, int64_t* free_bytes, int64_t* total_bytes) {
#if MXGRID_CUDA
  if (absl::Status s = SetDevice(device); !s.ok()) return s;
  size_t free_b = 0, total_b = 0;
  MXGRID_CUDA_RETURN(cudaMemGetInfo(&free_b, &total_b), device, "cudaMemGetInfo");
  *free_bytes = static_cast<int64_t>(free_b);
  *total_bytes = static_cast<int64_t>(total_b);
  return absl::OkStatus();
#else
  (void)device, (void)free_bytes, (void)total_bytes;
  return NoCuda();
#endif
}

absl::StatusOr<void*> Malloc(int device, size_t bytes) {
#if MXGRID_CUDA
  if (absl::Status s = SetDevice(device); !s.ok()) return s;
  void* p = nullptr;
  MallocCounters()[device].fetch_add(1, std::memory_order_relaxed);
  cudaError_t err = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    return absl::ResourceExhaustedError(absl::StrCat(
        "out of memory on gpu(", device, "): allocating ", bytes, " bytes with ", free_b,
        " of ", total_b, " bytes free on the device"));
  }
  MXGRID_CUDA_RETURN(err, device, "cudaMalloc");
  return p;
#else
  (void)device, (void)bytes;
  return NoCuda();
#endif
}

void Free(int device, void* ptr) {
#if MXGRID_CUDA
  if (ptr == nullptr || !CheckDevice(device).ok()) return;
  cudaSetDevice(device);
  if (cudaFree(ptr) != cudaSuccess) cudaGetLastError();
#else
  (void)device, (void)ptr;
#endif
}

int64_t MallocCalls(int device) {
  if (device < 0 || device >= kMaxDevices) return 0;
  return MallocCounters()[device].load(std::memory_order_relaxed);
}

absl::StatusOr<void*> MallocHost(size_t bytes) {
#if MXGRID_CUDA
  if (DeviceCount() == 0) return NoCuda();
  void* p = nullptr;
  cudaError_t err = cudaHostAlloc(&p, bytes == 0 ? 1 : bytes, cudaHostAllocDefault);
  if (err != cudaSuccess) return FromCuda(err, 0, "cudaHostAlloc");
  return p;
#else
  (void)bytes;
  return NoCuda();
#endif
}

void FreeHost(void* ptr) {
#if MXGRID_CUDA
  if (ptr != nullptr && cudaFreeHost(ptr) != cudaSuccess) cudaGetLastError();
#else
  (void)ptr;
#endif
}

absl::StatusOr<void*> ThreadStream(int device) {
#if MXGRID_CUDA
  absl::StatusOr<ThreadDevice*> d = Resources(device);
  if (!d.ok()) return d.status();
  return static_cast<void*>((*d)->stream);
#else
  (void)device;
  return NoCuda();
#endif
}

absl::StatusOr<void*> ThreadCublas(int device) {
#if MXGRID_CUDA
  absl::StatusOr<ThreadDevice*> d = Resources(device);
  if (!d.ok()) return d.status();
  if ((*d)->cublas == nullptr) {
    cublasHandle_t h = nullptr;
    if (cublasStatus_t st = cublasCreate(&h); st != CUBLAS_STATUS_SUCCESS) {
      return absl::InternalError(absl::StrCat("cublasCreate on gpu(", device, ") failed: ",
                                              cublasGetStatusString(st)));
    }
    cublasSetStream(h, (*d)->stream);
    // Full float32 unless an operator asks for TF32 explicitly.
    cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
    (*d)->cublas = h;
  }
  return static_cast<void*>((*d)->cublas);
#else
  (void)device;
  return NoCuda();
#endif
}

absl::StatusOr<void*> ThreadCudnn(int device) {
#if MXGRID_CUDA
  absl::StatusOr<ThreadDevice*> d = Resources(device);
  if (!d.ok()) return d.status();
  if ((*d)->cudnn == nullptr) {
    cudnnHandle_t h = nullptr;
    if (cudnnStatus_t st = cudnnCreate(&h); st != CUDNN_STATUS_SUCCESS) {
      return absl::InternalError(absl::StrCat("cudnnCreate on gpu(", device, ") failed: ",
                                              cudnnGetErrorString(st)));
    }
    cudnnSetStream(h, (*d)->stream);
    (*d)->cudnn = h;
  }
  return static_cast<void*>((*d)->cudnn);
#else
  (void)device;
  return NoCuda();
#endif
}

absl::StatusOr<void*> ThreadWorkspace(int device, size_t bytes) {
#if MXGRID_CUDA
  absl::StatusOr<ThreadDevice*> d = Resources(device);
  if (!d.ok()) return d.status();
  ThreadDevice& r = **d;
  if (r.workspace_bytes < bytes || r.workspace == nullptr) {
    if (r.workspace != nullptr) {
      // Earlier users on this thread's stream must be done before the memory goes.
      MXGRID_CUDA_RETURN(cudaStreamSynchronize(r.stream), device, "growing the workspace");
      cudaFree(r.workspace);
      r.workspace = nullptr;
      r.workspace_bytes = 0;
    }
    // The largest any thread of the device asked for, rounded up to 1 MiB: the device's
    // engine threads take turns running the same work, so each grows once to what the
    // largest kernel needs instead of once per size it meets.
    static std::array<std::atomic<size_t>, kMaxDevices> largest{};
    size_t seen = largest[device].load(std::memory_order_relaxed);
    while (seen < bytes && !largest[device].compare_exchange_weak(seen, bytes)) {
    }
    const size_t want = std::max(bytes, seen);
    const size_t size = std::max<size_t>((want + (size_t{1} << 20) - 1) >> 20 << 20, 1 << 20);
    absl::StatusOr<void*> p = Malloc(device, size);
    if (!p.ok()) return p.status();
    r.workspace = *p;
    r.workspace_bytes = size;
  }
  return r.workspace;
#else
  (void)device, (void)bytes;
  return NoCuda();
#endif
}

absl::Status Synchronize(int device, void* stream, const char* what) {
#if MXGRID_CUDA
  MXGRID_CUDA_RETURN(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), device, what);
  return absl::OkStatus();
#else
  (void)device, (void)stream, (void)what;
  return NoCuda();
#endif
}

absl::Status RunOnThreadStream(int device, const char* what,
                               absl::FunctionRef<absl::Status(void* stream)> fn) {
  absl::StatusOr<void*> stream = ThreadStream(device);
  if (!stream.ok()) return stream.status();
  absl::Status status = fn(*stream);
  absl::Status synced = Synchronize(device, *stream, what);
  return status.ok() ? synced : status;
}

absl::Status LastLaunchError(int device, const char* what) {
#if MXGRID_CUDA
  MXGRID_CUDA_RETURN(cudaGetLastError(), device, what);
  return absl::OkStatus();
#else
  (void)device, (void)what;
  return NoCuda();
#endif
}

absl::Status CopyHostToDevice(int device, void* stream, void* dst, const void* src,
                              size_t bytes) {
#if MXGRID_CUDA
  if (bytes == 0) return absl::OkStatus();
  auto s = static_cast<cudaStream_t>(stream);
  if (bytes <= kDirectCopyBytes || IsPinned(src)) {
    MXGRID_CUDA_RETURN(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), device,
                       "copy to device");
    return Synchronize(device, stream, "copy to device");
  }
  absl::StatusOr<ThreadDevice*> d = StagingResources(device);
  if (!d.ok()) return d.status();
  ThreadDevice& r = **d;
  size_t done = 0;
  for (int i = 0; done < bytes; ++i) {
    const int b = i % 2;
    const size_t n = std::min(kStagingBytes, bytes - done);
    // The staging buffer's previous copy must be done before it is overwritten.
    if (i >= 2) MXGRID_CUDA_RETURN(cudaEventSynchronize(r.staged[b]), device, "copy to device");
    ParallelCopy(r.staging[b], static_cast<const char*>(src) + done, n);
    MXGRID_CUDA_RETURN(cudaMemcpyAsync(static_cast<char*>(dst) + done, r.staging[b], n,
                                       cudaMemcpyHostToDevice, s),
                       device, "copy to device");
    MXGRID_CUDA_RETURN(cudaEventRecord(r.staged[b], s), device, "copy to device");
    done += n;
  }
  return Synchronize(device, stream, "copy to device");
#else
  (void)device, (void)stream, (void)dst, (void)src, (void)bytes;
  return NoCuda();
#endif
}

absl::Status CopyDeviceToHost(int device, void* stream, void* dst, const void* src,
                              size_t bytes) {
#if MXGRID_CUDA
  if (bytes == 0) return absl::OkStatus();
  auto s = static_cast<cudaStream_t>(stream);
  if (bytes <= kDirectCopyBytes || IsPinned(dst)) {
    MXGRID_CUDA_RETURN(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), device,
                       "copy to host");
    return Synchronize(device, stream, "copy to host");
  }
  absl::StatusOr<ThreadDevice*> d = StagingResources(device);
  if (!d.ok()) return d.status();
  ThreadDevice& r = **d;
  // Chunk i lands in staging[i % 2]; while it is in flight, chunk i-1 is copied out.
  const size_t chunks = (bytes + kStagingBytes - 1) / kStagingBytes;
  auto drain = [&](size_t i) -> absl::Status {
    const int b = static_cast<int>(i % 2);
    MXGRID_CUDA_RETURN(cudaEventSynchronize(r.staged[b]), device, "copy to host");
    const size_t offset = i * kStagingBytes;
    ParallelCopy(static_cast<char*>(dst) + offset, r.staging[b],
                 std::min(kStagingBytes, bytes - offset));
    return absl::OkStatus();
  };
  for (size_t i = 0; i < chunks; ++i) {
    const int b = static_cast<int>(i % 2);
    const size_t offset = i * kStagingBytes;
    const size_t n = std::min(kStagingBytes, bytes - offset);
    MXGRID_CUDA_RETURN(cudaMemcpyAsync(r.staging[b], static_cast<const char*>(src) + offset, n,
                                       cudaMemcpyDeviceToHost, s),
                       device, "copy to host");
    MXGRID_CUDA_RETURN(cudaEventRecord(r.staged[b], s), device, "copy to host");
    if (i > 0) {
      if (absl::Status st = drain(i - 1); !st.ok()) return st;
    }
  }
  return drain(chunks - 1);
#else
  (void)device, (void)stream, (void)dst, (void)src, (void)bytes;
  return NoCuda();
#endif
}

absl::Status CopyDeviceToDevice(int dst_device, void* dst, int src_device, const void* src,
                                size_t bytes, void* stream) {
#if MXGRID_CUDA
  if (bytes == 0) return absl::OkStatus();
  auto s = static_cast<cudaStream_t>(stream);
  if (dst_device == src_device) {
    MXGRID_CUDA_RETURN(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s),
                       dst_device, "device copy");
    return absl::OkStatus();
  }
  if (absl::Status st = CheckDevice(src_device); !st.ok()) return st;
  static std::mutex peer_mu;
  static std::vector<std::pair<int, int>>* peers = new std::vector<std::pair<int, int>>;
  {
    std::lock_guard<std::mutex> lock(peer_mu);
    const std::pair<int, int> pair{dst_device, src_device};
    if (std::find(peers->begin(), peers->end(), pair) == peers->end()) {
      int can = 0;
      cudaDeviceCanAccessPeer(&can, dst_device, src_device);
      if (can) {
        cudaSetDevice(dst_device);
        if (cudaDeviceEnablePeerAccess(src_device, 0) != cudaSuccess) cudaGetLastError();
      }
      peers->push_back(pair);
    }
  }
  MXGRID_CUDA_RETURN(cudaMemcpyPeerAsync(dst, dst_device, src, src_device, bytes, s),
                     dst_device, "peer copy");
  return absl::OkStatus();
#else
  (void)dst_device, (void)dst, (void)src_device, (void)src, (void)bytes, (void)stream;
  return NoCuda();
#endif
}

absl::Status Fill(int device, void* stream, void* dst, int64_t count, int element_bytes,
                  uint64_t pattern) {
#if MXGRID_CUDA
  if (count == 0) return absl::OkStatus();
  if (element_bytes != 1 && element_bytes != 2 && element_bytes != 4 && element_bytes != 8) {
    return absl::InvalidArgumentError(absl::StrCat("fill: element size ", element_bytes));
  }
  MXGRID_CUDA_RETURN(internal::LaunchFill(dst, count, element_bytes, pattern, stream), device,
                     "fill");
  return absl::OkStatus();
#else
  (void)device, (void)stream, (void)dst, (void)count, (void)element_bytes, (void)pattern;
  return NoCuda();
#endif
}

bool Healthy(int device) { return UnhealthyReason(device).empty(); }

std::string UnhealthyReason(int device) {
  if (device < 0 || device >= kMaxDevices) return "";
  Health& h = HealthState();
  std::lock_guard<std::mutex> lock(h.mu);
  return h.reasons[device];
}

void SetUnhealthyListener(std::function<void(int device, const std::string& reason)> listener) {
  Health& h = HealthState();
  std::lock_guard<std::mutex> lock(h.mu);
  h.listener = std::move(listener);
}

}  // namespace mxgrid::gpu

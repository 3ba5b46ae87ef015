// Context: the device an array lives on — MXNet's mx.cpu(i) / mx.gpu(i).
//
//   Context c = Context::Gpu(2);  c.ToString() == "gpu(2)";  c != Context::Cpu();
//
// Device type numbers are MXNet's (`.params` files store them): cpu=1, gpu=2,
// cpu_pinned=3, cpu_shared=5 (host memory shared between processes in MXNet; on a worker,
// host memory like cpu and cpu_pinned). A small value type; thread-compatible.
#ifndef MXGRID_LIBS_BASE_CONTEXT_H_
#define MXGRID_LIBS_BASE_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mxgrid {

enum class DeviceType : int32_t {
  kCPU = 1,
  kGPU = 2,
  kCPUPinned = 3,
  kCPUShared = 5,
};

struct Context {
  DeviceType device_type = DeviceType::kCPU;
  int32_t device_id = 0;

  static Context Cpu(int32_t id = 0) { return {DeviceType::kCPU, id}; }
  static Context Gpu(int32_t id = 0) { return {DeviceType::kGPU, id}; }
  static Context CpuPinned(int32_t id = 0) { return {DeviceType::kCPUPinned, id}; }
  static Context CpuShared(int32_t id = 0) { return {DeviceType::kCPUShared, id}; }

  // Validates untrusted numbers (e.g. from a file): InvalidArgument for an unknown device
  // type or a negative id.
  static absl::StatusOr<Context> Make(int64_t device_type, int64_t device_id);

  // Parses MXNet's printed form ("cpu(0)", "gpu(2)", "cpu_pinned(0)", "cpu_shared(0)"; also
  // "cpu", id 0), as
  // MXNet's Context::FromString reads an operator's `ctx` attribute. InvalidArgument
  // otherwise.
  static absl::StatusOr<Context> FromString(absl::string_view text);

  bool is_cpu() const { return device_type != DeviceType::kGPU; }
  bool is_gpu() const { return device_type == DeviceType::kGPU; }

  // "cpu(0)", "gpu(2)", "cpu_pinned(0)", "cpu_shared(0)", as MXNet prints contexts.
  std::string ToString() const;

  friend bool operator==(const Context& a, const Context& b) {
    return a.device_type == b.device_type && a.device_id == b.device_id;
  }
  friend bool operator!=(const Context& a, const Context& b) { return !(a == b); }
  friend bool operator<(const Context& a, const Context& b) {
    return a.device_type != b.device_type ? a.device_type < b.device_type
                                          : a.device_id < b.device_id;
  }
  friend std::ostream& operator<<(std::ostream& os, const Context& c) {
    return os << c.ToString();
  }
};

}  // namespace mxgrid

#endif  // MXGRID_LIBS_BASE_CONTEXT_H_

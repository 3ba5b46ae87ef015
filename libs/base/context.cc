#include "libs/base/context.h"

#include "absl/strings/str_cat.h"

namespace mxgrid {

absl::StatusOr<Context> Context::Make(int64_t device_type, int64_t device_id) {
  if (device_type != static_cast<int64_t>(DeviceType::kCPU) &&
      device_type != static_cast<int64_t>(DeviceType::kGPU) &&
      device_type != static_cast<int64_t>(DeviceType::kCPUPinned)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown device type ", device_type, "; expected 1 (cpu), 2 (gpu) or 3 (cpu_pinned)"));
  }
  if (device_id < 0 || device_id > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid device id ", device_id));
  }
  return Context{static_cast<DeviceType>(device_type), static_cast<int32_t>(device_id)};
}

std::string Context::ToString() const {
  switch (device_type) {
    case DeviceType::kCPU: return absl::StrCat("cpu(", device_id, ")");
    case DeviceType::kGPU: return absl::StrCat("gpu(", device_id, ")");
    case DeviceType::kCPUPinned: return absl::StrCat("cpu_pinned(", device_id, ")");
  }
  return absl::StrCat("device", static_cast<int>(device_type), "(", device_id, ")");
}

}  // namespace mxgrid

#include "libs/base/context.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mxgrid {

absl::StatusOr<Context> Context::Make(int64_t device_type, int64_t device_id) {
  if (device_type != static_cast<int64_t>(DeviceType::kCPU) &&
      device_type != static_cast<int64_t>(DeviceType::kGPU) &&
      device_type != static_cast<int64_t>(DeviceType::kCPUPinned) &&
      device_type != static_cast<int64_t>(DeviceType::kCPUShared)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown device type ", device_type,
                     "; expected 1 (cpu), 2 (gpu), 3 (cpu_pinned) or 5 (cpu_shared)"));
  }
  if (device_id < 0 || device_id > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid device id ", device_id));
  }
  return Context{static_cast<DeviceType>(device_type), static_cast<int32_t>(device_id)};
}

absl::StatusOr<Context> Context::FromString(absl::string_view text) {
  const absl::string_view in = absl::StripAsciiWhitespace(text);
  absl::string_view type = in, id_text = "0";
  if (const size_t open = in.find('('); open != absl::string_view::npos) {
    if (in.back() != ')') type = "";
    else {
      type = in.substr(0, open);
      id_text = in.substr(open + 1, in.size() - open - 2);
    }
  }
  int64_t id = -1;
  if (!absl::SimpleAtoi(id_text, &id) || id < 0 || id > (1 << 20)) type = "";
  DeviceType device;
  if (type == "cpu") device = DeviceType::kCPU;
  else if (type == "gpu") device = DeviceType::kGPU;
  else if (type == "cpu_pinned") device = DeviceType::kCPUPinned;
  else if (type == "cpu_shared") device = DeviceType::kCPUShared;
  else {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed context '", text,
                     "': expected cpu(N), gpu(N), cpu_pinned(N) or cpu_shared(N) with N >= 0"));
  }
  return Context{device, static_cast<int32_t>(id)};
}

std::string Context::ToString() const {
  switch (device_type) {
    case DeviceType::kCPU: return absl::StrCat("cpu(", device_id, ")");
    case DeviceType::kGPU: return absl::StrCat("gpu(", device_id, ")");
    case DeviceType::kCPUPinned: return absl::StrCat("cpu_pinned(", device_id, ")");
    case DeviceType::kCPUShared: return absl::StrCat("cpu_shared(", device_id, ")");
  }
  return absl::StrCat("device", static_cast<int>(device_type), "(", device_id, ")");
}

}  // namespace mxgrid

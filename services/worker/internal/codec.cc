#include "services/worker/internal/codec.h"

#include <variant>

#include "absl/strings/str_cat.h"
#include "libs/rpc/tensor_codec.h"

namespace mxgrid::services::internal {

absl::StatusOr<Context> FromProto(const v1::Context& proto) {
  if (proto.id() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("device id must be >= 0, got ", proto.id()));
  }
  switch (proto.type()) {
    case v1::DEVICE_TYPE_UNSPECIFIED:
    case v1::CPU:
      return Context::Cpu(proto.id());
    case v1::GPU:
      return Context::Gpu(proto.id());
    case v1::CPU_PINNED:
      return Context::CpuPinned(proto.id());
    case v1::CPU_SHARED:
      return Context::CpuShared(proto.id());
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown device type ", static_cast<int>(proto.type())));
  }
}

void ToProto(Context ctx, v1::Context* out) {
  switch (ctx.device_type) {
    case DeviceType::kCPU: out->set_type(v1::CPU); break;
    case DeviceType::kGPU: out->set_type(v1::GPU); break;
    case DeviceType::kCPUPinned: out->set_type(v1::CPU_PINNED); break;
    case DeviceType::kCPUShared: out->set_type(v1::CPU_SHARED); break;
  }
  out->set_id(ctx.device_id);
}

void ToProto(uint64_t handle, const tensor::NDArray& array, v1::ArrayInfo* out) {
  out->set_handle(handle);
  rpc::ToProto(array.dtype(), array.shape(), out->mutable_meta());
  ToProto(array.context(), out->mutable_context());
}

void ToProto(uint64_t handle, const tensor::SparseNDArray& array, v1::ArrayInfo* out) {
  out->set_handle(handle);
  rpc::ToProto(array.dtype(), array.shape(), out->mutable_meta());
  ToProto(array.context(), out->mutable_context());
  out->set_stype(array.stype() == tensor::StorageType::kCSR ? v1::CSR : v1::ROW_SPARSE);
}

void ToProto(uint64_t handle, const executor::AnyArray& array, v1::ArrayInfo* out) {
  std::visit([&](const auto& a) { ToProto(handle, a, out); }, array);
}

absl::StatusOr<tensor::StorageType> SparseStorageFromProto(v1::StorageType stype) {
  if (stype == v1::ROW_SPARSE) return tensor::StorageType::kRowSparse;
  if (stype == v1::CSR) return tensor::StorageType::kCSR;
  return absl::InvalidArgumentError(
      absl::StrCat("stype must be ROW_SPARSE or CSR, got ", v1::StorageType_Name(stype)));
}

}  // namespace mxgrid::services::internal

#include "libs/gpu/gpu.h"
#include "libs/rpc/tensor_codec.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/rpc/tensor_values.h"

namespace mxgrid::rpc {

// The wire numbers are MXNet's type flags plus one (tensor.proto); hosts are little-endian.
v1::DType ToProtoDType(DType dtype) {
  return static_cast<v1::DType>(static_cast<int>(dtype) + 1);
}

absl::StatusOr<DType> FromProtoDType(v1::DType dtype) {
  if (dtype == v1::DTYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError("tensor dtype is not set");
  }
  absl::StatusOr<DType> d = DTypeFromFlag(static_cast<int64_t>(dtype) - 1);
  if (!d.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown tensor dtype ", static_cast<int>(dtype)));
  }
  return *d;
}

void ToProto(DType dtype, const Shape& shape, v1::TensorMeta* meta) {
  meta->set_dtype(ToProtoDType(dtype));
  meta->clear_shape();
  for (int64_t d : shape.dims()) meta->add_shape(d);
}

absl::Status FromProto(const v1::TensorMeta& meta, DType* dtype, Shape* shape) {
  MXGRID_ASSIGN_OR_RETURN(*dtype, FromProtoDType(meta.dtype()));
  MXGRID_ASSIGN_OR_RETURN(*shape, Shape::Make(absl::MakeConstSpan(meta.shape().data(),
                                                                  meta.shape().size())));
  return absl::OkStatus();
}

namespace {

int64_t Bytes(DType dtype, const Shape& shape) {
  return shape.Size() * static_cast<int64_t>(DTypeSize(dtype));
}

}  // namespace

absl::Status ToProto(const tensor::NDArray& array, v1::Tensor* out, bool as_values) {
  if (array.is_none()) return absl::FailedPreconditionError("cannot send a none array");
  ToProto(array.dtype(), array.shape(), out->mutable_meta());
  std::string* data = out->mutable_data();
  data->resize(array.nbytes());
  MXGRID_RETURN_IF_ERROR(array.CopyToHost(data->data(), data->size()));
  if (as_values) {
    BytesToValues(array.dtype(), data->data(), array.shape().Size(), out);
    out->clear_data();
  }
  return absl::OkStatus();
}

absl::StatusOr<tensor::NDArray> FromProto(const v1::Tensor& tensor, Context ctx) {
  DType dtype;
  Shape shape;
  MXGRID_RETURN_IF_ERROR(FromProto(tensor.meta(), &dtype, &shape));
  const int64_t want = Bytes(dtype, shape);
  if (HasValues(tensor)) {
    if (!tensor.data().empty()) {
      return absl::InvalidArgumentError(
          "a tensor carries either data bytes or a values field, not both");
    }
    MXGRID_ASSIGN_OR_RETURN(std::string bytes, ValuesToBytes(tensor, dtype, shape.Size()));
    MXGRID_ASSIGN_OR_RETURN(tensor::NDArray array, tensor::NDArray::Empty(shape, ctx, dtype));
    MXGRID_RETURN_IF_ERROR(array.CopyFromHost(bytes.data(), bytes.size()));
    return array;
  }
  if (static_cast<int64_t>(tensor.data().size()) != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor of shape ", shape.ToString(), " ", DTypeName(dtype), " needs ", want,
        " bytes of data, got ", tensor.data().size()));
  }
  MXGRID_ASSIGN_OR_RETURN(tensor::NDArray array, tensor::NDArray::Empty(shape, ctx, dtype));
  MXGRID_RETURN_IF_ERROR(array.CopyFromHost(tensor.data().data(), tensor.data().size()));
  return array;
}

absl::Status ForEachChunk(const tensor::NDArray& array, size_t chunk_bytes,
                          const std::function<absl::Status(const v1::TensorChunk&)>& emit) {
  if (array.is_none()) return absl::FailedPreconditionError("cannot send a none array");
  if (chunk_bytes == 0) return absl::InvalidArgumentError("chunk size must be positive");
  if (array.context().is_gpu()) {
    MXGRID_ASSIGN_OR_RETURN(tensor::NDArray host, array.CopyTo(Context::Cpu()));
    return ForEachChunk(host, chunk_bytes, emit);
  }
  MXGRID_RETURN_IF_ERROR(array.WaitToRead());
  const char* bytes = static_cast<const char*>(array.data());
  const int64_t total = static_cast<int64_t>(array.nbytes());
  v1::TensorChunk chunk;
  ToProto(array.dtype(), array.shape(), chunk.mutable_meta());
  int64_t offset = 0;
  do {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(chunk_bytes), total - offset);
    chunk.set_offset(offset);
    chunk.set_data(bytes + offset, static_cast<size_t>(n));
    MXGRID_RETURN_IF_ERROR(emit(chunk));
    chunk.clear_meta();
    offset += n;
  } while (offset < total);
  return absl::OkStatus();
}

absl::Status ChunkAssembler::Add(const v1::TensorChunk& chunk) {
  if (array_.is_none()) {
    if (!chunk.has_meta()) {
      return absl::InvalidArgumentError("the first tensor chunk must carry meta");
    }
    DType dtype;
    Shape shape;
    MXGRID_RETURN_IF_ERROR(FromProto(chunk.meta(), &dtype, &shape));
    MXGRID_ASSIGN_OR_RETURN(array_, tensor::NDArray::Empty(shape, ctx_, dtype));
    MXGRID_RETURN_IF_ERROR(array_.WaitToWrite());  // fresh: nothing pending; data() is ours
    total_ = Bytes(dtype, shape);
  } else if (chunk.has_meta()) {
    return absl::InvalidArgumentError("only the first tensor chunk may carry meta");
  }
  const int64_t n = static_cast<int64_t>(chunk.data().size());
  if (chunk.offset() != received_) {
    return absl::InvalidArgumentError(absl::StrCat("tensor chunk at offset ", chunk.offset(),
                                                   ", expected ", received_));
  }
  if (n > total_ - received_) {
    return absl::InvalidArgumentError(absl::StrCat("tensor chunks exceed the tensor's ",
                                                   total_, " bytes"));
  }
  char* dst = static_cast<char*>(array_.data()) + received_;
  if (ctx_.is_gpu()) {
    // Straight into device memory, chunk by chunk (staged through pinned buffers).
    MXGRID_ASSIGN_OR_RETURN(void* stream, gpu::ThreadStream(ctx_.device_id));
    MXGRID_RETURN_IF_ERROR(
        gpu::CopyHostToDevice(ctx_.device_id, stream, dst, chunk.data().data(), n));
  } else {
    std::memcpy(dst, chunk.data().data(), n);
  }
  received_ += n;
  return absl::OkStatus();
}

absl::StatusOr<tensor::NDArray> ChunkAssembler::Finish() {
  if (array_.is_none()) return absl::InvalidArgumentError("no tensor chunk arrived");
  if (received_ != total_) {
    return absl::InvalidArgumentError(absl::StrCat("tensor stream ended after ", received_,
                                                   " of ", total_, " bytes"));
  }
  return array_;
}

}  // namespace mxgrid::rpc

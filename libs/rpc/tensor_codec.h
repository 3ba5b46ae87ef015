// NDArray <-> mxgrid.v1 tensor messages (proto/mxgrid/v1/tensor.proto), whole or chunked.
//
//   mxgrid::v1::Tensor t;
//   MXGRID_RETURN_IF_ERROR(ToProto(array, &t));                   // waits for the array
//   MXGRID_ASSIGN_OR_RETURN(NDArray back, FromProto(t, Context::Cpu()));
//
//   MXGRID_RETURN_IF_ERROR(ForEachChunk(array, kDefaultChunkBytes, [&](const v1::TensorChunk& c) {
//     return stream->Write(c) ? absl::OkStatus() : absl::UnavailableError("peer went away");
//   }));
//   ChunkAssembler in(Context::Cpu());
//   for (const v1::TensorChunk& c : received) MXGRID_RETURN_IF_ERROR(in.Add(c));
//   MXGRID_ASSIGN_OR_RETURN(NDArray whole, in.Finish());
//
// Everything from the wire is checked (dtype, shape, byte counts, chunk order) and bad input
// is InvalidArgument naming what is wrong; nothing here touches gRPC.
//
// Thread-safety: the functions are thread-safe; a ChunkAssembler is thread-compatible.
#ifndef MXGRID_LIBS_RPC_TENSOR_CODEC_H_
#define MXGRID_LIBS_RPC_TENSOR_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/base/context.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/tensor/ndarray.h"
#include "proto/mxgrid/v1/tensor.pb.h"

namespace mxgrid::rpc {

// 2 MiB: well under gRPC's 4 MiB default message limit with room for the envelope.
inline constexpr size_t kDefaultChunkBytes = size_t{2} << 20;

v1::DType ToProtoDType(DType dtype);
// InvalidArgument for DTYPE_UNSPECIFIED or an unknown value.
absl::StatusOr<DType> FromProtoDType(v1::DType dtype);

void ToProto(DType dtype, const Shape& shape, v1::TensorMeta* meta);
// Validated shape and dtype of `meta` (InvalidArgument otherwise).
absl::Status FromProto(const v1::TensorMeta& meta, DType* dtype, Shape* shape);

// Copies the array's values (waiting for pending writes) into `out`: as `data` bytes, or
// with `as_values` as numbers in the values field for its dtype (tensor_values.h).
absl::Status ToProto(const tensor::NDArray& array, v1::Tensor* out, bool as_values = false);
// A new array on `ctx` holding the message's values (its `data` bytes or its values field).
absl::StatusOr<tensor::NDArray> FromProto(const v1::Tensor& tensor, Context ctx);

// Calls `emit` with consecutive chunks of at most `chunk_bytes` data bytes (one chunk with
// meta and no data for an empty array); stops at the first error `emit` returns.
absl::Status ForEachChunk(const tensor::NDArray& array, size_t chunk_bytes,
                          const std::function<absl::Status(const v1::TensorChunk&)>& emit);

// Rebuilds an array from a chunk stream.
class ChunkAssembler {
 public:
  explicit ChunkAssembler(Context ctx) : ctx_(ctx) {}

  // The next chunk: the first must carry meta, later ones must not; offsets must continue
  // where the previous chunk ended and stay within the tensor.
  absl::Status Add(const v1::TensorChunk& chunk);
  // The array, once exactly all its bytes arrived; InvalidArgument if some are missing.
  absl::StatusOr<tensor::NDArray> Finish();

 private:
  Context ctx_;
  tensor::NDArray array_;  // none until the first chunk
  int64_t received_ = 0;
  int64_t total_ = 0;
};

}  // namespace mxgrid::rpc

#endif  // MXGRID_LIBS_RPC_TENSOR_CODEC_H_

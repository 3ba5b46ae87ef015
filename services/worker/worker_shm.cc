// WorkerService: same-host transfers through shared memory the client registers
// (RegisterShm, UnregisterShm, UploadShm, DownloadShm). The mapping, its bounds and its
// guard against truncation are libs/shm; this file only finds the session's region and array.
//
// Copies go as MXNet's SyncCopyFromCPU / SyncCopyToCPU do: wait for the array (writes for
// an upload into it, pending writes for a download), then copy directly, with several
// threads. Arrays on other devices go through a host array. An upload into a new CPU array
// may instead adopt the region's bytes as the array's storage (UploadShmRequest.adopt).
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/rpc/tensor_codec.h"
#include "libs/shm/region.h"
#include "libs/gpu/gpu.h"
#include "services/common/grpc_status.h"
#include "services/worker/internal/codec.h"
#include "services/worker/internal/wait.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {
namespace {

using tensor::NDArray;

// Copies the region's bytes at `offset` into `dst` (same size). REQUIRES: the caller may
// write `dst` now (no pending work on it, or none can start).
absl::Status ReadInto(const shm::Region& region, int64_t offset, const NDArray& dst) {
  if (dst.context().is_cpu()) {
    return region.Read(offset, dst.data(), static_cast<int64_t>(dst.nbytes()));
  }
  // Straight from the mapped region into device memory (staged through pinned buffers).
  const int64_t bytes = static_cast<int64_t>(dst.nbytes());
  MXGRID_ASSIGN_OR_RETURN(void* src, region.Address(offset, bytes));
  const int device = dst.context().device_id;
  MXGRID_ASSIGN_OR_RETURN(void* stream, gpu::ThreadStream(device));
  MXGRID_RETURN_IF_ERROR(
      gpu::CopyHostToDevice(device, stream, dst.data(), src, static_cast<size_t>(bytes)));
  if (region.poisoned()) {
    return absl::FailedPreconditionError(
        "upload: the client shrank its shared memory during the copy; register it again");
  }
  return absl::OkStatus();
}

// Checks an adopting upload's offsets: the value 64-aligned, the release word 8-aligned
// inside the region and outside the value.
absl::Status CheckAdopt(const shm::Region& region, int64_t offset, int64_t bytes,
                        int64_t word) {
  MXGRID_RETURN_IF_ERROR(region.CheckRange(word, 8));
  if (offset % 64 != 0 || word % 8 != 0 || (word + 8 > offset && word < offset + bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adopt: offset ", offset, " must be a multiple of 64 and release_offset ", word,
        " a multiple of 8 outside the value's bytes [", offset, ", ", offset + bytes, ")"));
  }
  return absl::OkStatus();
}

// A new CPU array whose storage is the region's bytes; it tells the client when they are
// free again through the release word. The lambda keeps the region (and its mapping).
absl::StatusOr<NDArray> Adopt(std::shared_ptr<const shm::Region> region, int64_t offset,
                              int64_t word, const Shape& shape, DType dtype, Context ctx) {
  const int64_t bytes = shape.Size() * static_cast<int64_t>(DTypeSize(dtype));
  MXGRID_ASSIGN_OR_RETURN(void* data, region->Address(offset, bytes));
  return NDArray::WrapHost(data, shape, dtype, ctx, [region = std::move(region), word] {
    region->StoreWord(word, 0).IgnoreError();  // a truncated region: the client's own loss
  });
}

// DownloadShmRequest.take: frees `handle` and answers true when `a` (its array) is the
// region's bytes at `offset` (an adopting upload's) and nothing but the session's table
// holds its storage; its pending work done, the bytes are the values. Else false, and
// nothing changes. The release word may turn 0 after the answer (the client waits for it
// before it reuses the bytes).
absl::StatusOr<bool> HandOver(grpc::ServerContext* context, Session& s, uint64_t handle,
                              const shm::Region& region, int64_t offset, NDArray a) {
  if (!a.context().is_cpu()) return false;
  // Every pending read and write done: the operations that named it have let it go.
  MXGRID_RETURN_IF_ERROR(internal::WaitToWrite(context, a));
  MXGRID_ASSIGN_OR_RETURN(void* at, region.Address(offset, static_cast<int64_t>(a.nbytes())));
  // The table's reference and `a`: no view, executor or store uses the storage. The client
  // holds its last reference to the handle, so no other call can name it meanwhile.
  if (a.data() != at || a.storage_references() != 2) return false;
  MXGRID_RETURN_IF_ERROR(s.Free({handle}));
  // The last reference: the storage's deletion (an engine operation, at once or shortly
  // after this answer) stores 0 in the release word.
  a = NDArray();
  return true;
}

}  // namespace

grpc::Status WorkerService::RegisterShm(grpc::ServerContext*,
                                        const v1::RegisterShmRequest* request,
                                        v1::RegisterShmResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<shm::Region> region,
                            shm::Region::Open(request->name(), request->byte_size()));
    MXGRID_ASSIGN_OR_RETURN(uint64_t id, s->AddShmRegion(std::move(region)));
    response->set_region(id);
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::UnregisterShm(grpc::ServerContext*,
                                          const v1::UnregisterShmRequest* request,
                                          v1::UnregisterShmResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    return s->RemoveShmRegion(request->region());
  }());
}

grpc::Status WorkerService::UploadShm(grpc::ServerContext* context,
                                      const v1::UploadShmRequest* request,
                                      v1::ArrayInfo* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    // Unknown handles are ignored: the client's frees are hints.
    s->Free(request->free()).IgnoreError();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<const shm::Region> region,
                            s->ShmRegion(request->region()));
    DType dtype;
    Shape shape;
    MXGRID_RETURN_IF_ERROR(rpc::FromProto(request->meta(), &dtype, &shape));
    const int64_t bytes = shape.Size() * static_cast<int64_t>(DTypeSize(dtype));
    MXGRID_RETURN_IF_ERROR(region->CheckRange(request->offset(), bytes));
    if (request->adopt()) {
      MXGRID_RETURN_IF_ERROR(
          CheckAdopt(*region, request->offset(), bytes, request->release_offset()));
    }
    MXGRID_ASSIGN_OR_RETURN(Context ctx, internal::FromProto(request->context()));
    if (request->adopt() && request->into() == 0 && ctx.is_cpu()) {
      MXGRID_ASSIGN_OR_RETURN(
          NDArray a,
          Adopt(region, request->offset(), request->release_offset(), shape, dtype, ctx));
      MXGRID_ASSIGN_OR_RETURN(uint64_t h, s->AddArray(request->new_handle(), a));
      internal::ToProto(h, a, response);
      return absl::OkStatus();
    }
    if (request->into() != 0) {
      MXGRID_ASSIGN_OR_RETURN(NDArray into, s->Array(request->into()));
      if (into.shape() != shape || into.dtype() != dtype) {
        return absl::InvalidArgumentError(absl::StrCat(
            "upload: the array is ", into.shape().ToString(), " ", DTypeName(into.dtype()),
            ", the value ", shape.ToString(), " ", DTypeName(dtype)));
      }
      MXGRID_RETURN_IF_ERROR(internal::WaitToWrite(context, into));
      MXGRID_RETURN_IF_ERROR(ReadInto(*region, request->offset(), into));
      internal::ToProto(request->into(), into, response);
    } else {
      MXGRID_ASSIGN_OR_RETURN(NDArray a, NDArray::Empty(shape, ctx, dtype));
      MXGRID_RETURN_IF_ERROR(ReadInto(*region, request->offset(), a));  // nobody else has `a`
      MXGRID_ASSIGN_OR_RETURN(uint64_t h, s->AddArray(request->new_handle(), a));
      internal::ToProto(h, a, response);
    }
    // Copied: the bytes are the client's again.
    if (request->adopt()) return region->StoreWord(request->release_offset(), 0);
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::DownloadShm(grpc::ServerContext* context,
                                        const v1::DownloadShmRequest* request,
                                        v1::DownloadShmResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(NDArray a, s->Array(request->handle()));
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<const shm::Region> region,
                            s->ShmRegion(request->region()));
    const int64_t bytes = static_cast<int64_t>(a.nbytes());
    MXGRID_RETURN_IF_ERROR(region->CheckRange(request->offset(), bytes));
    rpc::ToProto(a.dtype(), a.shape(), response->mutable_meta());
    if (request->take()) {
      MXGRID_ASSIGN_OR_RETURN(
          bool taken, HandOver(context, *s, request->handle(), *region, request->offset(),
                               std::move(a)));
      response->set_taken(taken);
      return absl::OkStatus();
    }
    if (!a.context().is_cpu()) {
      MXGRID_ASSIGN_OR_RETURN(a, a.CopyTo(Context::Cpu()));
    }
    MXGRID_RETURN_IF_ERROR(internal::WaitToRead(context, a));
    return region->Write(request->offset(), a.data(), bytes);
  }());
}

}  // namespace mxgrid::services

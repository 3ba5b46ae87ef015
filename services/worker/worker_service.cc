// WorkerService: sessions, devices and array handles. Imperative calls are in
// worker_invoke.cc, executors in worker_executor.cc, the KVStore in worker_kvstore.cc.
#include "services/worker/worker_service.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"
#include "libs/rpc/tensor_codec.h"
#include "libs/gpu/gpu.h"
#include "libs/tensor/allocator.h"
#include "libs/engine/flow.h"
#include "services/common/grpc_status.h"
#include "services/common/client_identity.h"
#include "services/worker/internal/codec.h"
#include "services/worker/internal/wait.h"

namespace mxgrid::services {
namespace {

using tensor::NDArray;

std::string CpuName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "cpu";
}

// Checks that `array` can receive a value of `value`'s shape and dtype.
absl::Status CheckSame(const NDArray& array, const NDArray& value, absl::string_view what) {
  if (array.shape() == value.shape() && array.dtype() == value.dtype()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      what, ": the array is ", array.shape().ToString(), " ", DTypeName(array.dtype()),
      ", the value ", value.shape().ToString(), " ", DTypeName(value.dtype())));
}

// The shape of a.reshape(dims): dims >= 0, or one -1 inferred from the array's size.
absl::StatusOr<Shape> ReshapeTarget(const NDArray& a, const v1::TensorMeta& meta) {
  if (meta.dtype() != v1::DTYPE_UNSPECIFIED && meta.dtype() != rpc::ToProtoDType(a.dtype())) {
    return absl::InvalidArgumentError("reshape cannot change the dtype (use Cast)");
  }
  if (meta.shape_size() > Shape::kMaxNdim) {
    return absl::InvalidArgumentError(absl::StrCat("reshape: more than ", Shape::kMaxNdim,
                                                   " dimensions"));
  }
  std::vector<int64_t> dims(meta.shape().begin(), meta.shape().end());
  int unknown = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1 && unknown < 0) {
      unknown = static_cast<int>(i);
    } else if (dims[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("reshape: bad dimension ", dims[i]));
    } else if (dims[i] > 0 && known > (int64_t{1} << 62) / dims[i]) {
      return absl::InvalidArgumentError("reshape: the shape has too many elements");
    } else {
      known *= dims[i];
    }
  }
  if (unknown >= 0) {
    if (known == 0 || a.size() % known != 0) {
      return absl::InvalidArgumentError(absl::StrCat("reshape: cannot infer -1 for ",
                                                     a.size(), " elements"));
    }
    dims[unknown] = a.size() / known;
  }
  return Shape(absl::MakeConstSpan(dims));
}

}  // namespace

WorkerService::WorkerService(const ops::Registry* registry, WorkerOptions options)
    : registry_(registry),
      options_(std::move(options)),
      sessions_(options_.sessions),
      ops_(options_.op_cache_entries) {}

void WorkerService::SetCompiler(std::shared_ptr<grpc::Channel> channel) {
  std::shared_ptr<v1::Compiler::Stub> stub = v1::Compiler::NewStub(std::move(channel));
  base::MutexLock lock(&compiler_mu_);
  compiler_ = std::move(stub);
}

void WorkerService::AddGauges(SampledGauges* gauges) {
  gauges->Add("mxgrid_worker_sessions", "Open sessions on this worker.", [this] {
    return SampledGauges::Sample{{{}, static_cast<double>(sessions_.size())}};
  });
  // Per session, labelled with the first 8 characters of its id (what logs and errors show).
  auto per_session = [this](auto value) {
    SampledGauges::Sample sample;
    for (const auto& s : sessions_.List()) {
      sample.push_back({{{"session", s->id().substr(0, 8)}}, static_cast<double>(value(*s))});
    }
    return sample;
  };
  gauges->Add("mxgrid_worker_session_memory_bytes",
              "Bytes charged to a session: its arrays' storage, handles and queued operations.",
              [per_session] {
                return per_session([](const Session& s) { return s.memory()->used(); });
              });
  gauges->Add("mxgrid_worker_session_handles", "Array handles a session holds.", [per_session] {
    return per_session([](const Session& s) { return s.num_handles(); });
  });
  gauges->Add("mxgrid_worker_session_queued_operations",
              "Operations a session has queued on the engine and not yet finished.",
              [per_session] {
                return per_session([](const Session& s) { return s.flow()->queued_ops(); });
              });
  gauges->Add("mxgrid_worker_session_queued_bytes",
              "Bytes the queued operations of a session write.", [per_session] {
                return per_session([](const Session& s) { return s.flow()->queued_bytes(); });
              });
  gauges->Add("mxgrid_worker_session_array_bytes",
              "Bytes of the arrays sessions hold by handle (views counted once).", [this] {
                double total = 0;
                for (const auto& s : sessions_.List()) total += s->ArrayBytes();
                return SampledGauges::Sample{{{}, total}};
              });
}

grpc::Status WorkerService::OpenSession(grpc::ServerContext* context,
                                        const v1::OpenSessionRequest* request,
                                        v1::OpenSessionResponse* response) {
  if (!(request->lease_seconds() >= 0) || request->lease_seconds() > 1e9) {
    return ToGrpc(absl::InvalidArgumentError("lease_seconds must be in [0, 1e9]"));
  }
  absl::StatusOr<std::shared_ptr<Session>> opened = sessions_.Open(
      absl::Seconds(request->lease_seconds()), request->client(), ClientIdentity(*context));
  if (!opened.ok()) return ToGrpc(opened.status());
  const std::shared_ptr<Session>& s = *opened;
  response->set_session(s->id());
  response->set_lease_seconds(absl::ToDoubleSeconds(s->lease()));
  return grpc::Status::OK;
}

grpc::Status WorkerService::KeepAlive(grpc::ServerContext*, const v1::KeepAliveRequest* request,
                                      v1::KeepAliveResponse* response) {
  absl::StatusOr<std::shared_ptr<Session>> s = sessions_.Find(request->session());
  if (!s.ok()) return ToGrpc(s.status());
  response->set_lease_seconds(absl::ToDoubleSeconds((*s)->lease()));
  return grpc::Status::OK;
}

grpc::Status WorkerService::CloseSession(grpc::ServerContext*,
                                         const v1::CloseSessionRequest* request,
                                         v1::CloseSessionResponse*) {
  return ToGrpc(sessions_.Close(request->session()));
}

grpc::Status WorkerService::ListDevices(grpc::ServerContext*, const v1::ListDevicesRequest*,
                                        v1::ListDevicesResponse* response) {
  v1::Device* cpu = response->add_devices();
  internal::ToProto(Context::Cpu(), cpu->mutable_context());
  cpu->set_name(CpuName());
  const int64_t page = sysconf(_SC_PAGESIZE);
  cpu->set_total_memory_bytes(int64_t{sysconf(_SC_PHYS_PAGES)} * page);
  cpu->set_free_memory_bytes(int64_t{sysconf(_SC_AVPHYS_PAGES)} * page);
  absl::StatusOr<tensor::Allocator*> alloc = tensor::AllocatorFor(Context::Cpu());
  if (alloc.ok()) cpu->set_used_by_arrays_bytes((*alloc)->bytes_in_use());
  cpu->set_healthy(true);
  for (int id = 0; id < gpu::DeviceCount(); ++id) {
    v1::Device* d = response->add_devices();
    internal::ToProto(Context::Gpu(id), d->mutable_context());
    absl::StatusOr<gpu::DeviceInfo> info = gpu::Info(id);
    if (info.ok()) {
      d->set_name(info->name);
      d->set_compute_capability_major(info->compute_major);
      d->set_compute_capability_minor(info->compute_minor);
      d->set_multiprocessors(info->multiprocessors);
    }
    int64_t free_bytes = 0, total_bytes = 0;
    if (gpu::MemoryInfo(id, &free_bytes, &total_bytes).ok()) {
      d->set_total_memory_bytes(total_bytes);
      d->set_free_memory_bytes(free_bytes);
    }
    const tensor::GpuMemoryStats stats = tensor::GpuMemoryStatsFor(id);
    d->set_used_by_arrays_bytes(stats.in_use_bytes);
    d->set_cached_bytes(stats.cached_bytes);
    d->set_limit_bytes(stats.limit_bytes);
    d->set_unhealthy_reason(gpu::UnhealthyReason(id));
    d->set_healthy(d->unhealthy_reason().empty());
  }
  return grpc::Status::OK;
}

grpc::Status WorkerService::CreateArray(grpc::ServerContext* context,
                                        const v1::CreateArrayRequest* request,
                                        v1::ArrayInfo* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    DType dtype;
    Shape shape;
    MXGRID_RETURN_IF_ERROR(rpc::FromProto(request->meta(), &dtype, &shape));
    MXGRID_ASSIGN_OR_RETURN(Context ctx, internal::FromProto(request->context()));
    if (request->stype() != v1::STORAGE_TYPE_UNSPECIFIED && request->stype() != v1::DEFAULT) {
      MXGRID_ASSIGN_OR_RETURN(tensor::StorageType stype,
                              internal::SparseStorageFromProto(request->stype()));
      if (request->init_case() == v1::CreateArrayRequest::kFill && request->fill() != 0) {
        return absl::InvalidArgumentError("a sparse array is created empty (all zeros)");
      }
      MXGRID_ASSIGN_OR_RETURN(tensor::SparseNDArray z,
                              tensor::SparseNDArray::Zeros(stype, shape, ctx, dtype));
      MXGRID_ASSIGN_OR_RETURN(uint64_t h, s->AddSparse(request->new_handle(), z));
      internal::ToProto(h, z, response);
      return absl::OkStatus();
    }
    NDArray a;
    if (request->init_case() == v1::CreateArrayRequest::kFill) {
      MXGRID_ASSIGN_OR_RETURN(a, NDArray::Full(shape, request->fill(), ctx, dtype));
    } else {
      MXGRID_ASSIGN_OR_RETURN(a, NDArray::Empty(shape, ctx, dtype));
    }
    MXGRID_ASSIGN_OR_RETURN(uint64_t h, s->AddArray(request->new_handle(), a));
    internal::ToProto(h, a, response);
    return absl::OkStatus();
  }());
}

namespace {

// Stores `value` as the upload's result: into an existing array, or as a new one.
absl::Status FinishUpload(Session& s, const v1::UploadRequest& request, const NDArray& value,
                          v1::ArrayInfo* response) {
  if (request.into() != 0) {
    MXGRID_ASSIGN_OR_RETURN(NDArray into, s.Array(request.into()));
    MXGRID_RETURN_IF_ERROR(CheckSame(into, value, "upload"));
    MXGRID_RETURN_IF_ERROR(value.CopyTo(into));
    internal::ToProto(request.into(), into, response);
    return absl::OkStatus();
  }
  MXGRID_ASSIGN_OR_RETURN(uint64_t h, s.AddArray(request.new_handle(), value));
  internal::ToProto(h, value, response);
  return absl::OkStatus();
}

// Where an upload's bytes land first: the target's context, or the new array's.
absl::StatusOr<Context> UploadContext(Session& s, const v1::UploadRequest& request) {
  if (request.into() != 0) {
    MXGRID_ASSIGN_OR_RETURN(NDArray into, s.Array(request.into()));
    return into.context();
  }
  return internal::FromProto(request.context());
}

}  // namespace

grpc::Status WorkerService::Upload(grpc::ServerContext* context, const v1::UploadRequest* request,
                                   v1::ArrayInfo* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(Context ctx, UploadContext(*s, *request));
    MXGRID_ASSIGN_OR_RETURN(NDArray value, rpc::FromProto(request->value(), ctx));
    return FinishUpload(*s, *request, value, response);
  }());
}

grpc::Status WorkerService::UploadStream(grpc::ServerContext* context,
                                         grpc::ServerReader<v1::UploadRequest>* reader,
                                         v1::ArrayInfo* response) {
  return ToGrpc([&]() -> absl::Status {
    v1::UploadRequest first;
    if (!reader->Read(&first)) return absl::InvalidArgumentError("empty upload stream");
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(first.session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(Context ctx, UploadContext(*s, first));
    rpc::ChunkAssembler assembler(ctx);
    MXGRID_RETURN_IF_ERROR(assembler.Add(first.chunk()));
    v1::UploadRequest next;
    while (reader->Read(&next)) {
      if (context->IsCancelled()) return absl::CancelledError("upload cancelled");
      MXGRID_RETURN_IF_ERROR(assembler.Add(next.chunk()));
    }
    MXGRID_ASSIGN_OR_RETURN(NDArray value, assembler.Finish());
    return FinishUpload(*s, first, value, response);
  }());
}

grpc::Status WorkerService::Download(grpc::ServerContext* context,
                                     const v1::DownloadRequest* request, v1::Tensor* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(NDArray a, s->Array(request->handle()));
    MXGRID_RETURN_IF_ERROR(internal::WaitToRead(context, a));
    return rpc::ToProto(a, response, request->as_values());
  }());
}

grpc::Status WorkerService::DownloadStream(grpc::ServerContext* context,
                                           const v1::DownloadRequest* request,
                                           grpc::ServerWriter<v1::TensorChunk>* writer) {
  return ToGrpc([&]() -> absl::Status {
    if (request->chunk_bytes() < 0) {
      return absl::InvalidArgumentError("chunk_bytes must be >= 0 (0: the default)");
    }
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(NDArray a, s->Array(request->handle()));
    MXGRID_RETURN_IF_ERROR(internal::WaitToRead(context, a));
    // Chunks stay below the message limit, leaving room for the envelope.
    const size_t limit = static_cast<size_t>(std::max(options_.max_message_bytes - 1024, 1024));
    const size_t chunk_bytes = std::min(request->chunk_bytes() == 0
                                            ? rpc::kDefaultChunkBytes
                                            : static_cast<size_t>(request->chunk_bytes()),
                                        limit);
    return rpc::ForEachChunk(a, chunk_bytes, [&](const v1::TensorChunk& chunk) {
      if (context->IsCancelled()) return absl::CancelledError("download cancelled");
      return writer->Write(chunk) ? absl::OkStatus()
                                  : absl::UnavailableError("the client went away");
    });
  }());
}

grpc::Status WorkerService::Copy(grpc::ServerContext* context, const v1::CopyRequest* request,
                                 v1::ArrayInfo* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    if (s->HasSparse({request->src(), request->into()})) {
      return CopySparse(*s, *request, response);
    }
    MXGRID_ASSIGN_OR_RETURN(NDArray src, s->Array(request->src()));
    if (request->into() != 0) {
      MXGRID_ASSIGN_OR_RETURN(NDArray dst, s->Array(request->into()));
      MXGRID_RETURN_IF_ERROR(src.CopyTo(dst));
      internal::ToProto(request->into(), dst, response);
      return absl::OkStatus();
    }
    MXGRID_ASSIGN_OR_RETURN(Context ctx, internal::FromProto(request->context()));
    MXGRID_ASSIGN_OR_RETURN(NDArray dst, src.CopyTo(ctx));
    MXGRID_ASSIGN_OR_RETURN(uint64_t h, s->AddArray(request->new_handle(), dst));
    internal::ToProto(h, dst, response);
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::Fill(grpc::ServerContext* context, const v1::FillRequest* request,
                                 v1::FillResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(NDArray a, s->Array(request->handle()));
    return a.Fill(request->value());
  }());
}

grpc::Status WorkerService::View(grpc::ServerContext*, const v1::ViewRequest* request,
                                 v1::ArrayInfo* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(NDArray a, s->Array(request->handle()));
    NDArray view;
    switch (request->what_case()) {
      case v1::ViewRequest::kSlice: {
        MXGRID_ASSIGN_OR_RETURN(view, a.Slice(request->slice().begin(), request->slice().end()));
        break;
      }
      case v1::ViewRequest::kAt: {
        MXGRID_ASSIGN_OR_RETURN(view, a.At(request->at()));
        break;
      }
      case v1::ViewRequest::kReshape: {
        MXGRID_ASSIGN_OR_RETURN(Shape shape, ReshapeTarget(a, request->reshape()));
        MXGRID_ASSIGN_OR_RETURN(view, a.Reshape(shape));
        break;
      }
      default:
        return absl::InvalidArgumentError("view: set one of slice, at or reshape");
    }
    MXGRID_ASSIGN_OR_RETURN(uint64_t h, s->AddArray(request->new_handle(), view));
    internal::ToProto(h, view, response);
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::Describe(grpc::ServerContext*,
                                     const v1::DescribeArraysRequest* request,
                                     v1::DescribeArraysResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    if (request->handles().empty()) {
      for (const auto& [h, a] : s->ListArrays()) internal::ToProto(h, a, response->add_arrays());
    } else {
      MXGRID_ASSIGN_OR_RETURN(std::vector<executor::AnyArray> arrays,
                              s->AnyArrays(request->handles()));
      for (size_t i = 0; i < arrays.size(); ++i) {
        internal::ToProto(request->handles(static_cast<int>(i)), arrays[i],
                          response->add_arrays());
      }
    }
    response->set_session_bytes(s->ArrayBytes());
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::Free(grpc::ServerContext*, const v1::FreeRequest* request,
                                 v1::FreeResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    return s->Free(request->handles());
  }());
}

grpc::Status WorkerService::Wait(grpc::ServerContext* context, const v1::WaitRequest* request,
                                 v1::WaitResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    std::vector<NDArray> arrays;
    if (request->handles().empty()) {
      for (auto& [h, a] : s->ListArrays()) arrays.push_back(std::move(a));
    } else {
      MXGRID_ASSIGN_OR_RETURN(arrays, s->Arrays(request->handles()));
    }
    absl::Status first;
    for (const NDArray& a : arrays) {
      absl::Status st = internal::WaitToRead(context, a);
      if (st.code() == absl::StatusCode::kDeadlineExceeded ||
          st.code() == absl::StatusCode::kCancelled) {
        return st;
      }
      if (first.ok()) first = st;
    }
    return first;
  }());
}

}  // namespace mxgrid::services

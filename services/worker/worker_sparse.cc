// WorkerService: sparse arrays — MakeSparse, SparseParts, and the sparse forms of Invoke and
// Copy (the dense handlers hand calls naming a sparse array over to these).
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/engine/flow.h"
#include "libs/executor/sparse_invoke.h"
#include "libs/tensor/sparse.h"
#include "services/common/grpc_status.h"
#include "services/worker/internal/codec.h"
#include "services/worker/internal/wait.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {

using executor::AnyArray;
using tensor::NDArray;
using tensor::SparseNDArray;

grpc::Status WorkerService::MakeSparse(grpc::ServerContext* context,
                                       const v1::MakeSparseRequest* request,
                                       v1::ArrayInfo* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_RETURN_IF_ERROR(internal::WaitForRoom(context, *s));
    MXGRID_ASSIGN_OR_RETURN(tensor::StorageType stype,
                            internal::SparseStorageFromProto(request->stype()));
    MXGRID_ASSIGN_OR_RETURN(Shape shape, Shape::Make(request->shape()));
    MXGRID_ASSIGN_OR_RETURN(NDArray data, s->Array(request->data()));
    MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> aux, s->Arrays(request->aux()));
    MXGRID_ASSIGN_OR_RETURN(SparseNDArray value,
                            SparseNDArray::FromParts(stype, shape, data, std::move(aux)));
    if (request->into() != 0) {
      MXGRID_ASSIGN_OR_RETURN(SparseNDArray old, s->Sparse(request->into()));
      if (old.shape() != value.shape() || old.dtype() != value.dtype()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "MakeSparse into ", request->into(), ": it is ", old.shape().ToString(), " ",
            DTypeName(old.dtype()), ", the parts make ", value.shape().ToString(), " ",
            DTypeName(value.dtype())));
      }
      if (old.stype() != value.stype()) {
        MXGRID_ASSIGN_OR_RETURN(value, tensor::Convert(value, old.stype()));
      }
      MXGRID_RETURN_IF_ERROR(s->ReplaceSparse(request->into(), value));
      internal::ToProto(request->into(), value, response);
      return absl::OkStatus();
    }
    MXGRID_ASSIGN_OR_RETURN(uint64_t h, s->AddSparse(request->new_handle(), value));
    internal::ToProto(h, value, response);
    return absl::OkStatus();
  }());
}

grpc::Status WorkerService::SparseParts(grpc::ServerContext*,
                                        const v1::SparsePartsRequest* request,
                                        v1::SparsePartsResponse* response) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const engine::FlowScope in_session = s->Enter();
    MXGRID_ASSIGN_OR_RETURN(SparseNDArray value, s->Sparse(request->handle()));
    std::vector<NDArray> parts = {value.data()};
    for (const NDArray& a : value.aux()) parts.push_back(a);
    const std::vector<uint64_t> wanted(parts.size(), 0);
    MXGRID_ASSIGN_OR_RETURN(std::vector<uint64_t> handles, s->AddArrays(wanted, parts));
    internal::ToProto(handles[0], parts[0], response->mutable_data());
    for (size_t i = 1; i < parts.size(); ++i) {
      internal::ToProto(handles[i], parts[i], response->add_aux());
    }
    return absl::OkStatus();
  }());
}

absl::Status WorkerService::DoInvokeAny(Session& s, std::shared_ptr<const ops::ParsedOp> op,
                                        const v1::InvokeRequest& request,
                                        v1::InvokeResponse* response) {
  if (request.record()) {
    return absl::InvalidArgumentError(absl::StrCat(
        op->def().name, ": autograd does not record calls on sparse arrays (mxgrid "
        "differentiates dense arrays only; convert with tostype('default'))"));
  }
  MXGRID_ASSIGN_OR_RETURN(std::vector<AnyArray> inputs, s.AnyArrays(request.inputs()));
  MXGRID_ASSIGN_OR_RETURN(std::vector<AnyArray> into, s.AnyArrays(request.outputs()));
  executor::InvokeOptions options;
  options.is_train = request.is_train();
  options.random = s.random().get();
  MXGRID_ASSIGN_OR_RETURN(executor::SparseInvokeResult r,
                          executor::InvokeAny(op, inputs, into, options));
  for (const auto& [index, value] : r.replaced_inputs) {
    MXGRID_RETURN_IF_ERROR(s.ReplaceSparse(request.inputs(static_cast<int>(index)), value));
  }
  if (!into.empty()) {
    for (size_t i = 0; i < into.size(); ++i) {
      const uint64_t h = request.outputs(static_cast<int>(i));
      if (executor::IsSparse(r.outputs[i])) {
        MXGRID_RETURN_IF_ERROR(s.ReplaceSparse(h, std::get<SparseNDArray>(r.outputs[i])));
      }
      internal::ToProto(h, r.outputs[i], response->add_outputs());
    }
    return absl::OkStatus();
  }
  for (size_t i = 0; i < r.outputs.size(); ++i) {
    const uint64_t wanted = static_cast<int>(i) < request.new_handles_size()
                                ? request.new_handles(static_cast<int>(i))
                                : 0;
    uint64_t h = 0;
    if (executor::IsSparse(r.outputs[i])) {
      MXGRID_ASSIGN_OR_RETURN(h, s.AddSparse(wanted, std::get<SparseNDArray>(r.outputs[i])));
    } else {
      MXGRID_ASSIGN_OR_RETURN(h, s.AddArray(wanted, std::get<NDArray>(r.outputs[i])));
    }
    internal::ToProto(h, r.outputs[i], response->add_outputs());
  }
  return absl::OkStatus();
}

absl::Status WorkerService::CopySparse(Session& s, const v1::CopyRequest& request,
                                       v1::ArrayInfo* response) {
  MXGRID_ASSIGN_OR_RETURN(std::vector<AnyArray> src, s.AnyArrays({request.src()}));
  if (request.into() != 0) {
    MXGRID_ASSIGN_OR_RETURN(std::vector<AnyArray> dst, s.AnyArrays({request.into()}));
    const AnyArray& from = src[0];
    const AnyArray& to = dst[0];
    if (!executor::IsSparse(to)) {  // sparse -> dense
      MXGRID_RETURN_IF_ERROR(tensor::ToDenseInto(std::get<SparseNDArray>(from),
                                                 std::get<NDArray>(to)));
      internal::ToProto(request.into(), to, response);
      return absl::OkStatus();
    }
    const SparseNDArray& target = std::get<SparseNDArray>(to);
    SparseNDArray value;
    if (executor::IsSparse(from)) {
      MXGRID_ASSIGN_OR_RETURN(value,
                              tensor::Convert(std::get<SparseNDArray>(from), target.stype()));
    } else {
      MXGRID_ASSIGN_OR_RETURN(value, tensor::FromDense(std::get<NDArray>(from), target.stype()));
    }
    if (value.shape() != target.shape()) {
      return absl::InvalidArgumentError(absl::StrCat("copyto: source shape ",
                                                     value.shape().ToString(),
                                                     " differs from destination shape ",
                                                     target.shape().ToString()));
    }
    if (value.context() != target.context() || value.dtype() != target.dtype()) {
      MXGRID_ASSIGN_OR_RETURN(value, tensor::CopyTo(value, target.context(), target.dtype()));
    }
    MXGRID_RETURN_IF_ERROR(s.ReplaceSparse(request.into(), value));
    internal::ToProto(request.into(), value, response);
    return absl::OkStatus();
  }
  MXGRID_ASSIGN_OR_RETURN(Context ctx, internal::FromProto(request.context()));
  const SparseNDArray& from = std::get<SparseNDArray>(src[0]);
  MXGRID_ASSIGN_OR_RETURN(SparseNDArray copy, tensor::CopyTo(from, ctx, from.dtype()));
  MXGRID_ASSIGN_OR_RETURN(uint64_t h, s.AddSparse(request.new_handle(), copy));
  internal::ToProto(h, copy, response);
  return absl::OkStatus();
}

}  // namespace mxgrid::services

#include "services/kvstore/kvstore_calls.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/rpc/tensor_codec.h"

namespace mxgrid::services::kvstore_calls {

using kvstore::Job;
using kvstore::KeyId;
using tensor::NDArray;

kvstore::WaitOptions Wait(grpc::ServerContext* context) {
  kvstore::WaitOptions wait;
  const std::chrono::system_clock::time_point d = context->deadline();
  if (d != std::chrono::system_clock::time_point::max()) {
    const absl::Time deadline = absl::FromChrono(d);
    const absl::Duration left = deadline - absl::Now();
    wait.deadline =
        deadline - std::max(absl::ZeroDuration(), std::min(absl::Milliseconds(50), left / 10));
  }
  wait.cancelled = [context] { return context->IsCancelled(); };
  return wait;
}

// The job a KeyRef names and its (key, part), validated.
absl::StatusOr<std::shared_ptr<Job>> FindRef(const kvstore::JobTable& table, const v1::KeyRef& ref, KeyId* id) {
  if (ref.key().empty()) return absl::InvalidArgumentError("kvstore: ref.key is empty");
  if (ref.part() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("kvstore: ref.part ", ref.part(), " is negative"));
  }
  *id = KeyId{ref.key(), ref.part()};
  return table.Find(ref.job());
}

absl::StatusOr<std::vector<NDArray>> Values(
    const google::protobuf::RepeatedPtrField<v1::Tensor>& values) {
  std::vector<NDArray> out;
  for (int i = 0; i < values.size(); ++i) {
    absl::StatusOr<NDArray> a = rpc::FromProto(values[i], Context::Cpu());
    if (!a.ok()) return Annotate(a.status(), absl::StrCat("values[", i, "]"));
    out.push_back(*std::move(a));
  }
  return out;
}

absl::StatusOr<std::optional<DType>> PullDType(v1::DType dtype) {
  if (dtype == v1::DTYPE_UNSPECIFIED) return std::optional<DType>();
  MXGRID_ASSIGN_OR_RETURN(DType d, rpc::FromProtoDType(dtype));
  return std::optional<DType>(d);
}

absl::Status EncodePulled(const v1::PullRequest&, const NDArray& value, v1::Tensor* out) {
  return rpc::ToProto(value, out);
}

}  // namespace mxgrid::services::kvstore_calls

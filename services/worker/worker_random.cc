// WorkerService: mx.random.seed (SeedRandom).
#include <memory>

#include "libs/base/status_macros.h"
#include "services/common/grpc_status.h"
#include "services/worker/internal/codec.h"
#include "services/worker/worker_service.h"

namespace mxgrid::services {

grpc::Status WorkerService::SeedRandom(grpc::ServerContext*, const v1::SeedRandomRequest* request,
                                       v1::SeedRandomResponse*) {
  return ToGrpc([&]() -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, sessions_.Find(request->session()));
    const uint64_t seed = static_cast<uint64_t>(request->seed());
    if (!request->has_context()) {
      s->random()->Seed(seed);
      return absl::OkStatus();
    }
    MXGRID_ASSIGN_OR_RETURN(Context ctx, internal::FromProto(request->context()));
    s->random()->Seed(seed, ctx);
    return absl::OkStatus();
  }());
}

}  // namespace mxgrid::services

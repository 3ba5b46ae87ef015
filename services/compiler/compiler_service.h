// mxgrid.v1.Compiler (proto/mxgrid/v1/compiler.proto) over libs/graph: thin handlers that
// decode, call the graph library once and encode. Stateless but for a bounded plan cache.
//
// Thread-safety: thread-safe (gRPC calls handlers concurrently).
#ifndef MXGRID_SERVICES_COMPILER_COMPILER_SERVICE_H_
#define MXGRID_SERVICES_COMPILER_COMPILER_SERVICE_H_

#include <cstddef>
#include <string>

#include "libs/base/lru_cache.h"
#include "libs/ops/registry.h"
#include "proto/mxgrid/v1/compiler.grpc.pb.h"

namespace mxgrid::services {

class CompilerService final : public v1::Compiler::Service {
 public:
  // `registry` must outlive the service; `plan_cache_entries` bounds the cache (0 disables).
  CompilerService(const ops::Registry* registry, size_t plan_cache_entries);

  grpc::Status ListOperators(grpc::ServerContext* context, const v1::ListOperatorsRequest* request,
                             v1::ListOperatorsResponse* response) override;
  grpc::Status Compose(grpc::ServerContext* context, const v1::ComposeRequest* request,
                       v1::ComposeResponse* response) override;
  grpc::Status Transform(grpc::ServerContext* context, const v1::TransformRequest* request,
                         v1::TransformResponse* response) override;
  grpc::Status Describe(grpc::ServerContext* context, const v1::DescribeRequest* request,
                        v1::DescribeResponse* response) override;
  grpc::Status InferShape(grpc::ServerContext* context, const v1::InferShapeRequest* request,
                          v1::InferShapeResponse* response) override;
  grpc::Status InferType(grpc::ServerContext* context, const v1::InferTypeRequest* request,
                         v1::InferTypeResponse* response) override;
  grpc::Status MakePlan(grpc::ServerContext* context, const v1::MakePlanRequest* request,
                        v1::MakePlanResponse* response) override;

 private:
  const ops::Registry* const registry_;
  // Plans by the MakePlanRequest's serialized bytes.
  base::LruCache<v1::Plan> plans_;
};

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_COMPILER_COMPILER_SERVICE_H_

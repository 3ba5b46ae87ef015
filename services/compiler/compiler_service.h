// mxgrid.v1.Compiler (proto/mxgrid/v1/compiler.proto) over libs/graph: thin handlers that
// decode, call the graph library once and encode. Stateless but for two bounded caches: plans,
// and the symbols it built for clients that compose by handle (mxgrid.v1.Symbol's ref).
//
// Thread-safety: thread-safe (gRPC calls handlers concurrently).
#ifndef MXGRID_SERVICES_COMPILER_COMPILER_SERVICE_H_
#define MXGRID_SERVICES_COMPILER_COMPILER_SERVICE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "libs/base/lru_cache.h"
#include "libs/graph/symbol.h"
#include "libs/graph/symbol_cache.h"
#include "libs/ops/registry.h"
#include "proto/mxgrid/v1/compiler.grpc.pb.h"

namespace mxgrid::services {

class CompilerService final : public v1::Compiler::Service {
 public:
  // `registry` must outlive the service; the entries bound the plan and symbol caches (0
  // disables one: by_ref requests then get JSON back).
  CompilerService(const ops::Registry* registry, size_t plan_cache_entries,
                  size_t symbol_cache_entries);

  grpc::Status ListOperators(grpc::ServerContext* context, const v1::ListOperatorsRequest* request,
                             v1::ListOperatorsResponse* response) override;
  grpc::Status Compose(grpc::ServerContext* context, const v1::ComposeRequest* request,
                       v1::ComposeResponse* response) override;
  grpc::Status Transform(grpc::ServerContext* context, const v1::TransformRequest* request,
                         v1::TransformResponse* response) override;
  grpc::Status ComposeBurst(grpc::ServerContext* context, const v1::ComposeBurstRequest* request,
                            v1::ComposeBurstResponse* response) override;
  grpc::Status Describe(grpc::ServerContext* context, const v1::DescribeRequest* request,
                        v1::DescribeResponse* response) override;
  grpc::Status InferShape(grpc::ServerContext* context, const v1::InferShapeRequest* request,
                          v1::InferShapeResponse* response) override;
  grpc::Status InferType(grpc::ServerContext* context, const v1::InferTypeRequest* request,
                         v1::InferTypeResponse* response) override;
  grpc::Status MakePlan(grpc::ServerContext* context, const v1::MakePlanRequest* request,
                        v1::MakePlanResponse* response) override;

 private:
  // A request's symbol: the held one its `ref` names, else parsed from its JSON
  // (`*from_json` says which), then its `output` alone when set; NotFound for a ref not held
  // without JSON.
  absl::StatusOr<graph::Symbol> Load(const v1::Symbol& s, bool* from_json = nullptr) const;
  // Load without the output selection.
  absl::StatusOr<graph::Symbol> LoadWhole(const v1::Symbol& s, bool* from_json) const;
  // Compose's inputs; `*any_json` |= whether one came as JSON.
  absl::StatusOr<graph::Symbol::Inputs> LoadInputs(const v1::ComposeRequest& r,
                                                   bool* any_json) const;
  // What a Compose or Transform request builds; `*any_json` |= whether an input came as JSON.
  absl::StatusOr<graph::Symbol> ComposeSymbol(const v1::ComposeRequest& request,
                                              bool* any_json) const;
  absl::StatusOr<graph::Symbol> TransformSymbol(const v1::TransformRequest& request,
                                                bool* any_json) const;
  // `s` into `out`: as a new handle when `by_ref`, else as JSON; merged first when `merge`.
  void Store(const graph::Symbol& s, bool merge, bool by_ref, v1::Symbol* out) const;

  const ops::Registry* const registry_;
  // Plans by the MakePlanRequest's serialized bytes.
  base::LruCache<v1::Plan> plans_;
  // Symbols built for by_ref requests. Mutable: holding is not an observable state change.
  mutable graph::SymbolCache symbols_;
};

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_COMPILER_COMPILER_SERVICE_H_

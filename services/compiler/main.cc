// mxgrid-compiler: the stateless graph compiler (mxgrid.v1.Compiler) — operator schemas,
// Symbol composition and JSON, shape/type inference and execution plans for workers.
#include <cstddef>

#include "absl/flags/flag.h"
#include "libs/ops/builtin.h"
#include "services/common/flags.h"
#include "services/compiler/compiler_service.h"

ABSL_FLAG(size_t, plan_cache_entries, 256,
          "How many execution plans (by graph, shapes, dtypes and gradient requests) the "
          "compiler keeps for repeated MakePlan calls; 0 disables the cache.");

ABSL_FLAG(size_t, symbol_cache_entries, size_t{1} << 17,
          "How many symbols the compiler holds for clients that compose graphs by handle "
          "(ComposeRequest.by_ref; least recently used dropped first); 0: always send JSON.");

int main(int argc, char** argv) {
  mxgrid::services::ServerOptions options = mxgrid::services::ParseServerFlags(
      argc, argv, "mxgrid-compiler",
      "Serves MXNet Symbol composition, JSON, shape inference and execution plans over gRPC.");
  mxgrid::services::CompilerService service(&mxgrid::ops::GlobalRegistry(),
                                            absl::GetFlag(FLAGS_plan_cache_entries),
                                            absl::GetFlag(FLAGS_symbol_cache_entries));
  return mxgrid::services::RunServer(options, {&service});
}

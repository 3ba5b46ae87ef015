// mxgrid-kvstore: one parameter-server shard (mxgrid.v1.KVStore) — MXNet's dist KVStore
// server: init/push/pull of int and string keys, sync rounds or async updates, and a
// server-side optimizer.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "libs/kvstore/store.h"
#include "services/common/flags.h"
#include "services/common/gauges.h"
#include "services/kvstore/kvstore_service.h"

ABSL_FLAG(int, num_workers, 1,
          "how many workers (ranks 0..num_workers-1) push to this shard; a sync round completes "
          "when all of them have pushed a key; >= 1");
ABSL_FLAG(std::string, mode, "sync",
          "sync (dist_sync: rounds over num_workers pushes) or async (dist_async: each push "
          "applied at once)");

int main(int argc, char** argv) {
  mxgrid::services::ServerOptions options = mxgrid::services::ParseServerFlags(
      argc, argv, "mxgrid-kvstore",
      "Serves one MXNet KVStore parameter-server shard over gRPC.");
  const int num_workers = absl::GetFlag(FLAGS_num_workers);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (num_workers < 1) {
    std::fprintf(stderr, "mxgrid-kvstore: --num_workers must be >= 1, got %d\n", num_workers);
    return 2;
  }
  if (mode != "sync" && mode != "async") {
    std::fprintf(stderr, "mxgrid-kvstore: --mode must be sync or async, got '%s'\n",
                 mode.c_str());
    return 2;
  }
  mxgrid::services::KVStoreService service(
      {.num_workers = num_workers, .sync = mode == "sync"});
  return mxgrid::services::RunServer(options, {&service}, [&](mxgrid::services::Server* server) {
    auto gauges = std::make_shared<mxgrid::services::SampledGauges>();
    gauges->Add("mxgrid_kvstore_keys", "Keys initialized on this shard.", [&service] {
      return mxgrid::services::SampledGauges::Sample{
          {{}, static_cast<double>(service.store().Keys().size())}};
    });
    gauges->Add("mxgrid_kvstore_bytes_in_use",
                "Bytes of stored values plus sync rounds still accumulating.", [&service] {
                  return mxgrid::services::SampledGauges::Sample{
                      {{}, static_cast<double>(service.store().BytesInUse())}};
                });
    server->AddCollectable(gauges);
  });
}

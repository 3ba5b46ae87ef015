// The worker's RPC path against a bare gRPC peer measured in the same run.
//
// The peer is mxgrid.bench.Echo (echo.proto) served by echo_server on a loopback TCP port; it,
// the worker and a compiler run as child processes (tests/integration/process.h), so that
// each side runs as its users run it, in a process of its own.
//   (a) a tiny Invoke (elemwise_add of two 1-element arrays, new output, Free every 100) vs a
//       unary Ping carrying the same request and response sizes: µs per call;
//   (b) InvokeBatch and InvokeStream with batches of 1000 small ops on one connection vs Pings
//       carrying the same batch bytes: ops/s;
//   (c) 256 MiB UploadStream / DownloadStream in 2 MiB chunks vs Echo's client / server
//       streams of the same bytes: GB/s.
// Prints one {"metric", "value", "unit"} JSON object per line; tools/bench_report.py pairs them.
//
//   bazel build -c opt //tests/bench:net_bench && bazel-bin/tests/bench/net_bench
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "tests/bench/echo.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"

namespace mxgrid {
namespace {

using integration::ServerProcess;
using integration::WorkerClient;

constexpr double kGB = 1e9;
constexpr int64_t kStreamBytes = int64_t{256} << 20;
constexpr int64_t kChunkBytes = int64_t{2} << 20;
constexpr int kBatchOps = 1000;

void Emit(const char* metric, double value, const char* unit) {
  std::printf("{\"metric\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", metric, value, unit);
  std::fflush(stdout);
}

void Check(const grpc::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "net_bench: %s failed: %s\n", what, integration::Describe(s).c_str());
    std::exit(1);
  }
}

double Seconds(const std::function<void()>& fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double BestSeconds(int runs, const std::function<void()>& fn) {
  double best = 1e30;
  for (int i = 0; i < runs; ++i) best = std::min(best, Seconds(fn));
  return best;
}

// Best times of `a` and `b` over `runs` alternating runs, so that a change in the machine's
// load (2-core CI machines build meanwhile) hits both sides alike.
std::pair<double, double> BestInterleaved(int runs, const std::function<void()>& a,
                                          const std::function<void()>& b) {
  double best_a = 1e30, best_b = 1e30;
  for (int i = 0; i < runs; ++i) {
    best_a = std::min(best_a, Seconds(a));
    best_b = std::min(best_b, Seconds(b));
  }
  return {best_a, best_b};
}

std::unique_ptr<ServerProcess> MustStart(integration::ServerProcessOptions options) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> p = ServerProcess::Start(std::move(options));
  if (!p.ok()) {
    std::fprintf(stderr, "net_bench: %s\n", p.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(p);
}

v1::InvokeRequest TinyAdd(const std::string& session, uint64_t a, uint64_t b) {
  v1::InvokeRequest request;
  request.set_session(session);
  request.set_op("elemwise_add");
  request.add_inputs(a);
  request.add_inputs(b);
  return request;
}

// A batch of kBatchOps independent adds writing client-chosen handles 1..kBatchOps, freeing
// them again at the end of the batch, so every batch is the same.
v1::InvokeBatchRequest AddBatch(const std::string& session, uint64_t a, uint64_t b) {
  v1::InvokeBatchRequest batch;
  batch.set_session(session);
  for (int i = 0; i < kBatchOps; ++i) {
    v1::InvokeRequest* call = batch.add_calls();
    call->set_op("elemwise_add");
    call->add_inputs(a);
    call->add_inputs(b);
    call->add_new_handles(static_cast<uint64_t>(i + 1));
    batch.add_free(static_cast<uint64_t>(i + 1));
  }
  return batch;
}

void Run() {
  // The bare peer.
  std::unique_ptr<ServerProcess> echo_server = MustStart({.binary = "tests/bench/echo_server"});
  auto echo = bench::Echo::NewStub(echo_server->NewChannel());

  // The worker.
  std::unique_ptr<ServerProcess> compiler =
      MustStart({.binary = "services/compiler/mxgrid-compiler", .args = {"--log_level=warn"}});
  std::unique_ptr<ServerProcess> worker =
      MustStart({.binary = "services/worker/mxgrid-worker",
                 .args = {absl::StrCat("--compiler=", compiler->address()), "--log_level=warn"}});
  WorkerClient w(worker->NewChannel());
  Check(w.Open(), "OpenSession");
  uint64_t a = 0, b = 0;
  Check(w.UploadFloats({1}, {1}, &a), "Upload");
  Check(w.UploadFloats({1}, {2}, &b), "Upload");

  // (a) Round trip of a tiny Invoke vs a Ping of the same sizes.
  {
    const v1::InvokeRequest request = TinyAdd(w.session(), a, b);
    v1::InvokeResponse sample;
    {
      grpc::ClientContext context;
      Check(w.stub()->Invoke(&context, request, &sample), "Invoke");
    }
    constexpr int kCalls = 5000;
    auto invoke_loop = [&] {
      std::vector<uint64_t> outputs;
      for (int i = 0; i < kCalls; ++i) {
        v1::InvokeResponse response;
        grpc::ClientContext context;
        Check(w.stub()->Invoke(&context, request, &response), "Invoke");
        outputs.push_back(response.outputs(0).handle());
        if (outputs.size() == 100) {
          Check(w.Free(outputs), "Free");
          outputs.clear();
        }
      }
    };
    bench::PingRequest ping;
    ping.set_data(std::string(request.ByteSizeLong(), 'p'));
    ping.set_response_bytes(static_cast<int64_t>(sample.ByteSizeLong()));
    auto ping_loop = [&] {
      for (int i = 0; i < kCalls; ++i) {
        bench::PingResponse response;
        grpc::ClientContext context;
        Check(echo->Ping(&context, ping, &response), "Ping");
      }
    };
    invoke_loop();  // warm-up
    ping_loop();
    const auto [invoke_s, ping_s] = BestInterleaved(5, invoke_loop, ping_loop);
    std::fprintf(stderr, "tiny Invoke: %zu request bytes, %zu response bytes\n",
                 request.ByteSizeLong(), sample.ByteSizeLong());
    Emit("net_invoke_us", invoke_s / kCalls * 1e6, "us");
    Emit("net_ping_us", ping_s / kCalls * 1e6, "us");
  }

  // (b) Batches of 1000 small ops over one connection.
  {
    const v1::InvokeBatchRequest batch = AddBatch(w.session(), a, b);
    constexpr int kBatches = 20;
    auto batch_loop = [&] {
      for (int i = 0; i < kBatches; ++i) {
        v1::InvokeBatchResponse response;
        grpc::ClientContext context;
        Check(w.stub()->InvokeBatch(&context, batch, &response), "InvokeBatch");
      }
      Check(w.Wait({}), "Wait");
    };
    auto stream_loop = [&] {
      grpc::ClientContext context;
      auto stream = w.stub()->InvokeStream(&context);
      std::thread reader([&] {
        v1::InvokeBatchResponse response;
        while (stream->Read(&response)) {
        }
      });
      for (int i = 0; i < kBatches; ++i) {
        if (!stream->Write(batch)) break;
      }
      stream->WritesDone();
      reader.join();
      Check(stream->Finish(), "InvokeStream");
      Check(w.Wait({}), "Wait");
    };
    v1::InvokeBatchResponse sample;
    {
      grpc::ClientContext context;
      Check(w.stub()->InvokeBatch(&context, batch, &sample), "InvokeBatch");
    }
    bench::PingRequest ping;
    ping.set_data(std::string(batch.ByteSizeLong(), 'p'));
    ping.set_response_bytes(static_cast<int64_t>(sample.ByteSizeLong()));
    auto ping_loop = [&] {
      for (int i = 0; i < kBatches; ++i) {
        bench::PingResponse response;
        grpc::ClientContext context;
        Check(echo->Ping(&context, ping, &response), "Ping");
      }
    };
    batch_loop();  // warm-up
    const double ops = static_cast<double>(kBatches) * kBatchOps;
    const auto [batch_s, ping_s] = BestInterleaved(5, batch_loop, ping_loop);
    Emit("net_invoke_batch_ops_per_s", ops / batch_s, "ops/s");
    Emit("net_invoke_stream_ops_per_s", ops / BestSeconds(5, stream_loop), "ops/s");
    Emit("net_ping_batch_ops_per_s", ops / ping_s, "ops/s");
  }

  // (c) 256 MiB through the streams.
  {
    std::string chunk_data(static_cast<size_t>(kChunkBytes), '\2');
    auto upload = [&] {
      grpc::ClientContext context;
      v1::ArrayInfo info;
      auto writer = w.stub()->UploadStream(&context, &info);
      v1::UploadRequest request;
      request.set_session(w.session());
      for (int64_t offset = 0; offset < kStreamBytes; offset += kChunkBytes) {
        if (offset == 0) {
          *request.mutable_chunk()->mutable_meta() = integration::FloatMeta({kStreamBytes / 4});
        } else {
          request.clear_session();
          request.mutable_chunk()->clear_meta();
        }
        request.mutable_chunk()->set_offset(offset);
        request.mutable_chunk()->set_data(chunk_data);
        if (!writer->Write(request)) break;
      }
      writer->WritesDone();
      Check(writer->Finish(), "UploadStream");
      Check(w.Free({info.handle()}), "Free");
    };
    auto echo_upload = [&] {
      grpc::ClientContext context;
      bench::UploadResponse response;
      auto writer = echo->Upload(&context, &response);
      bench::Chunk chunk;
      for (int64_t offset = 0; offset < kStreamBytes; offset += kChunkBytes) {
        chunk.set_offset(offset);
        chunk.set_data(chunk_data);
        if (!writer->Write(chunk)) break;
      }
      writer->WritesDone();
      Check(writer->Finish(), "Echo.Upload");
    };
    uint64_t big = 0;
    Check(w.Create(integration::FloatMeta({kStreamBytes / 4}), 1, &big), "CreateArray");
    Check(w.Wait({big}), "Wait");
    int64_t received = 0;
    auto download = [&] {
      v1::DownloadRequest request;
      request.set_session(w.session());
      request.set_handle(big);
      request.set_chunk_bytes(kChunkBytes);
      grpc::ClientContext context;
      auto reader = w.stub()->DownloadStream(&context, request);
      v1::TensorChunk chunk;
      received = 0;
      while (reader->Read(&chunk)) received += static_cast<int64_t>(chunk.data().size());
      Check(reader->Finish(), "DownloadStream");
    };
    auto echo_download = [&] {
      bench::DownloadRequest request;
      request.set_total_bytes(kStreamBytes);
      request.set_chunk_bytes(kChunkBytes);
      grpc::ClientContext context;
      auto reader = echo->Download(&context, request);
      bench::Chunk chunk;
      received = 0;
      while (reader->Read(&chunk)) received += static_cast<int64_t>(chunk.data().size());
      Check(reader->Finish(), "Echo.Download");
    };
    upload();  // warm-up
    echo_upload();
    const double bytes = static_cast<double>(kStreamBytes);
    const auto [upload_s, echo_upload_s] = BestInterleaved(3, upload, echo_upload);
    Emit("net_upload_gbps", bytes / upload_s / kGB, "GB/s");
    Emit("net_echo_upload_gbps", bytes / echo_upload_s / kGB, "GB/s");
    int64_t worker_received = 0;
    const auto [download_s, echo_download_s] = BestInterleaved(
        3, [&] { download(), worker_received = received; }, echo_download);
    if (worker_received != kStreamBytes || received != kStreamBytes) {
      std::fprintf(stderr, "net_bench: the downloads moved %ld and %ld bytes\n", worker_received,
                   received);
      std::exit(1);
    }
    Emit("net_download_gbps", bytes / download_s / kGB, "GB/s");
    Emit("net_echo_download_gbps", bytes / echo_download_s / kGB, "GB/s");
  }

  w.Close();
  (void)worker->Stop();
  (void)compiler->Stop();
  (void)echo_server->Stop();
}

}  // namespace
}  // namespace mxgrid

int main() {
  // As the servers (services/common/flags.cc): no absl::Mutex deadlock graph in gRPC's
  // locks, for this process's clients and the bare gRPC peer alike.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  mxgrid::Run();
  return 0;
}

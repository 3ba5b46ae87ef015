#include "services/common/internal/rpc_metrics.h"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message_lite.h"
#include "grpcpp/support/byte_buffer.h"
#include "libs/base/mutex.h"
#include "libs/base/status.h"

namespace mxgrid::services::internal {
namespace {

using grpc::experimental::InterceptionHookPoints;
using prometheus::Counter;
using prometheus::Histogram;

// 100 µs to 60 s: tiny imperative ops through long Forward/Backward calls.
const Histogram::BucketBoundaries& LatencyBuckets() {
  static const Histogram::BucketBoundaries kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
  return kBuckets;
}

// The metrics of one method, looked up once per method and then shared by its calls.
struct MethodMetrics {
  std::string service;
  std::string method;
  bool protobuf_request = false;  // request is a protobuf message: its size can be counted
  Counter* started = nullptr;
  Histogram* handling_seconds = nullptr;
  Counter* received_bytes = nullptr;
  Counter* sent_bytes = nullptr;
};

// Records one call. Created by gRPC per call, destroyed with the call.
class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(RpcMetrics* metrics, const MethodMetrics* method)
      : metrics_(metrics), method_(method), start_(std::chrono::steady_clock::now()) {
    method_->started->Increment();
    metrics_->in_flight().Increment();
  }
  // A call that ends without sending a status (the client went away) counts as CANCELLED.
  ~MetricsInterceptor() override {
    if (!finished_) Finish(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* batch) override {
    if (batch->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        method_->protobuf_request) {
      const void* message = batch->GetRecvMessage();
      if (message != nullptr) {
        method_->received_bytes->Increment(static_cast<double>(
            static_cast<const google::protobuf::MessageLite*>(message)->ByteSizeLong()));
      }
    }
    if (batch->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      const grpc::ByteBuffer* buffer = batch->GetSerializedSendMessage();
      if (buffer != nullptr) {
        method_->sent_bytes->Increment(static_cast<double>(buffer->Length()));
      }
    }
    if (batch->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        !finished_) {
      Finish(batch->GetSendStatus().error_code());
    }
    batch->Proceed();
  }

 private:
  void Finish(grpc::StatusCode code) {
    finished_ = true;
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    method_->handling_seconds->Observe(elapsed.count());
    metrics_->handled()
        .Add({{"grpc_service", method_->service},
              {"grpc_method", method_->method},
              {"grpc_code", std::string(StatusCodeName(static_cast<absl::StatusCode>(code)))}})
        .Increment();
    metrics_->in_flight().Decrement();
  }

  RpcMetrics* const metrics_;
  const MethodMetrics* const method_;
  const std::chrono::steady_clock::time_point start_;
  bool finished_ = false;  // gRPC runs one batch of a call at a time
};

class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(RpcMetrics* metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // gRPC takes ownership of the returned interceptor.
    return new MetricsInterceptor(metrics_, Lookup(info->method() ? info->method() : ""));
  }

 private:
  const MethodMetrics* Lookup(absl::string_view full_method) {
    base::MutexLock lock(&mu_);
    auto it = methods_.find(full_method);
    if (it != methods_.end()) return it->second.get();
    // "/package.Service/Method"
    auto entry = std::make_unique<MethodMetrics>();
    absl::string_view path = full_method;
    if (!path.empty() && path.front() == '/') path.remove_prefix(1);
    const size_t slash = path.find('/');
    entry->service = std::string(slash == absl::string_view::npos ? "" : path.substr(0, slash));
    entry->method =
        std::string(slash == absl::string_view::npos ? path : path.substr(slash + 1));
    entry->protobuf_request =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            entry->service) != nullptr;
    const prometheus::Labels labels = {{"grpc_service", entry->service},
                                       {"grpc_method", entry->method}};
    entry->started = &metrics_->started().Add(labels);
    entry->handling_seconds = &metrics_->handling_seconds().Add(labels, LatencyBuckets());
    entry->received_bytes = &metrics_->received_bytes().Add(labels);
    entry->sent_bytes = &metrics_->sent_bytes().Add(labels);
    const MethodMetrics* result = entry.get();
    methods_.emplace(std::string(full_method), std::move(entry));
    return result;
  }

  RpcMetrics* const metrics_;
  base::Mutex mu_;
  // unique_ptr keeps entries at stable addresses while the map grows.
  absl::flat_hash_map<std::string, std::unique_ptr<MethodMetrics>> methods_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace

RpcMetrics::RpcMetrics(prometheus::Registry& registry, const std::string& server_name)
    : started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("RPCs started on the server.")
                   .Labels({{"server", server_name}})
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("RPCs completed on the server, by status code.")
                   .Labels({{"server", server_name}})
                   .Register(registry)),
      handling_seconds_(prometheus::BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help("Time from the start of an RPC to its status, in seconds.")
                            .Labels({{"server", server_name}})
                            .Register(registry)),
      received_bytes_(prometheus::BuildCounter()
                          .Name("grpc_server_received_bytes_total")
                          .Help("Serialized bytes of request messages received.")
                          .Labels({{"server", server_name}})
                          .Register(registry)),
      sent_bytes_(prometheus::BuildCounter()
                      .Name("grpc_server_sent_bytes_total")
                      .Help("Serialized bytes of response messages sent.")
                      .Labels({{"server", server_name}})
                      .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name("grpc_server_in_flight")
                     .Help("RPCs started and not yet completed.")
                     .Labels({{"server", server_name}})
                     .Register(registry)
                     .Add({})) {}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> RpcMetrics::NewFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

}  // namespace mxgrid::services::internal

// RpcMetrics: per-method Prometheus metrics for a gRPC server, recorded by a server
// interceptor. Private to //services/common:server.
//
// Metric names follow go-grpc-prometheus so that existing dashboards work:
//   grpc_server_started_total{grpc_service, grpc_method}
//   grpc_server_handled_total{grpc_service, grpc_method, grpc_code}
//   grpc_server_handling_seconds{grpc_service, grpc_method}      (histogram)
//   grpc_server_received_bytes_total{grpc_service, grpc_method}  (serialized request bytes)
//   grpc_server_sent_bytes_total{grpc_service, grpc_method}      (serialized response bytes)
//   grpc_server_in_flight{}                                      (gauge)
// Every family carries the constant label server="<ServerOptions::name>".
//
// Request bytes are counted only for methods whose service is protoc-generated into this
// binary (found in protobuf's generated pool, so its request type is a protobuf message);
// gRPC's built-in health service (upb, ByteBuffer-typed) and generic services count 0.
//
// Thread-safety: RpcMetrics and the factory are thread-safe (prometheus-cpp families lock
// internally). RpcMetrics must outlive the grpc::Server it is installed in.
#ifndef MXGRID_SERVICES_COMMON_INTERNAL_RPC_METRICS_H_
#define MXGRID_SERVICES_COMMON_INTERNAL_RPC_METRICS_H_

#include <memory>
#include <string>

#include "grpcpp/support/server_interceptor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace mxgrid::services::internal {

class RpcMetrics {
 public:
  // Registers the families in `registry` (not owned; must outlive this object).
  RpcMetrics(prometheus::Registry& registry, const std::string& server_name);
  RpcMetrics(const RpcMetrics&) = delete;
  RpcMetrics& operator=(const RpcMetrics&) = delete;

  // A factory for grpc::ServerBuilder::experimental().SetInterceptorCreators. The factory
  // refers to this object, which must outlive every server built with it.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewFactory();

  prometheus::Family<prometheus::Counter>& started() { return started_; }
  prometheus::Family<prometheus::Counter>& handled() { return handled_; }
  prometheus::Family<prometheus::Histogram>& handling_seconds() { return handling_seconds_; }
  prometheus::Family<prometheus::Counter>& received_bytes() { return received_bytes_; }
  prometheus::Family<prometheus::Counter>& sent_bytes() { return sent_bytes_; }
  prometheus::Gauge& in_flight() { return in_flight_; }

 private:
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_seconds_;
  prometheus::Family<prometheus::Counter>& received_bytes_;
  prometheus::Family<prometheus::Counter>& sent_bytes_;
  prometheus::Gauge& in_flight_;
};

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_COMMON_INTERNAL_RPC_METRICS_H_

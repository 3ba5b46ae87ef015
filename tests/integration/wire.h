// Small helpers for building and reading mxgrid.v1 messages in the integration tests and
// benchmarks, without the libraries the servers use (the tests see only the wire).
//
//   v1::Tensor t = FloatTensor({2, 2}, {1, 2, 3, 4});
//   std::vector<float> back = TensorFloats(t);
//   std::string json = MlpJson({.hidden = 4, .outputs = 2});
//
// Thread-safety: pure functions.
#ifndef MXGRID_TESTS_INTEGRATION_WIRE_H_
#define MXGRID_TESTS_INTEGRATION_WIRE_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "proto/mxgrid/v1/tensor.pb.h"

namespace mxgrid::integration {

inline v1::TensorMeta FloatMeta(const std::vector<int64_t>& shape) {
  v1::TensorMeta meta;
  meta.set_dtype(v1::FLOAT32);
  for (int64_t d : shape) meta.add_shape(d);
  return meta;
}

// A float32 tensor; `values` must hold prod(shape) elements.
inline v1::Tensor FloatTensor(const std::vector<int64_t>& shape, const std::vector<float>& values) {
  v1::Tensor t;
  *t.mutable_meta() = FloatMeta(shape);
  t.set_data(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return t;
}

inline v1::Tensor IntTensor(const std::vector<int64_t>& shape, const std::vector<int32_t>& values) {
  v1::Tensor t;
  t.mutable_meta()->set_dtype(v1::INT32);
  for (int64_t d : shape) t.mutable_meta()->add_shape(d);
  t.set_data(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int32_t)));
  return t;
}

inline std::vector<float> BytesToFloats(const std::string& bytes) {
  std::vector<float> out(bytes.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

inline std::vector<float> TensorFloats(const v1::Tensor& t) { return BytesToFloats(t.data()); }

// A ClientContext deadline `timeout` from now.
inline void SetTimeout(grpc::ClientContext* context, absl::Duration timeout) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

// "CODE: message" of a gRPC status, for test failure messages.
inline std::string Describe(const grpc::Status& s) {
  return absl::StrCat(static_cast<int>(s.error_code()), ": ", s.error_message());
}

// MXNet -symbol.json of data -> FullyConnected(fc1, hidden) -> Activation(relu1, relu)
// -> FullyConnected(fc2, outputs); the output is fc2's (no loss layer).
// Arguments: data, fc1_weight, fc1_bias, fc2_weight, fc2_bias.
struct MlpSpec {
  int hidden = 4;
  int outputs = 2;
};
inline std::string MlpJson(MlpSpec spec) {
  const std::string h = std::to_string(spec.hidden), o = std::to_string(spec.outputs);
  return absl::StrCat(
      R"({"nodes": [)", R"({"op": "null", "name": "data", "inputs": []},)",
      R"({"op": "null", "name": "fc1_weight", "attrs": {"num_hidden": ")", h,
      R"("}, "inputs": []},)", R"({"op": "null", "name": "fc1_bias", "attrs": {"num_hidden": ")", h,
      R"("}, "inputs": []},)",
      R"({"op": "FullyConnected", "name": "fc1", "attrs": {"num_hidden": ")", h,
      R"("}, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},)",
      R"({"op": "Activation", "name": "relu1", "attrs": {"act_type": "relu"}, "inputs": [[3, 0, 0]]},)",
      R"({"op": "null", "name": "fc2_weight", "attrs": {"num_hidden": ")", o,
      R"("}, "inputs": []},)", R"({"op": "null", "name": "fc2_bias", "attrs": {"num_hidden": ")", o,
      R"("}, "inputs": []},)",
      R"({"op": "FullyConnected", "name": "fc2", "attrs": {"num_hidden": ")", o,
      R"("}, "inputs": [[4, 0, 0], [5, 0, 0], [6, 0, 0]]}],)",
      R"("arg_nodes": [0, 1, 2, 5, 6], "node_row_ptr": [0, 1, 2, 3, 4, 5, 6, 7, 8],)",
      R"("heads": [[7, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}})");
}

// A chain of `layers` FullyConnected(num_hidden = width) layers on "data": a graph big
// enough that planning it takes a noticeable time.
inline std::string DeepFcChainJson(int layers, int width) {
  std::string nodes = R"({"op": "null", "name": "data", "inputs": []})";
  std::string arg_nodes = "0";
  std::string row_ptr = "0, 1";
  int prev = 0;
  int id = 1;
  for (int i = 0; i < layers; ++i) {
    const std::string attrs = absl::StrCat(R"({"num_hidden": ")", width, R"("})");
    absl::StrAppend(&nodes, R"(, {"op": "null", "name": "fc)", i, R"(_weight", "inputs": []})");
    absl::StrAppend(&nodes, R"(, {"op": "null", "name": "fc)", i, R"(_bias", "inputs": []})");
    absl::StrAppend(&nodes, R"(, {"op": "FullyConnected", "name": "fc)", i, R"(", "attrs": )",
                    attrs, R"(, "inputs": [[)", prev, ", 0, 0], [", id, ", 0, 0], [", id + 1,
                    ", 0, 0]]}");
    absl::StrAppend(&arg_nodes, ", ", id, ", ", id + 1);
    absl::StrAppend(&row_ptr, ", ", id + 1, ", ", id + 2, ", ", id + 3);
    prev = id + 2;
    id += 3;
  }
  return absl::StrCat(R"({"nodes": [)", nodes, R"(], "arg_nodes": [)", arg_nodes,
                      R"(], "node_row_ptr": [)", row_ptr, R"(], "heads": [[)", prev,
                      R"(, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}})");
}

}  // namespace mxgrid::integration

#endif  // MXGRID_TESTS_INTEGRATION_WIRE_H_

// Every operator the worker lists, invoked imperatively on the inputs operators forget:
// scalars, empty arrays, inputs of different ranks, an int32 input among floats. Each call
// must return a status (the operator's outputs are downloaded, so the work has run), never
// UNKNOWN, INTERNAL or UNAVAILABLE, and the worker must live. Found this way:
// SoftmaxOutput of a scalar with a scalar label killed the worker (SIGILL).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/compiler.grpc.pb.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"
#include "tests/robustness/live_server.h"

namespace mxgrid::robustness {
namespace {

using integration::Describe;
using integration::IntTensor;
using integration::ServerProcess;
using integration::SetTimeout;
using integration::WorkerClient;

// A value of an operator parameter's type, for the required ones.
std::string RequiredValue(const v1::OperatorParam& p) {
  const std::string& type = p.type();
  if (absl::StartsWith(type, "{")) {  // {'a', 'b'}: the first choice
    const size_t q = type.find('\'');
    return type.substr(q + 1, type.find('\'', q + 1) - q - 1);
  }
  if (absl::StrContains(type, "Shape") || absl::StrContains(type, "tuple")) return "(1,1)";
  if (absl::StrContains(type, "int") || absl::StrContains(type, "long")) return "2";
  if (absl::StrContains(type, "float") || absl::StrContains(type, "double")) return "0.5";
  if (absl::StrContains(type, "bool")) return "True";
  return "1";
}

// The shapes and dtypes of an operator's inputs: the first input's, then the others'.
struct Inputs {
  const char* name;
  std::vector<int64_t> first, rest;
  bool rest_int32 = false;
  bool mixed = false;  // only for operators of two or more inputs
};
const std::vector<Inputs>& Hostile() {
  static const auto* v = new std::vector<Inputs>{
      {"all scalars", {}, {}},
      {"all empty (0, 3)", {0, 3}, {0, 3}},
      {"(2, 3) then scalars", {2, 3}, {}, false, true},
      {"a scalar then (2, 3)", {}, {2, 3}, false, true},
      {"(2, 3) then int32 (2)", {2, 3}, {2}, true, true},
  };
  return *v;
}

class HostileInvokeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Restart()); }
  void TearDown() override {
    const absl::Status alive = CheckServing(*worker_, ServerKind::kWorker);
    EXPECT_TRUE(alive.ok()) << alive;
  }
  void Restart() {
    absl::StatusOr<std::unique_ptr<ServerProcess>> started = StartServer(ServerKind::kWorker);
    ASSERT_TRUE(started.ok()) << started.status();
    worker_ = std::move(*started);
    w_ = std::make_unique<WorkerClient>(worker_->NewChannel());
    ASSERT_TRUE(w_->Open().ok());
  }
  uint64_t Upload(const std::vector<int64_t>& shape, bool int32, int salt) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    uint64_t h = 0;
    grpc::Status s;
    if (int32) {
      std::vector<int32_t> v(n);
      for (int64_t i = 0; i < n; ++i) v[i] = static_cast<int32_t>((i * 5 + salt) % 7) - 2;
      s = w_->Upload(IntTensor(shape, v), &h);
    } else {
      std::vector<float> v(n);
      for (int64_t i = 0; i < n; ++i) v[i] = 0.5f * static_cast<float>((i * 5 + salt) % 7) - 1;
      s = w_->UploadFloats(shape, v, &h);
    }
    EXPECT_TRUE(s.ok()) << Describe(s);
    return h;
  }

  std::unique_ptr<ServerProcess> worker_;
  std::unique_ptr<WorkerClient> w_;
};

TEST_F(HostileInvokeTest, SoftmaxOutputOfAScalarIsInvalidArgument) {
  // MXNet's SoftmaxOutput needs data of at least one dimension. The error may come from
  // the call (shape inference) or from the work (the download of the output).
  const uint64_t data = Upload({}, false, 0), label = Upload({}, false, 1);
  std::vector<uint64_t> out;
  grpc::Status s = w_->Invoke("SoftmaxOutput", {}, {data, label}, &out);
  if (s.ok() && !out.empty()) {
    v1::Tensor value;
    s = w_->Download(out[0], &value);
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
}

TEST_F(HostileInvokeTest, EveryOperatorOnScalarsEmptyArraysAndMixedRanks) {
  auto compiler = v1::Compiler::NewStub(worker_->NewChannel());  // served in-process
  v1::ListOperatorsResponse ops;
  grpc::ClientContext list_context;
  SetTimeout(&list_context, absl::Seconds(20));
  ASSERT_TRUE(compiler->ListOperators(&list_context, {}, &ops).ok());
  int calls = 0;
  for (const v1::OperatorInfo& op : ops.operators()) {
    std::map<std::string, std::string> attrs;
    for (const v1::OperatorParam& p : op.params()) {
      if (p.required()) attrs[p.name()] = RequiredValue(p);
    }
    for (const Inputs& in : Hostile()) {
      if (in.mixed && op.inputs_size() < 2) continue;
      std::vector<uint64_t> inputs;
      for (int i = 0; i < op.inputs_size(); ++i) {
        inputs.push_back(Upload(i == 0 ? in.first : in.rest, i > 0 && in.rest_int32, i));
      }
      const std::string what = absl::StrCat(op.name(), "(", absl::StrJoin(attrs, ", ",
                                            absl::PairFormatter("=")), ") on ", in.name);
      std::vector<uint64_t> outputs;
      grpc::Status s = w_->Invoke(op.name(), attrs, inputs, &outputs);
      ++calls;
      for (uint64_t out : outputs) {  // the work runs; its error comes with the download
        v1::Tensor value;
        const grpc::Status d = w_->Download(out, &value, absl::Seconds(20));
        if (!d.ok()) s = d;
      }
      absl::StatusOr<int> exited = worker_->WaitForExit(absl::Milliseconds(20));
      if (exited.ok()) {
        ADD_FAILURE() << what << " killed the worker: it " << DescribeExit(*exited);
        ASSERT_NO_FATAL_FAILURE(Restart());
        continue;
      }
      EXPECT_TRUE(s.error_code() != grpc::StatusCode::UNKNOWN &&
                  s.error_code() != grpc::StatusCode::INTERNAL &&
                  s.error_code() != grpc::StatusCode::UNAVAILABLE &&
                  s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED)
          << what << ": " << Describe(s);
    }
  }
  EXPECT_GE(calls, 2 * ops.operators_size());  // every operator, at least twice
}

}  // namespace
}  // namespace mxgrid::robustness

// mxgrid-worker (with a real mxgrid-compiler behind it) as processes on loopback: sessions,
// every array call, imperative operators one by one, in batches and streams, NaN and failing
// work, bound executors against a hand-computed gradient and the local KVStore.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/mxgrid/v1/worker.grpc.pb.h"
#include "tests/integration/process.h"
#include "tests/integration/wire.h"
#include "tests/integration/worker_client.h"
#include "tests/integration/worker_fixture.h"

namespace mxgrid::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::Pointwise;

// Quota and priority flags outside their ranges stop the worker with a message (exit 2).
TEST(WorkerBinaryTest, OutOfRangeQuotaAndNiceFlagsFailToStart) {
  for (const char* flag : {"--session_max_handles=-1", "--session_memory_mb=-5",
                           "--session_max_queued_mb=9999999999999", "--compute_nice=20"}) {
    absl::StatusOr<RunResult> run = RunToCompletion(kWorker, {flag});
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_status, 2) << flag << ": " << run->output;
    const std::string name = std::string(flag).substr(0, std::string(flag).find('='));
    EXPECT_THAT(run->output, ::testing::HasSubstr(name + " must be in")) << run->output;
  }
}

// Negative session limits stop the worker with a message (exit 2).
TEST(WorkerBinaryTest, NegativeSessionLimitsFailToStart) {
  for (const char* flag : {"--max_sessions=-1", "--max_sessions_per_client=-2",
                           "--session_calls_per_second=-1"}) {
    absl::StatusOr<RunResult> run = RunToCompletion(kWorker, {flag});
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_status, 2) << flag << ": " << run->output;
    EXPECT_THAT(run->output, ::testing::HasSubstr("must be >= 0")) << run->output;
  }
}

TEST_F(WorkerProcessTest, HealthAndReflection) {
  EXPECT_EQ(HealthCheck(worker_->NewChannel()), 1);
  absl::StatusOr<std::vector<std::string>> services = ReflectionListServices(worker_->NewChannel());
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, ::testing::Contains("mxgrid.v1.Worker"));
}

// /metrics of the worker binary: RPC metrics plus memory in use and the worker's gauges.
// (The exposer's civetweb threads have ~100 KiB stacks; a scrape once overflowed them.)
TEST_F(WorkerProcessTest, MetricsShowMemoryAndSessions) {
  Put({256}, std::vector<float>(256, 1));
  absl::StatusOr<std::string> page = HttpGet(worker_->metrics_port(), "/metrics");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(*page, ::testing::HasSubstr("mxgrid_memory_bytes_in_use{device=\"cpu(0)\"}"));
  EXPECT_THAT(*page, ::testing::HasSubstr("mxgrid_worker_sessions "));
  EXPECT_THAT(*page, ::testing::HasSubstr("mxgrid_worker_session_array_bytes "));
  EXPECT_THAT(*page, ::testing::HasSubstr("grpc_server_handled_total"));
}

TEST_F(WorkerProcessTest, SessionOpenKeepAliveClose) {
  WorkerClient c(worker_->NewChannel());
  ASSERT_TRUE(c.Open(5).ok());
  EXPECT_FALSE(c.session().empty());
  v1::KeepAliveRequest request;
  request.set_session(c.session());
  v1::KeepAliveResponse response;
  {
    grpc::ClientContext context;
    const grpc::Status s = c.stub()->KeepAlive(&context, request, &response);
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_GT(response.lease_seconds(), 0);
    EXPECT_LE(response.lease_seconds(), 5);
  }
  ASSERT_TRUE(c.Close().ok());
  grpc::ClientContext context;
  EXPECT_EQ(c.stub()->KeepAlive(&context, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(c.Close().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(WorkerProcessTest, ListDevicesHasCpu0) {
  v1::ListDevicesResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(w_->stub()->ListDevices(&context, {}, &response).ok());
  bool cpu0 = false;
  for (const v1::Device& d : response.devices()) {
    if (d.context().type() == v1::CPU && d.context().id() == 0) {
      cpu0 = true;
      EXPECT_GT(d.total_memory_bytes(), 0);
    }
  }
  EXPECT_TRUE(cpu0) << response.DebugString();
}

TEST_F(WorkerProcessTest, ArrayCalls) {
  uint64_t ones = 0;
  ASSERT_TRUE(w_->Create(FloatMeta({2, 3}), 1, &ones).ok());
  EXPECT_GE(ones, uint64_t{1} << 32);  // worker-picked
  EXPECT_THAT(Get(ones), ElementsAre(1, 1, 1, 1, 1, 1));
  const uint64_t a = Put({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_THAT(Get(a), ElementsAre(1, 2, 3, 4, 5, 6));
  // Upload into an existing array.
  ASSERT_TRUE(w_->Upload(FloatTensor({2, 3}, {6, 5, 4, 3, 2, 1}), nullptr, ones).ok());
  EXPECT_THAT(Get(ones), ElementsAre(6, 5, 4, 3, 2, 1));
  {  // Copy to a new array, then Fill the copy: the source keeps its values.
    v1::CopyRequest request;
    request.set_session(w_->session());
    request.set_src(a);
    request.set_new_handle(77);
    v1::ArrayInfo info;
    grpc::ClientContext context;
    ASSERT_TRUE(w_->stub()->Copy(&context, request, &info).ok());
    EXPECT_EQ(info.handle(), 77u);
    EXPECT_THAT(Get(77), ElementsAre(1, 2, 3, 4, 5, 6));
    v1::FillRequest fill;
    fill.set_session(w_->session());
    fill.set_handle(77);
    fill.set_value(-1.5);
    v1::FillResponse filled;
    grpc::ClientContext context2;
    ASSERT_TRUE(w_->stub()->Fill(&context2, fill, &filled).ok());
    EXPECT_THAT(Get(77), ElementsAre(-1.5, -1.5, -1.5, -1.5, -1.5, -1.5));
    EXPECT_THAT(Get(a), ElementsAre(1, 2, 3, 4, 5, 6));
    // Copy into an existing array.
    request.set_new_handle(0);
    request.set_into(77);
    grpc::ClientContext context3;
    ASSERT_TRUE(w_->stub()->Copy(&context3, request, &info).ok());
    EXPECT_THAT(Get(77), ElementsAre(1, 2, 3, 4, 5, 6));
  }
  {  // Views share memory: a[1], a[0:1], a.reshape(3, 2).
    v1::ViewRequest request;
    request.set_session(w_->session());
    request.set_handle(a);
    request.set_at(1);
    v1::ArrayInfo row;
    grpc::ClientContext c1;
    ASSERT_TRUE(w_->stub()->View(&c1, request, &row).ok());
    EXPECT_THAT(row.meta().shape(), ElementsAre(3));
    EXPECT_THAT(Get(row.handle()), ElementsAre(4, 5, 6));
    request.mutable_slice()->set_begin(0);
    request.mutable_slice()->set_end(1);
    v1::ArrayInfo first;
    grpc::ClientContext c2;
    ASSERT_TRUE(w_->stub()->View(&c2, request, &first).ok());
    EXPECT_THAT(first.meta().shape(), ElementsAre(1, 3));
    EXPECT_THAT(Get(first.handle()), ElementsAre(1, 2, 3));
    *request.mutable_reshape() = FloatMeta({3, 2});
    v1::ArrayInfo reshaped;
    grpc::ClientContext c3;
    ASSERT_TRUE(w_->stub()->View(&c3, request, &reshaped).ok());
    EXPECT_THAT(reshaped.meta().shape(), ElementsAre(3, 2));
    v1::FillRequest fill;  // writing through the row view shows in the base array
    fill.set_session(w_->session());
    fill.set_handle(row.handle());
    fill.set_value(9);
    v1::FillResponse filled;
    grpc::ClientContext c4;
    ASSERT_TRUE(w_->stub()->Fill(&c4, fill, &filled).ok());
    EXPECT_THAT(Get(reshaped.handle()), ElementsAre(1, 2, 3, 9, 9, 9));
  }
  v1::DescribeArraysResponse described;
  ASSERT_TRUE(w_->Describe({a, 77}, &described).ok());
  ASSERT_EQ(described.arrays_size(), 2);
  EXPECT_THAT(described.arrays(0).meta().shape(), ElementsAre(2, 3));
  EXPECT_EQ(described.arrays(0).meta().dtype(), v1::FLOAT32);
  ASSERT_TRUE(w_->Describe({}, &described).ok());
  EXPECT_GE(described.arrays_size(), 5);
  EXPECT_GE(described.session_bytes(), 3 * 24);
  EXPECT_TRUE(w_->Wait({a}).ok());
  EXPECT_TRUE(w_->Wait({}).ok());
  ASSERT_TRUE(w_->Free({77}).ok());
  EXPECT_EQ(w_->Describe({77}, &described).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(w_->Free({77}).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(WorkerProcessTest, InvokeElemwiseAddAndFullyConnected) {
  const uint64_t a = Put({2, 2}, {1, 2, 3, 4});
  const uint64_t b = Put({2, 2}, {10, 20, 30, 40});
  std::vector<uint64_t> out;
  ASSERT_TRUE(w_->Invoke("elemwise_add", {}, {a, b}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_THAT(Get(out[0]), ElementsAre(11, 22, 33, 44));
  // a += b through outputs.
  {
    v1::InvokeRequest request;
    request.set_session(w_->session());
    request.set_op("elemwise_add");
    request.add_inputs(a);
    request.add_inputs(b);
    request.add_outputs(a);
    v1::InvokeResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(w_->stub()->Invoke(&context, request, &response).ok());
    EXPECT_THAT(Get(a), ElementsAre(11, 22, 33, 44));
  }
  // y = x W^T + b: x (2, 3), W (2, 3), b (2).
  const uint64_t x = Put({2, 3}, {1, 2, 3, 4, 5, 6});
  const uint64_t weight = Put({2, 3}, {1, 0, -1, 0.5, 0.5, 0.5});
  const uint64_t bias = Put({2}, {100, 200});
  ASSERT_TRUE(w_->Invoke("FullyConnected", {{"num_hidden", "2"}}, {x, weight, bias}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_THAT(Get(out[0]), ElementsAre(100 - 2, 200 + 3, 100 - 2, 200 + 7.5));
}

// 1000 dependent calls in one InvokeBatch, each naming its output with a client-chosen handle
// that the next call reads.
TEST_F(WorkerProcessTest, InvokeBatchOfAThousandDependentCalls) {
  const uint64_t one = Put({1}, {1});
  v1::InvokeBatchRequest request;
  request.set_session(w_->session());
  uint64_t prev = one;
  for (uint64_t i = 1; i <= 1000; ++i) {
    v1::InvokeRequest* call = request.add_calls();
    call->set_op("elemwise_add");
    call->add_inputs(prev);
    call->add_inputs(one);
    call->add_new_handles(1000 + i);
    prev = 1000 + i;
  }
  v1::InvokeBatchResponse response;
  grpc::ClientContext context;
  SetTimeout(&context, absl::Seconds(60));
  const grpc::Status s = w_->stub()->InvokeBatch(&context, request, &response);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(response.results_size(), 1000);
  EXPECT_EQ(response.results(999).outputs(0).handle(), 2000u);
  EXPECT_THAT(Get(2000), ElementsAre(1001));
  // A failing call stops the batch; the earlier calls took effect.
  v1::InvokeBatchRequest bad;
  bad.set_session(w_->session());
  v1::InvokeRequest* ok_call = bad.add_calls();
  ok_call->set_op("elemwise_add");
  ok_call->add_inputs(2000);
  ok_call->add_inputs(one);
  ok_call->add_new_handles(3000);
  v1::InvokeRequest* bad_call = bad.add_calls();
  bad_call->set_op("no_such_op");
  grpc::ClientContext context2;
  const grpc::Status failed = w_->stub()->InvokeBatch(&context2, bad, &response);
  EXPECT_EQ(failed.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(failed);
  EXPECT_THAT(failed.error_message(), ::testing::HasSubstr("1"));
  EXPECT_THAT(Get(3000), ElementsAre(1002));
}

TEST_F(WorkerProcessTest, InvokeStreamPipelinesBatches) {
  const uint64_t one = Put({2}, {1, 2});
  grpc::ClientContext context;
  SetTimeout(&context, absl::Seconds(60));
  auto stream = w_->stub()->InvokeStream(&context);
  uint64_t prev = one;
  constexpr int kBatches = 10, kCalls = 100;
  for (int b = 0; b < kBatches; ++b) {  // all sent before any response is read
    v1::InvokeBatchRequest request;
    request.set_session(w_->session());
    for (int i = 0; i < kCalls; ++i) {
      const uint64_t h = 10000 + static_cast<uint64_t>(b * kCalls + i);
      v1::InvokeRequest* call = request.add_calls();
      call->set_op("elemwise_add");
      call->add_inputs(prev);
      call->add_inputs(one);
      call->add_new_handles(h);
      prev = h;
    }
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  v1::InvokeBatchResponse response;
  int responses = 0;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.results_size(), kCalls);
    ++responses;
  }
  const grpc::Status s = stream->Finish();
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(responses, kBatches);
  EXPECT_THAT(Get(prev), ElementsAre(1 + 1000, 2 + 2000));
}

TEST_F(WorkerProcessTest, InvokeHandlesNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const uint64_t a = Put({3}, {nan, 1, std::numeric_limits<float>::infinity()});
  const uint64_t b = Put({3}, {1, nan, 1});
  std::vector<uint64_t> out;
  ASSERT_TRUE(w_->Invoke("elemwise_add", {}, {a, b}, &out).ok());
  const std::vector<float> got = Get(out[0]);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(std::isnan(got[0]));
  EXPECT_TRUE(std::isnan(got[1]));
  EXPECT_TRUE(std::isinf(got[2]));
  ASSERT_TRUE(w_->Invoke("Activation", {{"act_type", "relu"}}, {a}, &out).ok());
  EXPECT_EQ(Get(out[0]).size(), 3u);
}

// A failing operation (here an int32 elemwise_div) reports its error at the Download of what it
// wrote, and neither the worker nor the session suffers.
TEST_F(WorkerProcessTest, FailedWorkSurfacesAtDownload) {
  uint64_t a = 0, b = 0;
  ASSERT_TRUE(w_->Upload(IntTensor({2}, {7, 8}), &a).ok());
  ASSERT_TRUE(w_->Upload(IntTensor({2}, {0, 2}), &b).ok());
  std::vector<uint64_t> out;
  const grpc::Status invoked = w_->Invoke("elemwise_div", {}, {a, b}, &out);
  ASSERT_TRUE(invoked.ok()) << "the call returns before the work runs: " << Describe(invoked);
  v1::Tensor t;
  const grpc::Status s = w_->Download(out[0], &t);
  EXPECT_FALSE(s.ok()) << "7 / 0 in int32 downloaded as " << t.DebugString();
  EXPECT_NE(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);  // no crash
  std::printf("int32 elemwise_div [7, 8] / [0, 2] at Download: %s\n", Describe(s).c_str());
  EXPECT_EQ(HealthCheck(worker_->NewChannel()), 1);
  EXPECT_THAT(Get(Put({1}, {5})), ElementsAre(5));
}

// Integer division runs on the worker's operators, and a zero divisor fails the operation:
// the error surfaces at Download, never as a crash.
TEST_F(WorkerProcessTest, IntegerDivisionByZeroSurfacesAtDownload) {
  uint64_t a = 0, b = 0, c = 0;
  ASSERT_TRUE(w_->Upload(IntTensor({2}, {7, 8}), &a).ok());
  ASSERT_TRUE(w_->Upload(IntTensor({2}, {0, 2}), &b).ok());
  ASSERT_TRUE(w_->Upload(IntTensor({2}, {1, 2}), &c).ok());
  std::vector<uint64_t> ok_out, bad_out;
  ASSERT_TRUE(w_->Invoke("elemwise_div", {}, {a, c}, &ok_out).ok());
  ASSERT_TRUE(w_->Invoke("elemwise_div", {}, {a, b}, &bad_out).ok());
  v1::Tensor t;
  grpc::Status s = w_->Download(ok_out[0], &t);
  ASSERT_TRUE(s.ok()) << Describe(s);
  std::vector<int32_t> values(2);
  ASSERT_EQ(t.data().size(), 8u);
  std::memcpy(values.data(), t.data().data(), 8);
  EXPECT_THAT(values, ElementsAre(7, 4));
  s = w_->Download(bad_out[0], &t);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("division by zero")) << Describe(s);
}

// fc2(relu(fc1(data))) bound with SimpleBind and with Bind; gradients for out_grad = 1 are
// checked against a hand computation.
TEST_F(WorkerProcessTest, SimpleBindForwardBackwardMatchesHandGradients) {
  // data (2, 3), fc1: 4 hidden, fc2: 2 outputs.
  const std::vector<float> x = {1, -2, 3, 0.5, 1, -1};
  std::vector<float> w1(12), b1 = {0.1f, -0.2f, 0.3f, -0.4f}, w2(8), b2 = {0.5f, -0.5f};
  for (int i = 0; i < 12; ++i) w1[i] = 0.1f * static_cast<float>((i * 7) % 11) - 0.5f;
  for (int i = 0; i < 8; ++i) w2[i] = 0.2f * static_cast<float>((i * 5) % 7) - 0.6f;
  // Hand computation.
  std::vector<float> z(8), h(8), y(4);
  for (int n = 0; n < 2; ++n) {
    for (int j = 0; j < 4; ++j) {
      float s = b1[j];
      for (int k = 0; k < 3; ++k) s += x[n * 3 + k] * w1[j * 3 + k];
      z[n * 4 + j] = s;
      h[n * 4 + j] = s > 0 ? s : 0;
    }
    for (int o = 0; o < 2; ++o) {
      float s = b2[o];
      for (int j = 0; j < 4; ++j) s += h[n * 4 + j] * w2[o * 4 + j];
      y[n * 2 + o] = s;
    }
  }
  // out_grad G = 1: dW2[o][j] = sum_n h[n][j]; db2 = N; dh[n][j] = sum_o W2[o][j];
  // dz = dh * (z > 0); dW1[j][k] = sum_n dz[n][j] x[n][k]; db1[j] = sum_n dz[n][j].
  std::vector<float> dw2(8, 0), db2 = {2, 2}, dw1(12, 0), db1(4, 0);
  for (int o = 0; o < 2; ++o)
    for (int j = 0; j < 4; ++j) dw2[o * 4 + j] = h[j] + h[4 + j];
  for (int n = 0; n < 2; ++n) {
    for (int j = 0; j < 4; ++j) {
      const float dz = z[n * 4 + j] > 0 ? w2[j] + w2[4 + j] : 0;
      db1[j] += dz;
      for (int k = 0; k < 3; ++k) dw1[j * 3 + k] += dz * x[n * 3 + k];
    }
  }

  v1::SimpleBindRequest request;
  request.set_session(w_->session());
  request.mutable_symbol()->set_json(MlpJson({.hidden = 4, .outputs = 2}));
  (*request.mutable_inputs())["data"] = FloatMeta({2, 3});
  request.set_grad_req("write");
  (*request.mutable_grad_req_by_name())["data"] = "null";
  v1::BindResponse bound;
  {
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(60));
    const grpc::Status s = w_->stub()->SimpleBind(&context, request, &bound);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  ASSERT_THAT(bound.arg_names(),
              ElementsAre("data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"));
  ASSERT_EQ(bound.args_size(), 5);
  ASSERT_EQ(bound.arg_grads_size(), 5);
  EXPECT_EQ(bound.arg_grads(0).handle(), 0u);  // data: 'null'
  const std::vector<std::vector<float>> values = {x, w1, b1, w2, b2};
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(w_->Upload(FloatTensor(std::vector<int64_t>(bound.args(i).meta().shape().begin(),
                                                            bound.args(i).meta().shape().end()),
                                       values[i]),
                           nullptr, bound.args(i).handle())
                    .ok())
        << bound.arg_names(i);
  }
  v1::ForwardRequest forward;
  forward.set_session(w_->session());
  forward.set_executor(bound.executor());
  forward.set_is_train(true);
  v1::ForwardResponse outputs;
  {
    grpc::ClientContext context;
    const grpc::Status s = w_->stub()->Forward(&context, forward, &outputs);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  ASSERT_EQ(outputs.outputs_size(), 1);
  EXPECT_THAT(Get(outputs.outputs(0).handle()), Pointwise(FloatNear(1e-5), y));
  const uint64_t ones = Put({2, 2}, {1, 1, 1, 1});
  v1::BackwardRequest backward;
  backward.set_session(w_->session());
  backward.set_executor(bound.executor());
  backward.add_out_grads(ones);
  v1::BackwardResponse done;
  {
    grpc::ClientContext context;
    const grpc::Status s = w_->stub()->Backward(&context, backward, &done);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  EXPECT_THAT(Get(bound.arg_grads(1).handle()), Pointwise(FloatNear(1e-5), dw1));
  EXPECT_THAT(Get(bound.arg_grads(2).handle()), Pointwise(FloatNear(1e-5), db1));
  EXPECT_THAT(Get(bound.arg_grads(3).handle()), Pointwise(FloatNear(1e-5), dw2));
  EXPECT_THAT(Get(bound.arg_grads(4).handle()), Pointwise(FloatNear(1e-5), db2));

  // Bind the same graph to arrays of our own (the bound args above, fresh gradients).
  v1::BindRequest bind;
  bind.set_session(w_->session());
  bind.mutable_symbol()->set_json(MlpJson({.hidden = 4, .outputs = 2}));
  for (int i = 0; i < 5; ++i) {
    bind.add_args(bound.args(i).handle());
    uint64_t g = 0;
    if (i == 0) {
      bind.add_arg_grads(0);
      continue;
    }
    std::vector<int64_t> shape(bound.args(i).meta().shape().begin(),
                               bound.args(i).meta().shape().end());
    ASSERT_TRUE(w_->Create(FloatMeta(shape), 7, &g).ok());
    bind.add_arg_grads(g);
  }
  v1::BindResponse bound2;
  {
    grpc::ClientContext context;
    SetTimeout(&context, absl::Seconds(60));
    const grpc::Status s = w_->stub()->Bind(&context, bind, &bound2);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  forward.set_executor(bound2.executor());
  {
    grpc::ClientContext context;
    ASSERT_TRUE(w_->stub()->Forward(&context, forward, &outputs).ok());
  }
  EXPECT_THAT(Get(outputs.outputs(0).handle()), Pointwise(FloatNear(1e-5), y));
  backward.set_executor(bound2.executor());
  {
    grpc::ClientContext context;
    ASSERT_TRUE(w_->stub()->Backward(&context, backward, &done).ok());
  }
  EXPECT_THAT(Get(bind.arg_grads(1)), Pointwise(FloatNear(1e-5), dw1));
  EXPECT_THAT(Get(bind.arg_grads(3)), Pointwise(FloatNear(1e-5), dw2));

  v1::FreeExecutorRequest free;
  free.set_session(w_->session());
  free.set_executor(bound2.executor());
  v1::FreeExecutorResponse freed;
  grpc::ClientContext c1, c2;
  EXPECT_TRUE(w_->stub()->FreeExecutor(&c1, free, &freed).ok());
  EXPECT_EQ(w_->stub()->FreeExecutor(&c2, free, &freed).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(Get(bind.arg_grads(1)), Pointwise(FloatNear(1e-5), dw1));  // arrays stay
}

TEST_F(WorkerProcessTest, LocalKVStore) {
  v1::KVCreateRequest create;
  create.set_session(w_->session());
  create.set_type("local");
  v1::KVCreateResponse store;
  {
    grpc::ClientContext context;
    const grpc::Status s = w_->stub()->KVCreate(&context, create, &store);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  const uint64_t init = Put({2}, {1, 2});
  v1::KVInitRequest kv_init;
  kv_init.set_session(w_->session());
  kv_init.set_store(store.store());
  v1::KVPair* pair = kv_init.add_pairs();
  pair->set_key("3");
  pair->add_values(init);
  v1::KVInitResponse inited;
  {
    grpc::ClientContext context;
    const grpc::Status s = w_->stub()->KVInit(&context, kv_init, &inited);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  const uint64_t g1 = Put({2}, {10, 20}), g2 = Put({2}, {1, 1});
  v1::KVPushRequest push;
  push.set_session(w_->session());
  push.set_store(store.store());
  pair = push.add_pairs();
  pair->set_key("3");
  pair->add_values(g1);
  pair->add_values(g2);
  v1::KVPushResponse pushed;
  {
    grpc::ClientContext context;
    const grpc::Status s = w_->stub()->KVPush(&context, push, &pushed);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  const uint64_t out1 = Put({2}, {0, 0}), out2 = Put({2}, {0, 0});
  v1::KVPullRequest pull;
  pull.set_session(w_->session());
  pull.set_store(store.store());
  pair = pull.add_pairs();
  pair->set_key("3");
  pair->add_values(out1);
  pair->add_values(out2);
  v1::KVPullResponse pulled;
  {
    grpc::ClientContext context;
    const grpc::Status s = w_->stub()->KVPull(&context, pull, &pulled);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  EXPECT_THAT(Get(out1), ElementsAre(11, 21));  // no optimizer: the pushed sum is stored
  EXPECT_THAT(Get(out2), ElementsAre(11, 21));
  v1::KVSetOptimizerRequest opt;
  opt.set_session(w_->session());
  opt.set_store(store.store());
  opt.set_name("sgd");
  (*opt.mutable_params())["learning_rate"] = "0.5";
  v1::KVSetOptimizerResponse opt_done;
  {
    grpc::ClientContext context;
    const grpc::Status s = w_->stub()->KVSetOptimizer(&context, opt, &opt_done);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }
  {
    grpc::ClientContext context;
    ASSERT_TRUE(w_->stub()->KVPush(&context, push, &pushed).ok());
  }
  {
    grpc::ClientContext context;
    ASSERT_TRUE(w_->stub()->KVPull(&context, pull, &pulled).ok());
  }
  EXPECT_THAT(Get(out1), ElementsAre(11 - 0.5 * 11, 21 - 0.5 * 21));
  // An unknown key is NOT_FOUND.
  pull.mutable_pairs(0)->set_key("99");
  grpc::ClientContext context;
  EXPECT_EQ(w_->stub()->KVPull(&context, pull, &pulled).error_code(), grpc::StatusCode::NOT_FOUND);
}
}  // namespace
}  // namespace mxgrid::integration

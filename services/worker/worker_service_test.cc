// The Worker service over a real gRPC server on a loopback port, planning with a real
// Compiler service (the mxgrid-worker binary's own arrangement without --compiler). The
// process-level tests (three binaries, 1 GiB streams, 16 clients) are in tests/integration.
#include "services/worker/worker_service.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/graph/json.h"
#include "libs/graph/testing/models.h"
#include "libs/ops/builtin.h"
#include "services/worker/testing/worker_fixture.h"

namespace mxgrid::services {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class WorkerServiceTest : public WorkerFixture {
 protected:
  std::string Open(double lease = 0) {
    v1::OpenSessionRequest req;
    req.set_lease_seconds(lease);
    v1::OpenSessionResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->OpenSession(&ctx, req, &resp).ok());
    return resp.session();
  }

  grpc::Status Invoke(const std::string& op, std::vector<uint64_t> inputs,
                      std::map<std::string, std::string> attrs, v1::InvokeResponse* resp,
                      std::vector<uint64_t> outputs = {}) {
    v1::InvokeRequest req;
    req.set_session(session_);
    req.set_op(op);
    for (uint64_t h : inputs) req.add_inputs(h);
    for (uint64_t h : outputs) req.add_outputs(h);
    for (const auto& [k, v] : attrs) (*req.mutable_attrs())[k] = v;
    grpc::ClientContext ctx;
    return stub_->Invoke(&ctx, req, resp);
  }

};

TEST_F(WorkerServiceTest, UploadInvokeDownload) {
  const uint64_t a = Upload({2, 2}, {1, 2, 3, 4});
  const uint64_t b = Upload({2, 2}, {10, 20, 30, 40});
  v1::InvokeResponse resp;
  ASSERT_TRUE(Invoke("elemwise_add", {a, b}, {}, &resp).ok());
  ASSERT_EQ(resp.outputs_size(), 1);
  EXPECT_THAT(resp.outputs(0).meta().shape(), ElementsAre(2, 2));
  EXPECT_THAT(Download(resp.outputs(0).handle()), ElementsAre(11, 22, 33, 44));
  // a += b, in place.
  ASSERT_TRUE(Invoke("elemwise_add", {a, b}, {}, &resp, {a}).ok());
  EXPECT_THAT(Download(a), ElementsAre(11, 22, 33, 44));
}

TEST_F(WorkerServiceTest, CreateFillCopyViewDescribeFree) {
  v1::CreateArrayRequest create;
  create.set_session(session_);
  create.mutable_meta()->set_dtype(v1::FLOAT32);
  create.mutable_meta()->add_shape(2);
  create.mutable_meta()->add_shape(3);
  create.set_fill(1);
  v1::ArrayInfo ones;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->CreateArray(&ctx, create, &ones).ok());
  }
  v1::FillRequest fill;
  fill.set_session(session_);
  fill.set_handle(ones.handle());
  fill.set_value(2);
  v1::FillResponse fill_resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Fill(&ctx, fill, &fill_resp).ok());
  }
  v1::ViewRequest view;
  view.set_session(session_);
  view.set_handle(ones.handle());
  view.mutable_slice()->set_begin(1);
  view.mutable_slice()->set_end(2);
  v1::ArrayInfo row;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->View(&ctx, view, &row).ok());
  }
  EXPECT_THAT(row.meta().shape(), ElementsAre(1, 3));
  v1::CopyRequest copy;
  copy.set_session(session_);
  copy.set_src(row.handle());
  copy.set_new_handle(99);
  v1::ArrayInfo copied;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Copy(&ctx, copy, &copied).ok());
  }
  EXPECT_EQ(copied.handle(), 99u);
  EXPECT_THAT(Download(99), ElementsAre(2, 2, 2));
  v1::DescribeArraysRequest describe;
  describe.set_session(session_);
  v1::DescribeArraysResponse described;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Describe(&ctx, describe, &described).ok());
  }
  EXPECT_EQ(described.arrays_size(), 3);
  EXPECT_EQ(described.session_bytes(), 24 + 12);  // the view shares the 2x3 storage
  v1::FreeRequest free;
  free.set_session(session_);
  free.add_handles(99);
  free.add_handles(12345);
  v1::FreeResponse freed;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->Free(&ctx, free, &freed).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(WorkerServiceTest, BatchUsesClientChosenHandles) {
  const uint64_t x = Upload({3}, {0, 0, 0}, /*handle=*/1);
  v1::InvokeBatchRequest batch;
  batch.set_session(session_);
  uint64_t prev = x;
  for (uint64_t i = 0; i < 100; ++i) {
    v1::InvokeRequest* call = batch.add_calls();
    call->set_op("_plus_scalar");
    (*call->mutable_attrs())["scalar"] = "1";
    call->add_inputs(prev);
    call->add_new_handles(100 + i);
    prev = 100 + i;
    if (i > 0) batch.add_free(100 + i - 1);
  }
  v1::InvokeBatchResponse resp;
  grpc::ClientContext ctx;
  grpc::Status st = stub_->InvokeBatch(&ctx, batch, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.results_size(), 100);
  EXPECT_THAT(Download(prev), ElementsAre(100, 100, 100));
}

TEST_F(WorkerServiceTest, InvokeFreesTheCallsFreeListEvenWhenTheCallFails) {
  const uint64_t a = Upload({2}, {1, 2});
  const uint64_t dropped = Upload({2}, {3, 4});
  const uint64_t also_dropped = Upload({2}, {5, 6});
  v1::InvokeRequest req;
  req.set_session(session_);
  req.set_op("elemwise_add");
  req.add_inputs(a);
  req.add_inputs(a);
  req.add_free(dropped);
  req.add_free(424242);  // not in the session: ignored
  v1::InvokeResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub_->Invoke(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_THAT(Download(resp.outputs(0).handle()), ElementsAre(2, 4));
  req.clear_free();
  req.add_free(also_dropped);
  req.set_op("NoSuchOp");
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->Invoke(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  v1::FreeRequest free;
  free.set_session(session_);
  for (uint64_t h : {dropped, also_dropped}) {
    free.clear_handles();
    free.add_handles(h);
    v1::FreeResponse freed;
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->Free(&ctx, free, &freed).error_code(), grpc::StatusCode::NOT_FOUND) << h;
  }
}

// A worker binds JSON; a compiler's symbol handle is refused with a message saying so.
TEST_F(WorkerServiceTest, BindingACompilerRefIsInvalidArgument) {
  v1::SimpleBindRequest bind;
  bind.set_session(session_);
  bind.mutable_symbol()->set_ref("0123456789abcdef0123456789abcdef");
  v1::BindResponse bound;
  grpc::ClientContext ctx;
  grpc::Status st = stub_->SimpleBind(&ctx, bind, &bound);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("symbol ref"));
}

TEST_F(WorkerServiceTest, SimpleBindForwardBackward) {
  absl::StatusOr<graph::Symbol> net = graph::models::Mlp({4}, 3);
  ASSERT_TRUE(net.ok());
  v1::SimpleBindRequest bind;
  bind.set_session(session_);
  bind.mutable_symbol()->set_json(graph::SaveJson(*net));
  v1::TensorMeta data;
  data.add_shape(2);
  data.add_shape(5);
  (*bind.mutable_inputs())["data"] = data;
  v1::BindResponse bound;
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub_->SimpleBind(&ctx, bind, &bound);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_THAT(bound.arg_names(), ElementsAre("data", "fc1_weight", "fc1_bias", "fc2_weight",
                                             "fc2_bias", "softmax_label"));
  ASSERT_EQ(bound.outputs_size(), 1);
  EXPECT_THAT(bound.outputs(0).meta().shape(), ElementsAre(2, 3));
  // Zero weights: uniform softmax; gradient of fc2_bias = sum over the batch of p - onehot.
  v1::ForwardRequest fwd;
  fwd.set_session(session_);
  fwd.set_executor(bound.executor());
  fwd.set_is_train(true);
  (*fwd.mutable_inputs())["softmax_label"] = Upload({2}, {0, 2});
  v1::ForwardResponse out;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Forward(&ctx, fwd, &out).ok());
  }
  std::vector<float> p = Download(out.outputs(0).handle());
  for (float v : p) EXPECT_NEAR(v, 1.0f / 3, 1e-6);
  v1::BackwardRequest bwd;
  bwd.set_session(session_);
  bwd.set_executor(bound.executor());
  v1::BackwardResponse bwd_resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Backward(&ctx, bwd, &bwd_resp).ok());
  }
  std::vector<float> g = Download(bound.arg_grads(4).handle());
  const float third = 1.0f / 3;
  EXPECT_NEAR(g[0], 2 * third - 1, 1e-6);
  EXPECT_NEAR(g[1], 2 * third, 1e-6);
  EXPECT_NEAR(g[2], 2 * third - 1, 1e-6);
  // The same graph bound again comes from the compiler's cache.
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->SimpleBind(&ctx, bind, &bound).ok());
  EXPECT_TRUE(bound.plan_cached());
}

TEST_F(WorkerServiceTest, OneRoundTripTrainingStep) {
  absl::StatusOr<graph::Symbol> net = graph::models::Mlp({4}, 3);
  ASSERT_TRUE(net.ok());
  v1::SimpleBindRequest bind;
  bind.set_session(session_);
  bind.mutable_symbol()->set_json(graph::SaveJson(*net));
  v1::TensorMeta data;
  data.add_shape(2);
  data.add_shape(5);
  (*bind.mutable_inputs())["data"] = data;
  bind.set_grad_req("write");
  (*bind.mutable_grad_req_by_name())["data"] = "null";
  (*bind.mutable_grad_req_by_name())["softmax_label"] = "null";
  v1::BindResponse bound;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->SimpleBind(&ctx, bind, &bound).ok());
  }
  v1::ForwardRequest step;
  step.set_session(session_);
  step.set_executor(bound.executor());
  step.set_is_train(true);
  step.set_backward(true);
  step.set_update(true);
  step.set_return_values(true);
  (*step.mutable_values())["data"] = FloatTensor({2, 5}, std::vector<float>(10, 1));
  (*step.mutable_values())["softmax_label"] = FloatTensor({2}, {0, 2});
  v1::ForwardResponse out;
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub_->Forward(&ctx, step, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);  // no optimizer yet
  }
  v1::SetExecutorOptimizerRequest opt;
  opt.set_session(session_);
  opt.set_executor(bound.executor());
  opt.set_name("adam");
  (*opt.mutable_params())["learning_rate"] = "-1";
  v1::SetExecutorOptimizerResponse opt_resp;
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub_->SetExecutorOptimizer(&ctx, opt, &opt_resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("learning_rate = -1"));
  }
  {
    grpc::ClientContext ctx;  // the refused optimizer was not installed
    EXPECT_EQ(stub_->Forward(&ctx, step, &out).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  opt.set_name("sgd");
  (*opt.mutable_params())["learning_rate"] = "0.5";
  (*opt.mutable_params())["wd"] = "0.1";  // not applied to biases
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->SetExecutorOptimizer(&ctx, opt, &opt_resp).ok());
  }
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub_->Forward(&ctx, step, &out);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  ASSERT_EQ(out.values_size(), 1);
  for (float p : Floats(out.values(0))) EXPECT_NEAR(p, 1.0f / 3, 1e-6);
  // Zero weights: only fc2_bias moves, by -lr * sum over the batch of (p - onehot).
  const float third = 1.0f / 3;
  std::vector<float> bias = Download(bound.args(4).handle());
  EXPECT_NEAR(bias[0], -0.5f * (2 * third - 1), 1e-6);
  EXPECT_NEAR(bias[1], -0.5f * (2 * third), 1e-6);
  EXPECT_NEAR(bias[2], -0.5f * (2 * third - 1), 1e-6);
  EXPECT_THAT(Download(bound.args(3).handle()), ::testing::Each(0.0f));
  // Update alone applies the same gradients again.
  v1::UpdateRequest update;
  update.set_session(session_);
  update.set_executor(bound.executor());
  v1::UpdateResponse update_resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Update(&ctx, update, &update_resp).ok());
  }
  EXPECT_NEAR(Download(bound.args(4).handle())[1], -2 * 0.5f * (2 * third), 1e-6);
}

TEST_F(WorkerServiceTest, KVStorePushPullAndMerged) {
  v1::KVCreateRequest create;
  create.set_session(session_);
  create.set_type("local");
  v1::KVCreateResponse store;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->KVCreate(&ctx, create, &store).ok());
  }
  const uint64_t init = Upload({2}, {1, 1});
  v1::KVInitRequest kv_init;
  kv_init.set_session(session_);
  kv_init.set_store(store.store());
  v1::KVPair* pair = kv_init.add_pairs();
  pair->set_key("3");
  pair->add_values(init);
  v1::KVInitResponse init_resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->KVInit(&ctx, kv_init, &init_resp).ok());
  }
  v1::KVPushRequest push;
  push.set_session(session_);
  push.set_store(store.store());
  pair = push.add_pairs();
  pair->set_key("3");
  pair->add_values(Upload({2}, {1, 2}));
  v1::CopyRequest to_cpu1;  // values on different devices are summed too
  to_cpu1.set_session(session_);
  to_cpu1.set_src(Upload({2}, {3, 4}));
  to_cpu1.mutable_context()->set_id(1);
  v1::ArrayInfo on_cpu1;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Copy(&ctx, to_cpu1, &on_cpu1).ok());
  }
  pair->add_values(on_cpu1.handle());
  v1::KVPushResponse push_resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->KVPush(&ctx, push, &push_resp).ok());
  }
  const uint64_t out = Upload({2}, {0, 0});
  v1::KVPullRequest pull;
  pull.set_session(session_);
  pull.set_store(store.store());
  pair = pull.add_pairs();
  pair->set_key("3");
  pair->add_values(out);
  v1::KVPullResponse pull_resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->KVPull(&ctx, pull, &pull_resp).ok());
  }
  EXPECT_THAT(Download(out), ElementsAre(4, 6));
  // A client-side updater gets the merged value and the stored array.
  push.set_return_merged(true);
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->KVPush(&ctx, push, &push_resp).ok());
  }
  ASSERT_EQ(push_resp.merged_size(), 1);
  EXPECT_THAT(Download(push_resp.merged(0).merged().handle()), ElementsAre(4, 6));
  v1::InvokeResponse resp;
  const uint64_t stored = push_resp.merged(0).stored().handle();
  ASSERT_TRUE(Invoke("_mul_scalar", {stored}, {{"scalar", "10"}}, &resp, {stored}).ok());
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->KVPull(&ctx, pull, &pull_resp).ok());
  EXPECT_THAT(Download(out), ElementsAre(40, 60));
}

TEST_F(WorkerServiceTest, KVStoreRowSparsePushAndRowSparsePull) {
  auto call = [&](auto method, const auto& req, auto* resp) {
    grpc::ClientContext ctx;
    return (stub_.get()->*method)(&ctx, req, resp);
  };
  v1::KVCreateRequest create;
  create.set_session(session_);
  create.set_type("local");
  v1::KVCreateResponse store;
  ASSERT_TRUE(call(&v1::Worker::Stub::KVCreate, create, &store).ok());
  v1::KVInitRequest init;
  init.set_session(session_);
  init.set_store(store.store());
  init.add_pairs()->set_key("e");
  init.mutable_pairs(0)->add_values(Upload({3, 2}, {1, 1, 1, 1, 1, 1}));
  v1::KVInitResponse inited;
  ASSERT_TRUE(call(&v1::Worker::Stub::KVInit, init, &inited).ok());
  v1::KVSetOptimizerRequest opt;
  opt.set_session(session_);
  opt.set_store(store.store());
  opt.set_name("sgd");
  (*opt.mutable_params())["learning_rate"] = "1";
  v1::KVSetOptimizerResponse set;
  ASSERT_TRUE(call(&v1::Worker::Stub::KVSetOptimizer, opt, &set).ok());

  // A row_sparse gradient of row 1: lazy sgd moves that row only.
  v1::InvokeResponse cast;
  ASSERT_TRUE(Invoke("Cast", {Upload({1}, {1})}, {{"dtype", "int64"}}, &cast).ok());
  v1::MakeSparseRequest make;
  make.set_session(session_);
  make.set_stype(v1::ROW_SPARSE);
  make.add_shape(3);
  make.add_shape(2);
  make.set_data(Upload({1, 2}, {2, 3}));
  make.add_aux(cast.outputs(0).handle());
  v1::ArrayInfo grad;
  ASSERT_TRUE(call(&v1::Worker::Stub::MakeSparse, make, &grad).ok());
  v1::KVPushRequest push;
  push.set_session(session_);
  push.set_store(store.store());
  push.add_pairs()->set_key("e");
  push.mutable_pairs(0)->add_values(grad.handle());
  v1::KVPushResponse pushed;
  ASSERT_TRUE(call(&v1::Worker::Stub::KVPush, push, &pushed).ok());
  const uint64_t dense = Upload({3, 2}, {0, 0, 0, 0, 0, 0});
  v1::KVPullRequest pull;
  pull.set_session(session_);
  pull.set_store(store.store());
  pull.add_pairs()->set_key("e");
  pull.mutable_pairs(0)->add_values(dense);
  v1::KVPullResponse pulled;
  ASSERT_TRUE(call(&v1::Worker::Stub::KVPull, pull, &pulled).ok());
  EXPECT_THAT(Download(dense), ElementsAre(1, 1, -1, -2, 1, 1));

  // row_sparse_pull: exactly the rows asked for (any order, repeats, float ids).
  v1::CreateArrayRequest empty;
  empty.set_session(session_);
  empty.mutable_meta()->set_dtype(v1::FLOAT32);
  empty.mutable_meta()->add_shape(3);
  empty.mutable_meta()->add_shape(2);
  empty.set_stype(v1::ROW_SPARSE);
  v1::ArrayInfo rows;
  ASSERT_TRUE(call(&v1::Worker::Stub::CreateArray, empty, &rows).ok());
  v1::KVPullRequest row_pull = pull;
  row_pull.mutable_pairs(0)->set_values(0, rows.handle());
  row_pull.mutable_pairs(0)->add_row_ids(Upload({3}, {2, 1, 2}));
  ASSERT_TRUE(call(&v1::Worker::Stub::KVPull, row_pull, &pulled).ok());
  v1::SparsePartsRequest parts_req;
  parts_req.set_session(session_);
  parts_req.set_handle(rows.handle());
  v1::SparsePartsResponse parts;
  ASSERT_TRUE(call(&v1::Worker::Stub::SparseParts, parts_req, &parts).ok());
  EXPECT_THAT(Download(parts.data().handle()), ElementsAre(-1, -2, 1, 1));
  ASSERT_EQ(parts.aux_size(), 1);
  EXPECT_THAT(parts.aux(0).meta().shape(), ElementsAre(2));

  // Row ids not one per out, a dense out, an id outside the rows: INVALID_ARGUMENT.
  v1::KVPullRequest bad = row_pull;
  bad.mutable_pairs(0)->add_row_ids(Upload({1}, {0}));
  EXPECT_EQ(call(&v1::Worker::Stub::KVPull, bad, &pulled).error_code(), grpc::INVALID_ARGUMENT);
  bad = row_pull;
  bad.mutable_pairs(0)->set_values(0, dense);
  grpc::Status not_sparse = call(&v1::Worker::Stub::KVPull, bad, &pulled);
  EXPECT_EQ(not_sparse.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(not_sparse.error_message(), HasSubstr("row_sparse"));
  bad = row_pull;
  bad.mutable_pairs(0)->set_row_ids(0, Upload({1}, {3}));
  EXPECT_EQ(call(&v1::Worker::Stub::KVPull, bad, &pulled).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(Download(dense), ElementsAre(1, 1, -1, -2, 1, 1));
}

TEST_F(WorkerServiceTest, ErrorsHaveTheRightCodes) {
  const uint64_t a = Upload({2}, {1, 2});
  const uint64_t b = Upload({3}, {1, 2, 3});
  v1::InvokeResponse resp;
  EXPECT_EQ(Invoke("elemwise_add", {a, b}, {}, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Invoke("NoSuchOp", {a}, {}, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status bad_attr = Invoke("Activation", {a}, {{"act_type", "nope"}}, &resp);
  EXPECT_EQ(bad_attr.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad_attr.error_message(), HasSubstr("act_type"));
  EXPECT_EQ(Invoke("elemwise_add", {a, 777}, {}, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Another session cannot reach this session's handles.
  const std::string mine = session_;
  session_ = Open();
  EXPECT_EQ(Invoke("elemwise_add", {a, a}, {}, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  session_ = "not-a-session";
  EXPECT_EQ(Invoke("elemwise_add", {a, a}, {}, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  session_ = mine;
  // A bad upload: data size does not match the shape.
  v1::UploadRequest up;
  up.set_session(session_);
  *up.mutable_value() = FloatTensor({3}, {1, 2});
  v1::ArrayInfo info;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->Upload(&ctx, up, &info).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(WorkerServiceTest, KernelErrorsSurfaceAtDownload) {
  v1::UploadRequest up;
  up.set_session(session_);
  up.mutable_value()->mutable_meta()->set_dtype(v1::INT32);
  up.mutable_value()->mutable_meta()->add_shape(2);
  const int32_t values[] = {1, 0};
  up.mutable_value()->set_data(values, sizeof(values));
  v1::ArrayInfo x;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Upload(&ctx, up, &x).ok());
  }
  v1::InvokeResponse resp;
  ASSERT_TRUE(Invoke("elemwise_div", {x.handle(), x.handle()}, {}, &resp).ok());
  v1::DownloadRequest down;
  down.set_session(session_);
  down.set_handle(resp.outputs(0).handle());
  v1::Tensor t;
  grpc::ClientContext ctx;
  EXPECT_FALSE(stub_->Download(&ctx, down, &t).ok());
}

TEST_F(WorkerServiceTest, ExpiredSessionsAreGone) {
  session_ = Open(/*lease=*/0.2);
  const uint64_t a = Upload({1}, {1});
  absl::SleepFor(absl::Milliseconds(600));
  v1::InvokeResponse resp;
  EXPECT_EQ(Invoke("elemwise_add", {a, a}, {}, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

// Client input a status quotes is cut to 256 bytes (libs/base/quote.h), and ToGrpc cuts any
// message past 4 KiB: the code always reaches the client.
TEST_F(WorkerServiceTest, HugeNamesGetTheRightCodeAndAShortMessage) {
  const uint64_t a = Upload({2}, {1, 2});
  v1::InvokeResponse resp;
  // The registry quotes the whole name (libs/ops): only ToGrpc's cut keeps it short.
  grpc::Status st = Invoke(std::string(20000, 'A'), {a}, {}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LE(st.error_message().size(), 4096u);
  st = Invoke("Activation", {a}, {{"act_type", std::string(20000, 'r')}}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LE(st.error_message().size(), 4096u);

  const std::string mine = session_;
  session_ = std::string(100 << 10, 's');
  st = Invoke("elemwise_add", {a, a}, {}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(st.error_message().size(), 500u);
  EXPECT_THAT(st.error_message(), HasSubstr("(102400 bytes)"));
  {
    v1::KeepAliveRequest req;
    req.set_session(session_);
    v1::KeepAliveResponse keep;
    grpc::ClientContext ctx;
    st = stub_->KeepAlive(&ctx, req, &keep);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_LT(st.error_message().size(), 500u);
  }
  session_ = mine;

  v1::KVCreateRequest create;
  create.set_session(session_);
  create.set_type(std::string(100 << 10, 't'));
  v1::KVCreateResponse store;
  {
    grpc::ClientContext ctx;
    st = stub_->KVCreate(&ctx, create, &store);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_LT(st.error_message().size(), 500u);
  }
  create.set_type("local");
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->KVCreate(&ctx, create, &store).ok());
  }
  v1::KVPushRequest push;
  push.set_session(session_);
  push.set_store(store.store());
  v1::KVPair* pair = push.add_pairs();
  pair->set_key(std::string(1 << 20, 'k'));
  pair->add_values(a);
  v1::KVPushResponse pushed;
  grpc::ClientContext ctx;
  st = stub_->KVPush(&ctx, push, &pushed);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(st.error_message().size(), 500u);
  EXPECT_THAT(st.error_message(), HasSubstr("(1048576 bytes)"));
}

TEST_F(WorkerServiceTest, FillsTheDTypeCannotHoldAreInvalidArgument) {
  v1::CreateArrayRequest create;
  create.set_session(session_);
  create.mutable_meta()->set_dtype(v1::INT32);
  create.mutable_meta()->add_shape(2);
  create.set_fill(std::nan(""));
  v1::ArrayInfo info;
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub_->CreateArray(&ctx, create, &info);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("int32"));
  }
  auto fill = [&](v1::DType dtype, double value) {
    create.mutable_meta()->set_dtype(dtype);
    create.set_fill(0);
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->CreateArray(&ctx, create, &info).ok());
    v1::FillRequest req;
    req.set_session(session_);
    req.set_handle(info.handle());
    req.set_value(value);
    v1::FillResponse resp;
    grpc::ClientContext fill_ctx;
    return stub_->Fill(&fill_ctx, req, &resp);
  };
  EXPECT_EQ(fill(v1::UINT8, 300).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(fill(v1::UINT8, -1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(fill(v1::INT64, std::numeric_limits<double>::infinity()).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(fill(v1::FLOAT16, 1e300).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status st = fill(v1::FLOAT32, 1e300);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("overflows float32"));
  EXPECT_TRUE(fill(v1::UINT8, 255).ok());
  EXPECT_TRUE(fill(v1::FLOAT16, std::numeric_limits<double>::infinity()).ok());
}

TEST_F(WorkerServiceTest, KVSetOptimizerChecksHyperparameters) {
  v1::KVCreateRequest create;
  create.set_session(session_);
  create.set_type("local");
  v1::KVCreateResponse store;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->KVCreate(&ctx, create, &store).ok());
  }
  v1::KVSetOptimizerRequest req;
  req.set_session(session_);
  req.set_store(store.store());
  req.set_name("adam");
  (*req.mutable_params())["beta1"] = "1.5";
  v1::KVSetOptimizerResponse resp;
  grpc::ClientContext ctx;
  grpc::Status st = stub_->KVSetOptimizer(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("beta1 = 1.5 is invalid; it must be in [0, 1)"));
}

}  // namespace
}  // namespace mxgrid::services

namespace mxgrid::services {
namespace {

// SetExecutorKVStore with a local store: Update pushes each gradient through the store's
// optimizer and copies the stored weight back into the argument; bad bindings get clear codes.
TEST_F(WorkerServiceTest, ExecutorUpdatesThroughALocalKVStore) {
  absl::StatusOr<graph::Symbol> net = graph::models::Mlp({4}, 3);
  ASSERT_TRUE(net.ok());
  v1::SimpleBindRequest bind;
  bind.set_session(session_);
  bind.mutable_symbol()->set_json(graph::SaveJson(*net));
  v1::TensorMeta data;
  data.add_shape(2);
  data.add_shape(5);
  (*bind.mutable_inputs())["data"] = data;
  bind.set_grad_req("write");
  (*bind.mutable_grad_req_by_name())["data"] = "null";
  (*bind.mutable_grad_req_by_name())["softmax_label"] = "null";
  v1::BindResponse bound;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->SimpleBind(&ctx, bind, &bound).ok());
  }
  v1::KVCreateRequest create;
  create.set_session(session_);
  create.set_type("local");
  v1::KVCreateResponse store;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->KVCreate(&ctx, create, &store).ok());
  }
  EXPECT_EQ(store.num_workers(), 1);
  v1::KVInitRequest init;
  init.set_session(session_);
  init.set_store(store.store());
  v1::SetExecutorKVStoreRequest set;
  set.set_session(session_);
  set.set_executor(bound.executor());
  set.set_store(store.store());
  std::vector<int> params;  // argument indices with gradients
  for (int i = 0; i < bound.arg_names_size(); ++i) {
    if (bound.arg_grads(i).handle() == 0) continue;
    params.push_back(i);
    // Non-zero weights (SimpleBind's are zeros), as the client's initializer sets them.
    std::vector<int64_t> shape(bound.args(i).meta().shape().begin(),
                               bound.args(i).meta().shape().end());
    int64_t size = 1;
    for (int64_t d : shape) size *= d;
    std::vector<float> v(size);
    for (int64_t j = 0; j < size; ++j) v[j] = 0.1f * static_cast<float>((j * 7 + i) % 5) - 0.2f;
    v1::UploadRequest up;
    up.set_session(session_);
    up.set_into(bound.args(i).handle());
    *up.mutable_value() = FloatTensor(shape, v);
    v1::ArrayInfo info;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Upload(&ctx, up, &info).ok());
    v1::KVPair* p = init.add_pairs();
    p->set_key(bound.arg_names(i));
    p->add_values(bound.args(i).handle());
    (*set.mutable_keys())[bound.arg_names(i)] = bound.arg_names(i);
  }
  v1::SetExecutorKVStoreResponse set_resp;
  {
    grpc::ClientContext ctx;  // keys not initialized yet
    EXPECT_EQ(stub_->SetExecutorKVStore(&ctx, set, &set_resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    v1::KVInitResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->KVInit(&ctx, init, &resp).ok());
  }
  v1::KVSetOptimizerRequest opt;
  opt.set_session(session_);
  opt.set_store(store.store());
  opt.set_name("sgd");
  (*opt.mutable_params())["learning_rate"] = "0.5";
  {
    v1::KVSetOptimizerResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->KVSetOptimizer(&ctx, opt, &resp).ok());
  }
  for (const auto& [name, key] : std::map<std::string, std::string>{
           {"data", "x"}, {"nosuch", "x"}, {bound.arg_names(params[0]), ""}}) {
    v1::SetExecutorKVStoreRequest bad = set;
    (*bad.mutable_keys())[name] = key;
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->SetExecutorKVStore(&ctx, bad, &set_resp).error_code(),
              key.empty() ? grpc::StatusCode::INVALID_ARGUMENT : grpc::StatusCode::NOT_FOUND)
        << name;
  }
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->SetExecutorKVStore(&ctx, set, &set_resp).ok());
  }
  v1::ForwardRequest step;
  step.set_session(session_);
  step.set_executor(bound.executor());
  step.set_is_train(true);
  step.set_backward(true);
  (*step.mutable_values())["data"] = FloatTensor({2, 5}, {1, 2, 3, 4, 5, -1, 0, 1, 2, 0.5});
  (*step.mutable_values())["softmax_label"] = FloatTensor({2}, {0, 2});
  v1::ForwardResponse out;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Forward(&ctx, step, &out).ok());
  }
  std::vector<std::vector<float>> before, grads;
  for (int i : params) {
    before.push_back(Download(bound.args(i).handle()));
    grads.push_back(Download(bound.arg_grads(i).handle()));
  }
  v1::UpdateRequest update;
  update.set_session(session_);
  update.set_executor(bound.executor());
  {
    v1::UpdateResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Update(&ctx, update, &resp).ok());
  }
  for (size_t p = 0; p < params.size(); ++p) {
    const std::vector<float> after = Download(bound.args(params[p]).handle());
    ASSERT_EQ(after.size(), before[p].size());
    for (size_t j = 0; j < after.size(); ++j) {
      EXPECT_NEAR(after[j], before[p][j] - 0.5f * grads[p][j], 1e-5)
          << bound.arg_names(params[p]) << "[" << j << "]";
    }
  }
  step.set_update(true);  // the one-RPC training step goes through the store too
  {
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->Forward(&ctx, step, &out).ok());
  }
  v1::KVBarrierRequest barrier;
  barrier.set_session(session_);
  barrier.set_store(store.store());
  {
    v1::KVBarrierResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->KVBarrier(&ctx, barrier, &resp).ok());
  }
}

// Per-client sessions and per-session calls per second, through gRPC: RESOURCE_EXHAUSTED
// beyond them, and nothing else is affected.
class WorkerLimitsTest : public WorkerFixture {
 protected:
  void Configure(WorkerOptions* options) override {
    options->sessions.max_sessions_per_client = 2;
    options->sessions.calls_per_second = 20;
  }
};

TEST_F(WorkerLimitsTest, SessionsPerClientAndCallsPerSecond) {
  // SetUp opened one session from this client (127.0.0.1); one more fits.
  v1::OpenSessionResponse second;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->OpenSession(&ctx, v1::OpenSessionRequest(), &second).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::OpenSessionResponse third;
    const grpc::Status s = stub_->OpenSession(&ctx, v1::OpenSessionRequest(), &third);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(s.error_message(), HasSubstr("ipv4:127.0.0.1"));
  }
  // One session flooding KeepAlive runs out of its 20 calls a second...
  grpc::Status refused;
  for (int i = 0; i < 100 && refused.ok(); ++i) {
    grpc::ClientContext ctx;
    v1::KeepAliveRequest request;
    request.set_session(session_);
    v1::KeepAliveResponse response;
    refused = stub_->KeepAlive(&ctx, request, &response);
  }
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("calls per second"));
  // ...while the other session's calls go through.
  grpc::ClientContext ctx;
  v1::KeepAliveRequest request;
  request.set_session(second.session());
  v1::KeepAliveResponse response;
  EXPECT_TRUE(stub_->KeepAlive(&ctx, request, &response).ok());
}

}  // namespace
}  // namespace mxgrid::services

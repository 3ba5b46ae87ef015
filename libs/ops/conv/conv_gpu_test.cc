// The conv family's CUDA kernels against its CPU kernels (--config=cuda builds;
// skipped on a machine without a GPU): every case of ConvCases() plus larger
// shapes that reach cuDNN's real algorithms, in float32 and float64 (float16
// for the cuDNN ops, loosely): forward outputs (hidden ones too) and the
// auxiliary states the forward writes, kAddTo forward, backward gradients with
// write and kAddTo requests, and each gradient's kNull request (its buffer
// untouched, the others unchanged). Every call must run on the CUDA kernels,
// not on host copies.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/base/dtype.h"
#include "libs/gpu/gpu.h"
#include "libs/ops/builtin.h"
#include "libs/ops/conv/conv_cases.h"
#include "libs/ops/gpu_fallback.h"

namespace mxgrid::ops {
namespace {

using Values = std::vector<double>;

// Host bytes of `v` as `dtype`.
std::vector<char> Encode(const Values &v, DType dtype) {
  std::vector<char> out(v.size() * DTypeSize(dtype));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dtype) {
      case DType::kFloat32:
        reinterpret_cast<float *>(out.data())[i] = static_cast<float>(v[i]);
        break;
      case DType::kFloat64:
        reinterpret_cast<double *>(out.data())[i] = v[i];
        break;
      default:
        reinterpret_cast<Half *>(out.data())[i] = FromDouble<Half>(v[i]);
        break;
    }
  }
  return out;
}

Values Decode(const std::vector<char> &b, DType dtype) {
  const size_t n = b.size() / DTypeSize(dtype);
  Values out(n);
  for (size_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::kFloat32:
        out[i] = reinterpret_cast<const float *>(b.data())[i];
        break;
      case DType::kFloat64:
        out[i] = reinterpret_cast<const double *>(b.data())[i];
        break;
      default:
        out[i] = ToDouble(reinterpret_cast<const Half *>(b.data())[i]);
        break;
    }
  }
  return out;
}

// One array on the host (CPU runs) and on the GPU.
struct Array {
  Shape shape;
  DType dtype;
  std::vector<char> host;
  void *dev = nullptr;
  ~Array() {
    if (dev != nullptr) gpu::Free(0, dev);
  }
  TensorView Cpu() { return TensorView{host.data(), shape, dtype, Context::Cpu()}; }
  TensorView Gpu() { return TensorView{dev, shape, dtype, Context::Gpu(0)}; }
  void Upload() {
    if (dev == nullptr) dev = *gpu::Malloc(0, std::max<size_t>(host.size(), 1));
    void *s = *gpu::ThreadStream(0);
    ASSERT_TRUE(gpu::CopyHostToDevice(0, s, dev, host.data(), host.size()).ok());
  }
  Values Download() {
    std::vector<char> b(host.size());
    void *s = *gpu::ThreadStream(0);
    EXPECT_TRUE(gpu::CopyDeviceToHost(0, s, b.data(), dev, b.size()).ok());
    return Decode(b, dtype);
  }
};

std::vector<std::unique_ptr<Array>> MakeArrays(const std::vector<Shape> &shapes,
                                               const std::vector<DType> &types,
                                               const std::vector<Values> &values) {
  std::vector<std::unique_ptr<Array>> out;
  for (size_t i = 0; i < shapes.size(); ++i) {
    auto a = std::make_unique<Array>();
    a->shape = shapes[i];
    a->dtype = types[i];
    a->host = Encode(values[i], types[i]);
    a->Upload();
    out.push_back(std::move(a));
  }
  return out;
}

Values Random(std::mt19937 *rng, int64_t n, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  Values v(n);
  for (double &x : v) x = d(*rng);
  return v;
}

// max |a - b| / max(1, max |b|) <= tol.
void ExpectClose(const Values &got, const Values &want, double tol, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double err = 0, scale = 1;
  size_t worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::abs(want[i]));
    const double e = std::abs(got[i] - want[i]);
    if (!(e <= err)) {
      err = e;
      worst = i;
    }
  }
  EXPECT_LE(err / scale, tol) << what << ": element " << worst << " is " << got[worst]
                              << ", the CPU gives " << want[worst];
}

std::vector<TensorView> Views(std::vector<std::unique_ptr<Array>> &a, bool gpu) {
  std::vector<TensorView> v;
  for (auto &x : a) v.push_back(gpu ? x->Gpu() : x->Cpu());
  return v;
}

void CheckOnGpu(const testing::OpCase &c, DType dtype, double tol) {
  SCOPED_TRACE(absl::StrCat(c.name, " ", DTypeName(dtype)));
  const Registry &reg = GlobalRegistry();
  absl::StatusOr<ParsedOp> parsed = reg.Parse(c.op, c.attrs);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ParsedOp &op = *parsed;
  std::vector<InferShape> in_s(c.input_shapes.begin(), c.input_shapes.end());
  std::vector<InferShape> out_s(op.num_outputs());
  ASSERT_TRUE(op.InferShapes(&in_s, &out_s).ok());
  std::vector<InferType> in_t(op.num_inputs(), dtype), out_t(op.num_outputs());
  for (size_t i = 1; i < in_t.size(); ++i) in_t[i] = std::nullopt;
  ASSERT_TRUE(op.InferTypes(&in_t, &out_t).ok());
  std::vector<Shape> in_shapes, out_shapes;
  std::vector<DType> in_types, out_types;
  for (auto &s : in_s) in_shapes.push_back(*s);
  for (auto &s : out_s) out_shapes.push_back(*s);
  for (auto &t : in_t) in_types.push_back(*t);
  for (auto &t : out_t) out_types.push_back(*t);

  std::mt19937 rng(42);
  std::vector<Values> in_vals;
  for (size_t i = 0; i < in_shapes.size(); ++i) {
    if (i < c.input_values.size() && !c.input_values[i].empty()) {
      in_vals.push_back(c.input_values[i]);
    } else {
      in_vals.push_back(Random(&rng, in_shapes[i].Size(), c.low, c.high));
    }
  }
  // Rounded to the dtype, so CPU and GPU start from the same values.
  for (size_t i = 0; i < in_vals.size(); ++i) {
    in_vals[i] = Decode(Encode(in_vals[i], in_types[i]), in_types[i]);
  }
  std::vector<Values> zero_out;
  for (const Shape &s : out_shapes) zero_out.push_back(Values(s.Size(), 0.0));
  const int64_t fallbacks = GpuFallbackCalls();

  // Forward, write requests.
  auto cpu_in = MakeArrays(in_shapes, in_types, in_vals);
  auto cpu_out = MakeArrays(out_shapes, out_types, zero_out);
  auto gpu_in = MakeArrays(in_shapes, in_types, in_vals);
  auto gpu_out = MakeArrays(out_shapes, out_types, zero_out);
  std::vector<OpReq> write(op.num_outputs(), OpReq::kWriteTo);
  OpContext cpu_ctx{c.is_train, Context::Cpu()};
  OpContext gpu_ctx{c.is_train, Context::Gpu(0)};
  std::vector<TensorView> ci = Views(cpu_in, false), co = Views(cpu_out, false);
  std::vector<TensorView> gi = Views(gpu_in, true), go = Views(gpu_out, true);
  ASSERT_TRUE(op.Forward(cpu_ctx, ci, write, co).ok());
  absl::Status s = op.Forward(gpu_ctx, gi, write, go);
  ASSERT_TRUE(s.ok()) << s;
  std::vector<Values> want_out;
  for (int k = 0; k < op.num_outputs(); ++k) {
    want_out.push_back(Decode(cpu_out[k]->host, out_types[k]));
    ExpectClose(gpu_out[k]->Download(), want_out[k], tol, absl::StrCat("forward output ", k));
  }
  for (int i : op.mutated_indices()) {
    ExpectClose(gpu_in[i]->Download(), Decode(cpu_in[i]->host, in_types[i]), tol,
                absl::StrCat("forward-updated input ", i));
  }

  // Forward, kAddTo onto random values (fresh inputs: the aux states were
  // updated).
  std::vector<Values> base;
  for (const Shape &sh : out_shapes) base.push_back(Random(&rng, sh.Size(), -1, 1));
  auto gpu_in2 = MakeArrays(in_shapes, in_types, in_vals);
  auto gpu_out2 = MakeArrays(out_shapes, out_types, base);
  std::vector<OpReq> add(op.num_outputs(), OpReq::kAddTo);
  gi = Views(gpu_in2, true);
  go = Views(gpu_out2, true);
  s = op.Forward(gpu_ctx, gi, add, go);
  ASSERT_TRUE(s.ok()) << s;
  for (int k = 0; k < op.num_outputs(); ++k) {
    Values want = want_out[k];
    for (size_t j = 0; j < want.size(); ++j)
      want[j] += Decode(Encode({base[k][j]}, out_types[k]), out_types[k])[0];
    ExpectClose(gpu_out2[k]->Download(), want, tol, absl::StrCat("kAddTo forward output ", k));
  }

  if (!op.def().backward) return;
  // Backward with the original inputs and the CPU's outputs.
  std::vector<Values> heads;
  for (int k = 0; k < op.num_visible_outputs(); ++k) {
    heads.push_back(Random(&rng, out_shapes[k].Size(), -1, 1));
  }
  std::vector<Shape> head_shapes(out_shapes.begin(), out_shapes.begin() + op.num_visible_outputs());
  std::vector<DType> head_types(out_types.begin(), out_types.begin() + op.num_visible_outputs());
  std::vector<Values> zero_in;
  for (const Shape &sh : in_shapes) zero_in.push_back(Values(sh.Size(), 0.0));
  const std::vector<int> aux = op.aux_indices();
  auto is_aux = [&](int i) { return std::find(aux.begin(), aux.end(), i) != aux.end(); };
  std::vector<OpReq> greq(op.num_inputs(), OpReq::kWriteTo);
  for (int i : aux) greq[i] = OpReq::kNull;

  auto run_backward = [&](bool gpu, const std::vector<OpReq> &reqs,
                          const std::vector<Values> &grad_init) -> std::vector<Values> {
    auto h = MakeArrays(head_shapes, head_types, heads);
    auto in = MakeArrays(in_shapes, in_types, in_vals);
    auto out = MakeArrays(out_shapes, out_types, want_out);
    auto g = MakeArrays(in_shapes, in_types, grad_init);
    std::vector<TensorView> hv = Views(h, gpu), iv = Views(in, gpu), ov = Views(out, gpu),
                            gv = Views(g, gpu);
    BackwardArgs args{hv, iv, ov, gv, reqs};
    absl::Status st = op.Backward(gpu ? gpu_ctx : cpu_ctx, args);
    EXPECT_TRUE(st.ok()) << st;
    std::vector<Values> res;
    for (size_t i = 0; i < g.size(); ++i) {
      res.push_back(gpu ? g[i]->Download() : Decode(g[i]->host, in_types[i]));
    }
    return res;
  };
  const std::vector<Values> want_g = run_backward(false, greq, zero_in);
  const std::vector<Values> got_g = run_backward(true, greq, zero_in);
  for (int i = 0; i < op.num_inputs(); ++i) {
    if (!is_aux(i)) ExpectClose(got_g[i], want_g[i], tol, absl::StrCat("gradient ", i));
  }
  // kAddTo onto random values.
  std::vector<Values> gbase;
  for (size_t i = 0; i < in_shapes.size(); ++i) {
    gbase.push_back(
        Decode(Encode(Random(&rng, in_shapes[i].Size(), -1, 1), in_types[i]), in_types[i]));
  }
  std::vector<OpReq> areq = greq;
  for (OpReq &r : areq) {
    if (r != OpReq::kNull) r = OpReq::kAddTo;
  }
  const std::vector<Values> got_add = run_backward(true, areq, gbase);
  for (int i = 0; i < op.num_inputs(); ++i) {
    if (is_aux(i)) continue;
    Values want = want_g[i];
    for (size_t j = 0; j < want.size(); ++j) want[j] += gbase[i][j];
    ExpectClose(got_add[i], want, tol, absl::StrCat("kAddTo gradient ", i));
  }
  // Each gradient null in turn: its sentinel buffer untouched, the others as
  // before.
  for (int i = 0; i < op.num_inputs(); ++i) {
    if (is_aux(i)) continue;
    std::vector<OpReq> nreq = greq;
    nreq[i] = OpReq::kNull;
    std::vector<Values> init = zero_in;
    init[i] = Values(in_shapes[i].Size(), 7.0);
    const std::vector<Values> got = run_backward(true, nreq, init);
    EXPECT_EQ(got[i], init[i]) << "null gradient " << i << " was written";
    for (int j = 0; j < op.num_inputs(); ++j) {
      if (j != i && !is_aux(j)) {
        ExpectClose(got[j], want_g[j], tol, absl::StrCat("gradient ", j, " with ", i, " null"));
      }
    }
  }
  EXPECT_EQ(GpuFallbackCalls(), fallbacks) << "some call ran on host copies";
}

// Larger shapes, where cuDNN picks real algorithms and the reductions span many
// blocks.
std::vector<testing::OpCase> LargeCases() {
  std::vector<testing::OpCase> out;
  auto add = [&](std::string name, std::string op, AttrMap attrs, std::vector<Shape> shapes) {
    testing::OpCase c;
    c.name = std::move(name);
    c.op = std::move(op);
    c.attrs = std::move(attrs);
    c.input_shapes = std::move(shapes);
    out.push_back(std::move(c));
  };
  add("big_conv3x3", "Convolution", {{"kernel", "(3, 3)"}, {"pad", "(1, 1)"}, {"num_filter", "32"}},
      {{8, 16, 28, 28}, {32, 16, 3, 3}, {32}});
  add("big_conv_group_stride_dilate", "Convolution",
      {{"kernel", "(3, 3)"},
       {"stride", "(2, 2)"},
       {"dilate", "(2, 2)"},
       {"pad", "(2, 1)"},
       {"num_filter", "24"},
       {"num_group", "4"}},
      {{4, 16, 30, 27}, {24, 4, 3, 3}, {24}});
  add("big_conv1x1_nobias", "Convolution",
      {{"kernel", "(1, 1)"}, {"num_filter", "64"}, {"no_bias", "True"}},
      {{8, 32, 14, 14}, {64, 32, 1, 1}});
  add("big_conv1d", "Convolution", {{"kernel", "(5,)"}, {"pad", "(2,)"}, {"num_filter", "12"}},
      {{6, 8, 100}, {12, 8, 5}, {12}});
  add("big_conv3d", "Convolution",
      {{"kernel", "(3, 3, 3)"}, {"pad", "(1, 1, 1)"}, {"stride", "(1, 2, 2)"}, {"num_filter", "8"}},
      {{2, 4, 6, 12, 10}, {8, 4, 3, 3, 3}, {8}});
  add("big_deconv", "Deconvolution",
      {{"kernel", "(4, 4)"},
       {"stride", "(2, 2)"},
       {"pad", "(1, 1)"},
       {"num_filter", "6"},
       {"num_group", "2"},
       {"no_bias", "False"}},
      {{4, 8, 7, 9}, {8, 3, 4, 4}, {6}});
  add("big_deconv_target", "Deconvolution",
      {{"kernel", "(3, 3)"},
       {"stride", "(2, 2)"},
       {"target_shape", "(14, 15)"},
       {"num_filter", "5"}},
      {{2, 3, 7, 8}, {3, 5, 3, 3}});
  add("big_pool_max_full", "Pooling",
      {{"kernel", "(3, 3)"},
       {"stride", "(2, 2)"},
       {"pad", "(1, 1)"},
       {"pooling_convention", "full"}},
      {{4, 8, 33, 31}});
  add("big_pool_avg", "Pooling",
      {{"kernel", "(3, 3)"}, {"stride", "(2, 2)"}, {"pad", "(1, 1)"}, {"pool_type", "avg"}},
      {{4, 8, 32, 32}});
  add("big_pool_global_avg", "Pooling",
      {{"global_pool", "True"}, {"kernel", "(1, 1)"}, {"pool_type", "avg"}}, {{4, 16, 9, 9}});
  add("big_pool3d_sum", "Pooling",
      {{"kernel", "(2, 3, 3)"}, {"stride", "(2, 2, 2)"}, {"pool_type", "sum"}}, {{2, 3, 8, 9, 10}});
  testing::OpCase bn;
  bn.name = "big_bn_train";
  bn.op = "BatchNorm";
  bn.attrs = {{"fix_gamma", "False"}};
  bn.input_shapes = {{16, 32, 20, 20}, {32}, {32}, {32}, {32}};
  bn.input_values = {{}, {}, {}, {}, Values(32, 0.75)};
  out.push_back(bn);
  bn.name = "big_bn_axis_last_inference";
  bn.attrs = {{"fix_gamma", "False"}, {"axis", "-1"}};
  bn.is_train = false;
  bn.input_shapes = {{64, 300}, {300}, {300}, {300}, {300}};
  bn.input_values = {{}, {}, {}, {}, Values(300, 0.5)};
  out.push_back(bn);
  return out;
}

class ConvGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (gpu::DeviceCount() == 0) GTEST_SKIP() << "no GPU: " << gpu::NoDeviceReason();
  }
};

TEST_F(ConvGpuTest, Float32MatchesCpu) {
  for (const auto &c : testing::ConvCases()) CheckOnGpu(c, DType::kFloat32, 2e-5);
  for (const auto &c : LargeCases()) CheckOnGpu(c, DType::kFloat32, 2e-5);
}

TEST_F(ConvGpuTest, Float64MatchesCpu) {
  for (const auto &c : testing::ConvCases()) CheckOnGpu(c, DType::kFloat64, 1e-11);
  for (const auto &c : LargeCases()) CheckOnGpu(c, DType::kFloat64, 1e-11);
}

TEST_F(ConvGpuTest, Float16ConvolutionsMatchCpu) {
  for (const auto &c : LargeCases()) {
    if (c.op == "Convolution" || c.op == "Deconvolution") CheckOnGpu(c, DType::kFloat16, 1e-2);
  }
}

}  // namespace
}  // namespace mxgrid::ops

// The operator consistency suite on a GPU: every case of every family's case list runs on
// gpu(0) (its CUDA kernels, or the CPU kernels on host copies where it has none) and on the
// CPU, in float32, and the results must agree — every output (hidden ones too), every input
// the forward writes (auxiliary states, optimizer states) and every wanted input gradient;
// then the GPU backward again with kAddTo requests must double the gradients. The CPU
// kernels' gradients are checked against finite differences by each family's own suite, so
// agreement here carries that check over to the GPU kernels.
//
// Random operators draw different values on the two devices, so the case comparison only
// checks that the GPU runs them; RandomMoments below checks their distributions instead: the
// mean and variance of a large sample of every sampler (each parameter form), the category
// frequencies of _sample_multinomial, _shuffle's output being a permutation, and that one
// seed gives the same values twice and another seed different ones. It runs on the CPU
// kernels as well (always), which keeps its tolerances honest.
//
// Without a GPU the GPU tests report skipped. MXGRID_GPU_CONSISTENCY_REPORT=<file> writes one
// line per case: "<case> <op> native|fallback ok|FAIL <first difference>".
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/base/dtype.h"
#include "libs/base/status_macros.h"
#include "libs/gpu/gpu.h"
#include "libs/ops/builtin.h"
#include "libs/ops/conv/conv_cases.h"
#include "libs/ops/linalg/linalg_cases.h"
#include "libs/ops/nn/nn_cases.h"
#include "libs/ops/optimizer/optimizer_cases.h"
#include "libs/ops/random/random_cases.h"
#include "libs/ops/registry.h"
#include "libs/ops/tensor/tensor_cases.h"
#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {
namespace {

using Values = std::vector<std::vector<double>>;

// One array on the host and, when `device` >= 0, a copy on that GPU.
class Buffer {
 public:
  Buffer(const Shape& shape, DType dtype, int device)
      : shape_(shape), dtype_(dtype), device_(device),
        host_(static_cast<size_t>(shape.Size()) * DTypeSize(dtype) + 8, 0) {
    if (device_ >= 0) {
      absl::StatusOr<void*> p = gpu::Malloc(device_, host_.size());
      EXPECT_TRUE(p.ok()) << p.status();
      if (p.ok()) dev_ = *p;
    }
  }
  ~Buffer() {
    if (dev_ != nullptr) gpu::Free(device_, dev_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void Set(const std::vector<double>& values) {
    VisitDType(dtype_, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = reinterpret_cast<T*>(host_.data());
      for (size_t i = 0; i < values.size(); ++i) p[i] = FromDouble<T>(values[i]);
    });
    if (dev_ != nullptr) {
      EXPECT_TRUE(gpu::CopyHostToDevice(device_, *gpu::ThreadStream(device_), dev_,
                                        host_.data(), host_.size())
                      .ok());
    }
  }

  std::vector<double> Get() {
    if (dev_ != nullptr) {
      EXPECT_TRUE(gpu::CopyDeviceToHost(device_, *gpu::ThreadStream(device_), host_.data(),
                                        dev_, host_.size())
                      .ok());
    }
    std::vector<double> out(static_cast<size_t>(shape_.Size()));
    VisitDType(dtype_, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* p = reinterpret_cast<const T*>(host_.data());
      for (size_t i = 0; i < out.size(); ++i) out[i] = ToDouble(p[i]);
    });
    return out;
  }

  TensorView View(bool null_data = false) const {
    Context ctx = device_ >= 0 ? Context::Gpu(device_) : Context::Cpu();
    void* data = device_ >= 0 ? dev_ : const_cast<char*>(host_.data());
    return TensorView{null_data ? nullptr : data, shape_, dtype_, ctx};
  }

 private:
  Shape shape_;
  DType dtype_;
  int device_;
  std::vector<char> host_;
  void* dev_ = nullptr;
};

struct Arrays {
  std::vector<std::unique_ptr<Buffer>> buffers;
  std::vector<TensorView> Views(const std::vector<OpReq>* null_reqs = nullptr) const {
    std::vector<TensorView> v;
    for (size_t i = 0; i < buffers.size(); ++i) {
      const bool null_data = null_reqs != nullptr && (*null_reqs)[i] == OpReq::kNull;
      v.push_back(buffers[i]->View(null_data));
    }
    return v;
  }
  Values Get() const {
    Values out;
    for (const auto& b : buffers) out.push_back(b->Get());
    return out;
  }
};

Arrays Make(const std::vector<Shape>& shapes, const std::vector<DType>& dtypes, int device,
            const Values& values) {
  Arrays a;
  for (size_t i = 0; i < shapes.size(); ++i) {
    a.buffers.push_back(std::make_unique<Buffer>(shapes[i], dtypes[i], device));
    if (i < values.size()) a.buffers.back()->Set(values[i]);
  }
  return a;
}

// Everything one device computed for a case.
struct Result {
  Values outputs, inputs_after, grads, grads_twice;
  absl::Status status;
};

struct Problem {
  const ParsedOp* op;
  const testing::OpCase* c;
  std::vector<Shape> in_shapes, out_shapes;
  std::vector<DType> in_types, out_types;
  Values inputs, heads;
  std::vector<OpReq> grad_reqs;
};

Result RunCase(const Problem& p, int device, uint64_t seed = 1234) {
  Result r;
  const Context ctx = device >= 0 ? Context::Gpu(device) : Context::Cpu();
  Arrays in = Make(p.in_shapes, p.in_types, device, p.inputs);
  Arrays out = Make(p.out_shapes, p.out_types, device, {});
  std::vector<OpReq> reqs(p.out_shapes.size(), OpReq::kWriteTo);
  std::mt19937_64 rng(seed);
  OpContext op_ctx{p.c->is_train, ctx, &rng};
  r.status = p.op->Forward(op_ctx, in.Views(), reqs, out.Views());
  if (!r.status.ok()) return r;
  r.outputs = out.Get();
  r.inputs_after = in.Get();
  if (!p.op->def().backward) return r;
  // Backward from the original inputs (a forward may have updated some in place).
  Arrays bin = Make(p.in_shapes, p.in_types, device, p.inputs);
  std::vector<Shape> head_shapes(p.out_shapes.begin(),
                                 p.out_shapes.begin() + p.op->num_visible_outputs());
  std::vector<DType> head_types(p.out_types.begin(),
                                p.out_types.begin() + p.op->num_visible_outputs());
  Arrays heads = Make(head_shapes, head_types, device, p.heads);
  Arrays outs = Make(p.out_shapes, p.out_types, device, r.outputs);
  Values zeros;
  for (const Shape& s : p.in_shapes) zeros.emplace_back(static_cast<size_t>(s.Size()), 0.0);
  Arrays grads = Make(p.in_shapes, p.in_types, device, zeros);
  std::vector<TensorView> h = heads.Views(), i = bin.Views(), o = outs.Views();
  std::vector<TensorView> g = grads.Views(&p.grad_reqs);
  std::mt19937_64 rng2(seed);
  op_ctx.rng = &rng2;
  r.status = p.op->Backward(op_ctx, BackwardArgs{h, i, o, g, p.grad_reqs});
  if (!r.status.ok()) return r;
  r.grads = grads.Get();
  std::vector<OpReq> add(p.grad_reqs);
  for (OpReq& q : add) {
    if (q != OpReq::kNull) q = OpReq::kAddTo;
  }
  std::mt19937_64 rng3(seed);
  op_ctx.rng = &rng3;
  r.status = p.op->Backward(op_ctx, BackwardArgs{h, i, o, g, add});
  if (r.status.ok()) r.grads_twice = grads.Get();
  return r;
}

// "" when `got` matches `want` within float32 tolerance (relative to the array's scale).
std::string Compare(const std::vector<double>& got, const std::vector<double>& want,
                    const std::string& what, double scale_factor = 1.0) {
  if (got.size() != want.size()) return absl::StrCat(what, ": sizes differ");
  double scale = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  const double atol = 1e-4 * std::max(1.0, scale) * scale_factor;
  for (size_t j = 0; j < got.size(); ++j) {
    const double g = got[j], w = want[j] * scale_factor;
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    if (!(std::fabs(g - w) <= atol + 1e-3 * std::fabs(w))) {
      return absl::StrCat(what, " element ", j, ": gpu ", g, ", cpu ", w);
    }
  }
  return "";
}

// Whether two runs gave the same numbers everywhere (NaNs equal).
bool SameResults(const Result& a, const Result& b) {
  auto same = [](const std::vector<std::vector<double>>& x,
                 const std::vector<std::vector<double>>& y) {
    if (x.size() != y.size()) return false;
    for (size_t k = 0; k < x.size(); ++k) {
      if (x[k].size() != y[k].size()) return false;
      for (size_t j = 0; j < x[k].size(); ++j) {
        if (x[k][j] != y[k][j] && !(std::isnan(x[k][j]) && std::isnan(y[k][j]))) return false;
      }
    }
    return true;
  };
  return b.status.ok() && same(a.outputs, b.outputs) && same(a.grads, b.grads) &&
         same(a.inputs_after, b.inputs_after);
}

std::vector<testing::OpCase> AllCases() {
  std::vector<testing::OpCase> cases = NNCases();
  for (auto* more : {TensorCases, testing::ConvCases, OptimizerCases, RandomCases, LinalgCases}) {
    std::vector<testing::OpCase> c = more();
    cases.insert(cases.end(), c.begin(), c.end());
  }
  return cases;
}

TEST(GpuConsistencyTest, EveryCaseAgreesWithTheCpu) {
  if (gpu::DeviceCount() == 0) GTEST_SKIP() << "no GPU: " << gpu::NoDeviceReason();
  const Registry& registry = GlobalRegistry();
  std::ofstream report;
  if (const char* path = std::getenv("MXGRID_GPU_CONSISTENCY_REPORT")) report.open(path);
  int failed = 0, native = 0, total = 0;
  std::set<std::string> native_ops, fallback_ops;
  for (const testing::OpCase& c : AllCases()) {
    absl::StatusOr<ParsedOp> op = registry.Parse(c.op, c.attrs);
    if (!op.ok()) continue;  // the family's own suite reports it
    Problem p;
    p.op = &*op;
    p.c = &c;
    p.in_shapes = c.input_shapes;
    std::vector<InferShape> in_s(c.input_shapes.begin(), c.input_shapes.end());
    std::vector<InferShape> out_s(op->num_outputs());
    if (!op->InferShapes(&in_s, &out_s).ok()) continue;
    std::vector<InferType> in_t(op->num_inputs(), DType::kFloat32), out_t(op->num_outputs());
    if (!op->InferTypes(&in_t, &out_t).ok()) {
      in_t.assign(op->num_inputs(), std::nullopt);
      out_t.assign(op->num_outputs(), std::nullopt);
      if (!op->InferTypes(&in_t, &out_t).ok()) continue;
    }
    for (int i = 0; i < op->num_inputs(); ++i)
      p.in_types.push_back(in_t[i].value_or(DType::kFloat32));
    for (int k = 0; k < op->num_outputs(); ++k) {
      p.out_shapes.push_back(*out_s[k]);
      p.out_types.push_back(out_t[k].value_or(DType::kFloat32));
    }
    std::mt19937_64 rng(std::hash<std::string>()(c.name));
    std::uniform_real_distribution<double> uniform(c.low, c.high);
    for (int i = 0; i < op->num_inputs(); ++i) {
      if (i < static_cast<int>(c.input_values.size()) && !c.input_values[i].empty()) {
        p.inputs.push_back(c.input_values[i]);
      } else {
        std::vector<double> v(static_cast<size_t>(c.input_shapes[i].Size()));
        for (double& x : v) x = uniform(rng);
        p.inputs.push_back(std::move(v));
      }
    }
    for (int k = 0; k < op->num_visible_outputs(); ++k) {
      std::vector<double> v(static_cast<size_t>(p.out_shapes[k].Size()));
      for (double& x : v) x = uniform(rng);
      p.heads.push_back(std::move(v));
    }
    const std::vector<int> aux = op->aux_indices();
    p.grad_reqs.assign(op->num_inputs(), OpReq::kNull);
    for (int i = 0; i < op->num_inputs(); ++i) {
      const bool is_aux = std::find(aux.begin(), aux.end(), i) != aux.end();
      const bool wanted = c.grad_inputs ? c.grad_inputs->count(i) > 0 : !is_aux;
      if (wanted) p.grad_reqs[i] = OpReq::kWriteTo;
    }

    const OpDef& def = op->def();
    bool is_native = static_cast<bool>(def.gpu_forward);
    for (DType t : p.in_types) {
      is_native &=
          std::find(def.gpu_dtypes.begin(), def.gpu_dtypes.end(), t) != def.gpu_dtypes.end();
    }
    (is_native ? native_ops : fallback_ops).insert(def.name);
    ++total;
    native += is_native;

    const Result cpu = RunCase(p, -1);
    const Result gpu_r = RunCase(p, 0);
    std::string diff;
    if (!cpu.status.ok()) {
      diff = "";  // the CPU refuses this float32 case too: nothing to compare
    } else if (!gpu_r.status.ok()) {
      diff = absl::StrCat("gpu failed: ", gpu_r.status.ToString());
    } else if (!def.random || SameResults(cpu, RunCase(p, -1, /*seed=*/99))) {
      // A random operator whose case draws nothing (RNN without dropout) is compared too.
      for (size_t k = 0; k < cpu.outputs.size() && diff.empty(); ++k) {
        diff = Compare(gpu_r.outputs[k], cpu.outputs[k], absl::StrCat("output ", k));
      }
      for (size_t i = 0; i < cpu.inputs_after.size() && diff.empty(); ++i) {
        diff = Compare(gpu_r.inputs_after[i], cpu.inputs_after[i],
                       absl::StrCat("input ", i, " after forward"));
      }
      for (size_t i = 0; i < cpu.grads.size() && diff.empty(); ++i) {
        if (p.grad_reqs[i] == OpReq::kNull) continue;
        diff = Compare(gpu_r.grads[i], cpu.grads[i], absl::StrCat("gradient ", i));
        if (diff.empty() && i < gpu_r.grads_twice.size()) {
          diff = Compare(gpu_r.grads_twice[i], cpu.grads[i],
                         absl::StrCat("gradient ", i, " with kAddTo"), 2.0);
        }
      }
    }
    if (!diff.empty()) {
      ++failed;
      ADD_FAILURE() << "case " << c.name << " (" << def.name << ", "
                    << (is_native ? "CUDA kernel" : "host fallback") << "): " << diff;
    }
    if (report.is_open()) {
      report << c.name << " " << def.name << " " << (is_native ? "native" : "fallback") << " "
             << (diff.empty() ? "ok" : "FAIL " + diff) << "\n";
    }
  }
  for (const std::string& name : native_ops) fallback_ops.erase(name);
  std::printf("GPU consistency: %d cases (%d on CUDA kernels), %d failed; %zu operators with "
              "CUDA kernels, %zu on the host fallback\n",
              total, native, failed, native_ops.size(), fallback_ops.size());
  EXPECT_GT(total, 0);
}

// One sampler call whose output (split into `moments.size()` equal groups in C order) has
// each group's mean and variance.
struct MomentCase {
  std::string op;
  AttrMap attrs;
  std::vector<Shape> input_shapes;
  Values inputs;
  std::vector<std::pair<double, double>> moments;  // (mean, variance) per group
};

constexpr int64_t kDraws = 100000;

std::vector<MomentCase> MomentCases() {
  struct Dist {
    std::string name;
    std::vector<std::pair<std::string, double>> params;
    double mean, var;
  };
  const std::vector<Dist> dists = {
      {"uniform", {{"low", -1}, {"high", 3}}, 1, 16.0 / 12},
      {"normal", {{"loc", 2}, {"scale", 3}}, 2, 9},
      {"gamma", {{"alpha", 0.5}, {"beta", 2}}, 1, 2},       // shape < 1: the boosted branch
      {"gamma", {{"alpha", 3}, {"beta", 0.5}}, 1.5, 0.75},  // Marsaglia-Tsang proper
      {"exponential", {{"lam", 2}}, 0.5, 0.25},
      {"poisson", {{"lam", 3}}, 3, 3},     // small lambda: multiplication
      {"poisson", {{"lam", 40}}, 40, 40},  // large lambda: transformed rejection
      {"negative_binomial", {{"k", 3}, {"p", 0.4}}, 4.5, 11.25},
      {"generalized_negative_binomial", {{"mu", 2}, {"alpha", 0.5}}, 2, 4},
  };
  const std::string n = absl::StrCat("(", kDraws, ",)");
  std::vector<MomentCase> cases;
  for (const Dist& d : dists) {
    AttrMap attrs;
    for (const auto& [k, v] : d.params) attrs[k] = absl::StrCat(v);
    AttrMap with_shape = attrs;
    with_shape["shape"] = n;
    cases.push_back({"_random_" + d.name, with_shape, {}, {}, {{d.mean, d.var}}});
    cases.push_back({"_random_" + d.name + "_like", attrs, {Shape{kDraws}}, {}, {{d.mean, d.var}}});
    // _sample_<dist>: the same parameters as one-element arrays (the same twice: two groups).
    MomentCase s{"_sample_" + d.name, {{"shape", n}}, {}, {}, {{d.mean, d.var}, {d.mean, d.var}}};
    for (const auto& [k, v] : d.params) {
      s.input_shapes.push_back(Shape{2});
      s.inputs.push_back({v, v});
    }
    cases.push_back(std::move(s));
  }
  for (const char* dtype : {"int32", "int64"}) {
    cases.push_back({"_random_randint",
                     {{"low", "-5"}, {"high", "5"}, {"shape", n}, {"dtype", dtype}},
                     {},
                     {},
                     {{-0.5, 99.0 / 12}}});
  }
  // Category indices of probabilities (0.2, 0.3, 0.5) and (0.5, 0, 0.5).
  cases.push_back({"_sample_multinomial",
                   {{"shape", n}},
                   {Shape{2, 3}},
                   {{0.2, 0.3, 0.5, 0.5, 0, 0.5}},
                   {{1.3, 0.61}, {1.0, 1.0}}});
  return cases;
}

// The first output of `op` (by name, with `attrs`) on `device` (-1: the CPU) with the
// OpContext::rng seeded by `seed`.
absl::StatusOr<std::vector<double>> Sample(const std::string& name, const AttrMap& attrs,
                                           const std::vector<Shape>& input_shapes,
                                           const Values& inputs, int device, uint64_t seed,
                                           int output = 0) {
  MXGRID_ASSIGN_OR_RETURN(ParsedOp op, GlobalRegistry().Parse(name, attrs));
  std::vector<InferShape> in_s(input_shapes.begin(), input_shapes.end());
  std::vector<InferShape> out_s(op.num_outputs());
  MXGRID_RETURN_IF_ERROR(op.InferShapes(&in_s, &out_s));
  std::vector<InferType> in_t(op.num_inputs(), DType::kFloat32), out_t(op.num_outputs());
  MXGRID_RETURN_IF_ERROR(op.InferTypes(&in_t, &out_t));
  std::vector<DType> in_types, out_types;
  std::vector<Shape> out_shapes;
  for (const InferType& t : in_t) in_types.push_back(*t);
  for (int k = 0; k < op.num_outputs(); ++k) {
    out_shapes.push_back(*out_s[k]);
    out_types.push_back(*out_t[k]);
  }
  Arrays in = Make(input_shapes, in_types, device, inputs);
  Arrays out = Make(out_shapes, out_types, device, {});
  std::mt19937_64 rng(seed);
  OpContext ctx{false, device >= 0 ? Context::Gpu(device) : Context::Cpu(), &rng};
  std::vector<OpReq> reqs(out_shapes.size(), OpReq::kWriteTo);
  MXGRID_RETURN_IF_ERROR(op.Forward(ctx, in.Views(), reqs, out.Views()));
  return out.buffers[output]->Get();
}

// "" when every group of the sample has its case's moments: the mean within 6 standard
// errors, the variance within 6%.
std::string CheckMoments(const MomentCase& c, const std::vector<double>& v) {
  const size_t groups = c.moments.size();
  const size_t per = v.size() / groups;
  for (size_t g = 0; g < groups; ++g) {
    double sum = 0, sq = 0;
    for (size_t i = g * per; i < (g + 1) * per; ++i) sum += v[i];
    const double mean = sum / per;
    for (size_t i = g * per; i < (g + 1) * per; ++i) sq += (v[i] - mean) * (v[i] - mean);
    const double var = sq / (per - 1);
    const auto [want_mean, want_var] = c.moments[g];
    if (!(std::fabs(mean - want_mean) <= 6 * std::sqrt(want_var / per)) ||
        !(std::fabs(var - want_var) <= 0.06 * want_var)) {
      return absl::StrCat(c.op, " group ", g, ": mean ", mean, " variance ", var, ", want ",
                          want_mean, " and ", want_var);
    }
  }
  return "";
}

// Every check of the header's RandomMoments paragraph on `device`.
void RandomMoments(int device) {
  for (const MomentCase& c : MomentCases()) {
    SCOPED_TRACE(c.op + " " + absl::StrCat(c.attrs.size()) + " attributes");
    absl::StatusOr<std::vector<double>> a =
        Sample(c.op, c.attrs, c.input_shapes, c.inputs, device, 7);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(a->size(), static_cast<size_t>(kDraws) * c.moments.size());
    EXPECT_EQ(CheckMoments(c, *a), "");
    absl::StatusOr<std::vector<double>> again =
        Sample(c.op, c.attrs, c.input_shapes, c.inputs, device, 7);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_TRUE(*a == *again) << c.op << ": one seed gave different values";
    absl::StatusOr<std::vector<double>> other =
        Sample(c.op, c.attrs, c.input_shapes, c.inputs, device, 8);
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_FALSE(*a == *other) << c.op << ": two seeds gave the same values";
  }
  // _sample_multinomial's log-probabilities are those of the drawn categories.
  const Values probs = {{0.2, 0.3, 0.5}};
  const AttrMap get_prob = {{"shape", "(1000,)"}, {"get_prob", "True"}};
  absl::StatusOr<std::vector<double>> index =
      Sample("_sample_multinomial", get_prob, {Shape{3}}, probs, device, 3, 0);
  absl::StatusOr<std::vector<double>> logp =
      Sample("_sample_multinomial", get_prob, {Shape{3}}, probs, device, 3, 1);
  ASSERT_TRUE(index.ok() && logp.ok());
  for (size_t i = 0; i < index->size(); ++i) {
    ASSERT_NEAR((*logp)[i], std::log(probs[0][static_cast<size_t>((*index)[i])]), 1e-6);
  }
  // _shuffle: a permutation of distinct rows, not the identity.
  std::vector<double> rows(1000 * 3);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<double>(i);
  absl::StatusOr<std::vector<double>> shuffled =
      Sample("_shuffle", {}, {Shape{1000, 3}}, {rows}, device, 5);
  ASSERT_TRUE(shuffled.ok()) << shuffled.status();
  std::vector<double> firsts;
  for (size_t r = 0; r < 1000; ++r) {
    const double first = (*shuffled)[r * 3];
    ASSERT_EQ(std::fmod(first, 3), 0);
    ASSERT_EQ((*shuffled)[r * 3 + 1], first + 1);
    ASSERT_EQ((*shuffled)[r * 3 + 2], first + 2);
    firsts.push_back(first);
  }
  EXPECT_NE(firsts, std::vector<double>(rows.begin(), rows.begin() + 1000));
  std::sort(firsts.begin(), firsts.end());
  for (size_t r = 0; r < 1000; ++r) ASSERT_EQ(firsts[r], 3.0 * r);
  // Parameter arrays are checked element by element, as on the CPU.
  absl::StatusOr<std::vector<double>> bad =
      Sample("_sample_gamma", {}, {Shape{3}, Shape{3}}, {{1, 2, -1}, {1, 1, 1}}, device, 1);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("element 2"), std::string::npos) << bad.status();
}

TEST(GpuConsistencyTest, RandomMomentsOnTheCpu) { RandomMoments(-1); }

TEST(GpuConsistencyTest, RandomMomentsOnTheGpu) {
  if (gpu::DeviceCount() == 0) GTEST_SKIP() << "no GPU: " << gpu::NoDeviceReason();
  RandomMoments(0);
}

}  // namespace
}  // namespace mxgrid::ops

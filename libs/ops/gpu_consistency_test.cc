// The operator consistency suite on a GPU: every case of every family's case list runs on
// gpu(0) (its CUDA kernels, or the CPU kernels on host copies where it has none) and on the
// CPU, in float32, and the results must agree — every output (hidden ones too), every input
// the forward writes (auxiliary states, optimizer states) and every wanted input gradient;
// then the GPU backward again with kAddTo requests must double the gradients. The CPU
// kernels' gradients are checked against finite differences by each family's own suite, so
// agreement here carries that check over to the GPU kernels.
//
// Without a GPU the test reports skipped. MXGRID_GPU_CONSISTENCY_REPORT=<file> writes one
// line per case: "<case> <op> native|fallback ok|FAIL <first difference>".
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/base/dtype.h"
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

Result RunCase(const Problem& p, int device) {
  Result r;
  const Context ctx = device >= 0 ? Context::Gpu(device) : Context::Cpu();
  Arrays in = Make(p.in_shapes, p.in_types, device, p.inputs);
  Arrays out = Make(p.out_shapes, p.out_types, device, {});
  std::vector<OpReq> reqs(p.out_shapes.size(), OpReq::kWriteTo);
  std::mt19937_64 rng(1234);
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
  std::mt19937_64 rng2(1234);
  op_ctx.rng = &rng2;
  r.status = p.op->Backward(op_ctx, BackwardArgs{h, i, o, g, p.grad_reqs});
  if (!r.status.ok()) return r;
  r.grads = grads.Get();
  std::vector<OpReq> add(p.grad_reqs);
  for (OpReq& q : add) {
    if (q != OpReq::kNull) q = OpReq::kAddTo;
  }
  std::mt19937_64 rng3(1234);
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
    } else if (!def.random) {
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

}  // namespace
}  // namespace mxgrid::ops

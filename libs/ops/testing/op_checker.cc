#include "libs/ops/testing/op_checker.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace mxgrid::ops::testing {
namespace {

using Values = std::vector<std::vector<double>>;

constexpr int kMaxCheckedElements = 64;
// What the buffer of a kNull gradient holds in step 7: a kernel that writes it changes it.
constexpr double kSentinel = -7777.25;

// Typed buffers for one call, converted from and to doubles.
struct Buffers {
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<TensorView> views;

  Buffers(const Values& values, const std::vector<Shape>& shapes, DType dtype) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      bytes.emplace_back(static_cast<size_t>(shapes[i].Size()) * DTypeSize(dtype), 0);
      VisitDType(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        T* p = reinterpret_cast<T*>(bytes.back().data());
        if (i < values.size()) {
          for (size_t j = 0; j < values[i].size(); ++j) p[j] = FromDouble<T>(values[i][j]);
        }
      });
      views.push_back({bytes.back().data(), shapes[i], dtype, Context::Cpu()});
    }
  }

  // One vector per view; empty for a view without data.
  Values ToValues() const {
    Values out;
    for (const TensorView& v : views) {
      std::vector<double> d(v.data == nullptr ? 0 : static_cast<size_t>(v.size()));
      VisitDType(v.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* p = static_cast<const T*>(v.data);
        for (size_t j = 0; j < d.size(); ++j) d[j] = ToDouble(p[j]);
      });
      out.push_back(std::move(d));
    }
    return out;
  }
};

bool Near(double got, double want, double tol) {
  if (std::isnan(want)) return std::isnan(got);
  if (got == want) return true;  // infinities included
  return std::fabs(got - want) <= tol * std::max(1.0, std::fabs(want));
}

void ExpectNear(const std::vector<double>& got, const std::vector<double>& want, double tol,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (size_t j = 0; j < got.size() && reported < 5; ++j) {
    if (!Near(got[j], want[j], tol)) {
      ADD_FAILURE() << what << " element " << j << ": got " << got[j] << ", want " << want[j];
      ++reported;
    }
  }
}

class Runner {
 public:
  Runner(const ParsedOp& op, const OpCase& c, std::vector<Shape> in_shapes,
         std::vector<Shape> out_shapes)
      : op_(op), c_(c), in_shapes_(std::move(in_shapes)), out_shapes_(std::move(out_shapes)) {}

  // All outputs (hidden included) of Forward on `inputs` in `dtype`.
  Values Forward(const Values& inputs, DType dtype) {
    Buffers in(inputs, in_shapes_, dtype);
    Buffers out({}, out_shapes_, dtype);
    std::vector<OpReq> reqs(out_shapes_.size(), OpReq::kWriteTo);
    std::mt19937_64 rng(1234);  // the same random draws on every call (Dropout masks)
    OpContext ctx{c_.is_train, Context::Cpu(), &rng};
    absl::Status s = op_.Forward(ctx, in.views, reqs, out.views);
    EXPECT_TRUE(s.ok()) << "Forward (" << DTypeName(dtype) << "): " << s;
    return out.ToValues();
  }

  // sum over visible outputs of out * head.
  double Loss(const Values& inputs, const Values& heads) {
    Values outs = Forward(inputs, DType::kFloat64);
    double loss = 0;
    for (size_t k = 0; k < heads.size(); ++k) {
      for (size_t j = 0; j < heads[k].size(); ++j) loss += outs[k][j] * heads[k][j];
    }
    return loss;
  }

  // Input gradients from Backward; `base` pre-fills the gradient buffers (for kAddTo).
  // Gradients with request kNull get the view BackwardArgs' contract describes: the input's
  // shape and dtype with null data (their entry in the result is empty); or, with
  // `sentinel_for_null`, a buffer of kSentinel that must come back untouched.
  Values Backward(const Values& inputs, const Values& outputs, const Values& heads,
                  const std::vector<OpReq>& reqs, const Values& base,
                  bool sentinel_for_null = false) {
    Buffers in(inputs, in_shapes_, DType::kFloat64);
    Buffers out(outputs, out_shapes_, DType::kFloat64);
    std::vector<Shape> head_shapes(out_shapes_.begin(), out_shapes_.begin() + heads.size());
    Buffers head(heads, head_shapes, DType::kFloat64);
    Values filled = base;
    filled.resize(in_shapes_.size());
    for (size_t i = 0; i < reqs.size(); ++i) {
      if (reqs[i] == OpReq::kNull && sentinel_for_null) {
        filled[i].assign(static_cast<size_t>(in_shapes_[i].Size()), kSentinel);
      }
    }
    Buffers grads(filled, in_shapes_, DType::kFloat64);
    for (size_t i = 0; i < reqs.size(); ++i) {
      if (reqs[i] == OpReq::kNull && !sentinel_for_null) grads.views[i].data = nullptr;
    }
    std::mt19937_64 rng(1234);
    OpContext ctx{c_.is_train, Context::Cpu(), &rng};
    BackwardArgs args{head.views, in.views, out.views, grads.views, reqs};
    absl::Status s = op_.Backward(ctx, args);
    EXPECT_TRUE(s.ok()) << "Backward: " << s;
    Values result = grads.ToValues();
    for (size_t i = 0; i < reqs.size(); ++i) {
      if (reqs[i] != OpReq::kNull || !sentinel_for_null) continue;
      const auto untouched = [](double v) { return v == kSentinel; };
      EXPECT_TRUE(std::all_of(result[i].begin(), result[i].end(), untouched))
          << "Backward wrote into the gradient of input " << i << ", whose request is null";
      result[i].clear();
    }
    return result;
  }

 private:
  const ParsedOp& op_;
  const OpCase& c_;
  std::vector<Shape> in_shapes_, out_shapes_;
};

// Step 7: Backward with the gradients of `dropped` (inputs with a wanted gradient in
// `full_reqs`) not wanted must succeed, leave them alone and give every other wanted
// gradient exactly as `full` (the gradients under `full_reqs`) has it. Once with null data
// for the dropped gradients (a kernel touching them crashes), once with sentinel buffers.
void CheckDropped(Runner& runner, const std::set<int>& dropped,
                  const std::vector<OpReq>& full_reqs, const Values& inputs,
                  const Values& outputs, const Values& heads, const Values& full) {
  std::string names;
  for (int i : dropped) names += absl::StrCat(names.empty() ? "" : ", ", i);
  SCOPED_TRACE("null gradient request for input(s) " + names);
  std::vector<OpReq> reqs = full_reqs;
  for (int i : dropped) reqs[i] = OpReq::kNull;
  for (bool sentinel : {false, true}) {
    const Values got = runner.Backward(inputs, outputs, heads, reqs, {}, sentinel);
    for (size_t i = 0; i < reqs.size(); ++i) {
      if (reqs[i] == OpReq::kNull) continue;
      ExpectNear(got[i], full[i], 1e-12,
                 absl::StrCat("gradient of input ", i, " (", sentinel ? "sentinel" : "null data",
                              " run) against the full backward"));
    }
  }
}

}  // namespace

void CheckCase(const Registry& registry, const OpCase& c) {
  SCOPED_TRACE("case " + c.name + " (" + c.op + ")");
  absl::StatusOr<ParsedOp> op = registry.Parse(c.op, c.attrs);
  ASSERT_TRUE(op.ok()) << op.status();
  const int n_in = op->num_inputs();
  ASSERT_EQ(static_cast<int>(c.input_shapes.size()), n_in) << "input shapes for the case";

  // 1. Full shape inference from the input shapes.
  std::vector<InferShape> in_infer(c.input_shapes.begin(), c.input_shapes.end());
  std::vector<InferShape> out_infer(op->num_outputs());
  absl::Status inferred = op->InferShapes(&in_infer, &out_infer);
  ASSERT_TRUE(inferred.ok()) << inferred;
  std::vector<Shape> out_shapes;
  for (const InferShape& s : out_infer) {
    ASSERT_TRUE(IsKnown(s)) << "output shape not inferred";
    out_shapes.push_back(*s);
  }
  for (int i = 0; i < n_in; ++i) ASSERT_EQ(*in_infer[i], c.input_shapes[i]) << "input " << i;

  // 2. Inputs.
  std::mt19937_64 rng(std::hash<std::string>()(c.name));
  std::uniform_real_distribution<double> uniform(c.low, c.high);
  Values inputs(n_in);
  for (int i = 0; i < n_in; ++i) {
    if (i < static_cast<int>(c.input_values.size()) && !c.input_values[i].empty()) {
      inputs[i] = c.input_values[i];
      ASSERT_EQ(static_cast<int64_t>(inputs[i].size()), c.input_shapes[i].Size());
    } else {
      inputs[i].resize(static_cast<size_t>(c.input_shapes[i].Size()));
      for (double& v : inputs[i]) v = uniform(rng);
    }
  }
  Runner runner(*op, c, c.input_shapes, out_shapes);
  const Values outputs = runner.Forward(inputs, DType::kFloat64);
  const int n_vis = op->num_visible_outputs();

  // 3. Reference.
  if (c.reference) {
    Values want = c.reference(inputs, c.input_shapes);
    ASSERT_EQ(static_cast<int>(want.size()), n_vis) << "reference output count";
    for (int k = 0; k < n_vis; ++k) {
      ExpectNear(outputs[k], want[k], c.tolerance, absl::StrCat("output ", k));
    }
  }

  // 4-5. Gradients.
  std::set<int> checked;
  if (c.grad_inputs) {
    checked = *c.grad_inputs;
  } else {
    const std::vector<int> aux = op->aux_indices();
    for (int i = 0; i < n_in; ++i) {
      if (std::find(aux.begin(), aux.end(), i) == aux.end()) checked.insert(i);
    }
  }
  Values heads(n_vis);
  for (int k = 0; k < n_vis; ++k) {
    heads[k].resize(outputs[k].size());
    for (double& v : heads[k]) v = uniform(rng);
  }
  std::vector<OpReq> reqs(n_in, OpReq::kNull);
  for (int i : checked) reqs[i] = OpReq::kWriteTo;
  const Values grads = runner.Backward(inputs, outputs, heads, reqs, {});
  if (c.check_grad) {
    if (c.expected_grads) {
      const Values want = c.expected_grads(inputs, c.input_shapes);
      for (int i : checked) {
        if (i < static_cast<int>(want.size()) && !want[i].empty()) {
          ExpectNear(grads[i], want[i], c.tolerance, absl::StrCat("gradient of input ", i));
        }
      }
    } else {
      for (int i : checked) {
        std::vector<size_t> elements(inputs[i].size());
        for (size_t j = 0; j < elements.size(); ++j) elements[j] = j;
        std::shuffle(elements.begin(), elements.end(), rng);
        if (elements.size() > kMaxCheckedElements) elements.resize(kMaxCheckedElements);
        for (size_t j : elements) {
          Values plus = inputs, minus = inputs;
          plus[i][j] += c.fd_step;
          minus[i][j] -= c.fd_step;
          const double fd =
              (runner.Loss(plus, heads) - runner.Loss(minus, heads)) / (2 * c.fd_step);
          EXPECT_TRUE(Near(grads[i][j], fd, 1e-4))
              << "gradient of input " << i << " element " << j << ": backward " << grads[i][j]
              << ", finite difference " << fd;
        }
      }
    }
    std::vector<OpReq> add_reqs(n_in, OpReq::kNull);
    for (int i : checked) add_reqs[i] = OpReq::kAddTo;
    const Values doubled = runner.Backward(inputs, outputs, heads, add_reqs, grads);
    for (int i : checked) {
      std::vector<double> want = grads[i];
      for (double& v : want) v *= 2;
      ExpectNear(doubled[i], want, 1e-9, absl::StrCat("kAddTo gradient of input ", i));
    }
  }

  // 6. float32 against float64.
  const Values single = runner.Forward(inputs, DType::kFloat32);
  for (int k = 0; k < n_vis; ++k) {
    ExpectNear(single[k], outputs[k], 1e-4, absl::StrCat("float32 output ", k));
  }

  // 7. Each differentiable input's gradient dropped in turn, then all of them.
  for (int i : checked) CheckDropped(runner, {i}, reqs, inputs, outputs, heads, grads);
  std::set<int> all;
  for (int i = 0; i < n_in; ++i) all.insert(i);
  CheckDropped(runner, all, reqs, inputs, outputs, heads, grads);
}

std::set<std::string> CoveredOps(const Registry& registry, const std::vector<OpCase>& cases) {
  std::set<std::string> names;
  for (const OpCase& c : cases) {
    absl::StatusOr<const OpDef*> def = registry.Find(c.op);
    if (def.ok()) names.insert((*def)->name);
  }
  return names;
}

}  // namespace mxgrid::ops::testing

// The linalg family: every operator through the consistency harness (linalg_cases.cc),
// gelqf and potrf's gradient against values MXNet 1.9.1 printed from the venv, and the
// errors for inputs the kernels cannot take.
#include "libs/ops/linalg/linalg_ops.h"

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/ops/linalg/linalg_cases.h"
#include "libs/ops/registry.h"
#include "libs/ops/testing/op_checker.h"

namespace mxgrid::ops {
namespace {

const Registry& LinalgRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry();
    absl::Status s = RegisterLinalgOps(r);
    EXPECT_TRUE(s.ok()) << s;
    return r;
  }();
  return *registry;
}

TensorView View(std::vector<double>* v, Shape s) {
  return {v->data(), std::move(s), DType::kFloat64, Context::Cpu()};
}

// Forward of `op` on float64 inputs; outputs sized by shape inference.
absl::Status RunOp(const std::string& op, const AttrMap& attrs,
                 std::vector<std::vector<double>> in, const std::vector<Shape>& shapes,
                 std::vector<std::vector<double>>* out, std::vector<Shape>* out_shapes) {
  absl::StatusOr<ParsedOp> p = LinalgRegistry().Parse(op, attrs);
  if (!p.ok()) return p.status();
  std::vector<InferShape> is(shapes.begin(), shapes.end()), os(p->num_outputs());
  absl::Status s = p->InferShapes(&is, &os);
  if (!s.ok()) return s;
  std::vector<TensorView> iv, ov;
  for (size_t i = 0; i < in.size(); ++i) iv.push_back(View(&in[i], shapes[i]));
  out->clear();
  out_shapes->clear();
  for (const auto& o : os) {
    out->emplace_back(o->Size(), 0.0);
    out_shapes->push_back(*o);
  }
  for (size_t i = 0; i < os.size(); ++i) ov.push_back(View(&(*out)[i], (*out_shapes)[i]));
  std::vector<OpReq> reqs(os.size(), OpReq::kWriteTo);
  return p->Forward(OpContext{}, iv, reqs, ov);
}

void ExpectNear(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

TEST(LinalgOpsTest, ConsistencyCasesCoverEveryLinalgOp) {
  const std::vector<testing::OpCase> cases = LinalgCases();
  const std::set<std::string> covered = testing::CoveredOps(LinalgRegistry(), cases);
  for (const OpDef* def : LinalgRegistry().List()) {
    EXPECT_EQ(covered.count(def->name), 1u) << def->name << " has no consistency case";
  }
  for (const testing::OpCase& c : cases) testing::CheckCase(LinalgRegistry(), c);
}

TEST(LinalgOpsTest, RegistersMXNetNamesAndAliases) {
  for (const char* name : {"gemm", "gemm2", "syrk", "trmm", "trsm", "potrf", "potri", "gelqf",
                           "inverse", "det", "slogdet", "sumlogdiag", "extractdiag",
                           "makediag"}) {
    absl::StatusOr<const OpDef*> a = LinalgRegistry().Find(std::string("_linalg_") + name);
    absl::StatusOr<const OpDef*> b = LinalgRegistry().Find(std::string("linalg_") + name);
    ASSERT_TRUE(a.ok() && b.ok()) << name;
    EXPECT_EQ(*a, *b);
  }
}

TEST(LinalgOpsTest, GelqfMatchesMXNet) {
  std::vector<std::vector<double>> out;
  std::vector<Shape> shapes;
  ASSERT_TRUE(RunOp("_linalg_gelqf", {}, {{1, 2, 3, 4, 5, 6}}, {{2, 3}}, &out, &shapes).ok());
  EXPECT_EQ(shapes[0], (Shape{2, 3}));
  EXPECT_EQ(shapes[1], (Shape{2, 2}));
  ExpectNear(out[0], {-0.2672612419124243, -0.5345224838248488, -0.8017837257372732,
                      0.8728715609439696, 0.21821789023599236, -0.4364357804719846}, 1e-12);
  ExpectNear(out[1], {-3.7416573867739413, 0.0, -8.55235974119758, 1.963961012123933}, 1e-12);
}

// potrf reads one triangle, so plain finite differences cannot see MXNet's symmetric
// gradient: compare with MXNet's printed values, and with differences along symmetric
// perturbations (E_ij + E_ji), which both agree with.
TEST(LinalgOpsTest, PotrfGradientIsMXNetsSymmetricOne) {
  const std::vector<double> a = {4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 2};
  std::vector<double> w = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  absl::StatusOr<ParsedOp> p = LinalgRegistry().Parse("linalg_potrf", {});
  ASSERT_TRUE(p.ok());
  std::vector<double> x = a, l(9), dx(9);
  std::vector<TensorView> in = {View(&x, {3, 3})}, out = {View(&l, {3, 3})};
  std::vector<OpReq> write = {OpReq::kWriteTo};
  ASSERT_TRUE(p->Forward(OpContext{}, in, write, out).ok());
  std::vector<TensorView> dy = {View(&w, {3, 3})}, dxv = {View(&dx, {3, 3})};
  ASSERT_TRUE(p->Backward(OpContext{}, BackwardArgs{dy, in, out, dxv, write}).ok());
  ExpectNear(dx, {0.06729396633575183, 0.34847112893328414, 0.7647060114474172,
                  0.34847112893328414, 1.4441783328093152, 2.3238743029150966,
                  0.7647060114474175, 2.323874302915096, 3.2346033025904686}, 1e-10);
  auto loss = [&](const std::vector<double>& m) {
    std::vector<std::vector<double>> o;
    std::vector<Shape> s;
    EXPECT_TRUE(RunOp("_linalg_potrf", {}, {m}, {{3, 3}}, &o, &s).ok());
    double sum = 0;
    for (int i = 0; i < 9; ++i) sum += o[0][i] * w[i];
    return sum;
  };
  const double h = 1e-6;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j <= i; ++j) {
      std::vector<double> up = a, down = a;
      for (auto* m : {&up, &down}) {
        const double d = m == &up ? h : -h;
        (*m)[i * 3 + j] += d;
        if (i != j) (*m)[j * 3 + i] += d;
      }
      const double fd = (loss(up) - loss(down)) / (2 * h);
      const double analytic = i == j ? dx[i * 3 + i] : dx[i * 3 + j] + dx[j * 3 + i];
      EXPECT_NEAR(fd, analytic, 1e-6) << i << "," << j;
    }
  }
}

TEST(LinalgOpsTest, BadInputsAreInvalidArgument) {
  std::vector<std::vector<double>> out;
  std::vector<Shape> shapes;
  auto code = [&](const std::string& op, const AttrMap& attrs,
                  std::vector<std::vector<double>> in, const std::vector<Shape>& s) {
    return RunOp(op, attrs, std::move(in), s, &out, &shapes).code();
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  // Not positive definite (MXNet: "potrf failed in lapack").
  EXPECT_EQ(code("_linalg_potrf", {}, {{1, 2, 2, 1}}, {{2, 2}}), kInvalid);
  EXPECT_EQ(code("_linalg_inverse", {}, {{1, 2, 2, 4}}, {{2, 2}}), kInvalid);
  EXPECT_EQ(code("_linalg_potrf", {}, {std::vector<double>(6)}, {{2, 3}}), kInvalid);
  EXPECT_EQ(code("_linalg_gemm2", {}, {std::vector<double>(6), std::vector<double>(6)},
                 {{2, 3}, {2, 3}}),
            kInvalid);
  EXPECT_EQ(code("_linalg_gemm2", {{"axis", "1"}},
                 {std::vector<double>(6), std::vector<double>(6)}, {{2, 3}, {3, 2}}),
            kInvalid);
  EXPECT_EQ(code("_linalg_gelqf", {}, {std::vector<double>(6)}, {{3, 2}}), kInvalid);
  EXPECT_EQ(code("_linalg_extractdiag", {{"offset", "3"}}, {std::vector<double>(9)}, {{3, 3}}),
            kInvalid);
  EXPECT_EQ(code("_linalg_trsm", {}, {std::vector<double>(4), std::vector<double>(6)},
                 {{2, 2}, {3, 2}}),
            kInvalid);
  // A singular matrix's determinant is 0 (MXNet prints -0.), not an error.
  ASSERT_TRUE(RunOp("_linalg_det", {}, {{1, 2, 2, 4}}, {{2, 2}}, &out, &shapes).ok());
  EXPECT_EQ(out[0][0], 0.0);
  EXPECT_EQ(shapes[0], (Shape{1}));
}

}  // namespace
}  // namespace mxgrid::ops

// Optimizer::UpdateRows and UpdatePieces: row_sparse gradients (MXNet 1.9.1's lazy updates
// checked against formulas written out here; the standard updates against Update with the
// densified gradient), and every refusal.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/kvstore/testing/optimizer_testing.h"
#include "libs/kvstore/optimizer.h"

namespace mxgrid::kvstore {
namespace {

using tensor::NDArray;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Params;

using testing::Apply;
using testing::F32;
using testing::Make;

// ---- UpdateRows: row_sparse gradients ----

// An array of `shape` and `dtype` (float32 or float64) holding `v` in row-major order.
NDArray Arr(DType dtype, const Shape& shape, const std::vector<double>& v) {
  if (dtype == DType::kFloat64) return *NDArray::FromVector<double>(shape, v);
  std::vector<float> f(v.begin(), v.end());
  return *NDArray::FromVector<float>(shape, f);
}

NDArray Ids(const std::vector<int64_t>& ids) {
  return *NDArray::FromVector<int64_t>({static_cast<int64_t>(ids.size())}, ids);
}

Shape WithRows(Shape shape, int64_t rows) {
  shape[0] = rows;
  return shape;
}

// `shape`'s dense gradient: `g` (k rows) in rows `rows`, zeros elsewhere.
std::vector<double> Densify(const Shape& shape, const std::vector<int64_t>& rows,
                            const std::vector<double>& g) {
  const int64_t cols = shape.Size() / shape[0];
  std::vector<double> dense(shape.Size(), 0.0);
  for (size_t i = 0; i < rows.size(); ++i) {
    for (int64_t j = 0; j < cols; ++j) dense[rows[i] * cols + j] = g[i * cols + j];
  }
  return dense;
}

// Gradient rows of call `call`: magnitudes 0.5 to 3.5, alternating signs (some clipped).
std::vector<double> GradRows(size_t values, int call) {
  std::vector<double> g(values);
  for (size_t e = 0; e < values; ++e) {
    g[e] = (e % 2 ? -1.0 : 1.0) * (0.5 + 0.75 * static_cast<double>(e % 5)) + 0.25 * call;
  }
  return g;
}

std::vector<double> InitialWeight(const Shape& shape) {
  std::vector<double> w(shape.Size());
  for (size_t e = 0; e < w.size(); ++e) w[e] = 0.25 * static_cast<double>(e % 7) - 0.625;
  return w;
}

void ExpectNear(const std::vector<double>& got, const std::vector<double>& want, double rel,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], rel * std::max(1.0, std::abs(want[i])))
        << what << " element " << i;
  }
}

// Hyperparameters of the reference below; the defaults are exact in float (MXNet's operator
// parameters are float), so float64 results agree with it to rounding.
struct Hyper {
  double lr = 0.125, wd = 0.0625, rescale = 0.5;
  double clip = 0.75;  // <= 0: no clipping
  double momentum = 0, beta1 = 0.875, beta2 = 0.984375, epsilon = 1e-8, eps = 1e-7;
  double lr_mult = 2, wd_mult = 0.5;  // of the index the checks update
};

// MXNet's lazy row_sparse updates, written out in double from optimizer.py's formulas and
// the row_sparse kernels (sgd_update, sgd_mom_update, adam_update, _sparse_adagrad_update):
// only the listed rows of the weight and of the states move; t counts every call.
class LazyReference {
 public:
  LazyReference(std::string kind, const Hyper& h, std::vector<double> w, int64_t cols)
      : kind_(std::move(kind)), h_(h), cols_(cols), w_(std::move(w)) {
    const size_t states = kind_ == "adam" ? 2 : (kind_ == "sgd" && h.momentum == 0) ? 0 : 1;
    states_.assign(states, std::vector<double>(w_.size(), 0.0));
  }

  void Step(const std::vector<int64_t>& rows, const std::vector<double>& g) {
    ++t_;
    const double lr = h_.lr * h_.lr_mult, wd = h_.wd * h_.wd_mult;
    // Adam's bias-corrected rate, passed to the operator as a float.
    const double lr_t = static_cast<float>(lr * std::sqrt(1 - std::pow(h_.beta2, t_)) /
                                           (1 - std::pow(h_.beta1, t_)));
    for (size_t i = 0; i < rows.size(); ++i) {
      for (int64_t j = 0; j < cols_; ++j) {
        const size_t e = rows[i] * cols_ + j;
        const double gi = g[i * cols_ + j];
        double& w = w_[e];
        if (kind_ == "sgd") {
          const double gr = Clip(h_.rescale * gi);
          if (h_.momentum > 0) {
            double& mom = states_[0][e];
            mom = h_.momentum * mom - lr * wd * w - lr * gr;
            w += mom;
          } else {
            w -= lr * (gr + wd * w);
          }
        } else if (kind_ == "adam") {
          const double gr = Clip(h_.rescale * gi + wd * w);
          double& mean = states_[0][e];
          double& var = states_[1][e];
          mean = h_.beta1 * mean + (1 - h_.beta1) * gr;
          var = h_.beta2 * var + (1 - h_.beta2) * gr * gr;
          w -= lr_t * mean / (std::sqrt(var) + h_.epsilon);
        } else {  // adagrad: no weight decay
          const double gr = Clip(h_.rescale * gi);
          double& history = states_[0][e];
          history += gr * gr;
          w -= lr * gr / std::sqrt(history + h_.eps);
        }
      }
    }
  }

  const std::vector<double>& weight() const { return w_; }
  const std::vector<std::vector<double>>& states() const { return states_; }

 private:
  double Clip(double x) const { return h_.clip > 0 ? std::max(-h_.clip, std::min(h_.clip, x)) : x; }

  std::string kind_;
  Hyper h_;
  int64_t cols_;
  int64_t t_ = 0;
  std::vector<double> w_;
  std::vector<std::vector<double>> states_;
};

// UpdateRows calls on index 5 of a weight of `shape` — rows {0, 2}, none, {1, 2} — checked
// against LazyReference; row 3, never listed, keeps its weight and zero state exactly.
void CheckLazyRows(const std::string& name, const Params& params, const Hyper& h,
                   const Shape& shape, DType dtype) {
  SCOPED_TRACE(absl::StrCat(name, " ", DTypeName(dtype), " ", shape.ToString()));
  auto opt = Make(name, params);
  ASSERT_NE(opt, nullptr);
  opt->SetLrMult(5, h.lr_mult);
  opt->SetWdMult(5, h.wd_mult);
  const int64_t cols = shape.Size() / shape[0];
  const std::vector<double> w0 = InitialWeight(shape);
  LazyReference ref(name, h, w0, cols);
  NDArray w = Arr(dtype, shape, w0);
  const std::vector<std::vector<int64_t>> calls = {{0, 2}, {}, {1, 2}};
  for (size_t c = 0; c < calls.size(); ++c) {
    const std::vector<int64_t>& rows = calls[c];
    const std::vector<double> g = GradRows(rows.size() * cols, static_cast<int>(c));
    const absl::Status s =
        opt->UpdateRows(5, w, Ids(rows), Arr(dtype, WithRows(shape, rows.size()), g));
    ASSERT_TRUE(s.ok()) << s;
    ref.Step(rows, g);
  }
  EXPECT_EQ(opt->UpdateCount(5), 3);
  const double tol = dtype == DType::kFloat32 ? 1e-5 : 1e-12;
  const std::vector<double> got = *w.ToVector<double>();
  ExpectNear(got, ref.weight(), tol, "weight");
  absl::StatusOr<std::vector<OptimizerIndexState>> states = opt->ExportStates();
  ASSERT_TRUE(states.ok()) << states.status();
  ASSERT_EQ(states->size(), 1u);
  ASSERT_EQ((*states)[0].arrays.size(), ref.states().size());
  for (size_t i = 0; i < ref.states().size(); ++i) {
    const std::vector<double> state = *(*states)[0].arrays[i].ToVector<double>();
    ExpectNear(state, ref.states()[i], tol, absl::StrCat("state ", i));
    for (int64_t j = 0; j < cols; ++j) EXPECT_EQ(state[3 * cols + j], 0.0) << "state " << i;
  }
  const std::vector<double> start = *Arr(dtype, shape, w0).ToVector<double>();
  for (int64_t j = 0; j < cols; ++j) EXPECT_EQ(got[3 * cols + j], start[3 * cols + j]);
}

const Params kSgdRowParams = {{"learning_rate", "0.125"}, {"wd", "0.0625"},
                              {"rescale_grad", "0.5"}, {"clip_gradient", "0.75"}};

TEST(OptimizerRowsTest, SgdLazyRowsMatchFormula) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    CheckLazyRows("sgd", kSgdRowParams, Hyper{}, Shape{4, 3}, dtype);
    Params momentum = kSgdRowParams;
    momentum["momentum"] = "0.875";
    Hyper h;
    h.momentum = 0.875;
    CheckLazyRows("sgd", momentum, h, Shape{4, 3}, dtype);
    CheckLazyRows("sgd", momentum, h, Shape{4, 3, 2}, dtype);  // a row of 6 values
    Params unclipped = momentum;
    unclipped.erase("clip_gradient");
    h.clip = 0;
    CheckLazyRows("sgd", unclipped, h, Shape{4, 3}, dtype);
  }
}

TEST(OptimizerRowsTest, AdamLazyRowsMatchFormula) {
  Params params = kSgdRowParams;
  params["beta1"] = "0.875";
  params["beta2"] = "0.984375";
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    CheckLazyRows("adam", params, Hyper{}, Shape{4, 3}, dtype);
    Params unclipped = params;
    unclipped["lazy_update"] = "True";
    unclipped["clip_gradient"] = "None";
    Hyper h;
    h.clip = 0;
    CheckLazyRows("adam", unclipped, h, Shape{4, 2, 2}, dtype);
  }
}

TEST(OptimizerRowsTest, AdaGradRowsMatchSparseAdaGradFormula) {
  const Params params = {{"learning_rate", "0.125"}, {"rescale_grad", "0.5"},
                         {"clip_gradient", "0.75"}};
  Hyper h;
  h.wd = 0;
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    CheckLazyRows("adagrad", params, h, Shape{4, 3}, dtype);
    // clip_gradient=0 is falsy in MXNet's Python: the sparse operator does not clip (the
    // dense AdaGrad update would clip to [0, 0]).
    Params zero = params;
    zero["clip_gradient"] = "0";
    Hyper unclipped = h;
    unclipped.clip = 0;
    CheckLazyRows("adagrad", zero, unclipped, Shape{4, 3}, dtype);
  }
}

// nag, rmsprop, and sgd / adam with lazy_update=False: exactly Update with the densified
// gradient on a twin optimizer and weight (including the call with no rows).
TEST(OptimizerRowsTest, StandardUpdateEqualsUpdateWithDensifiedGradient) {
  const std::vector<std::pair<std::string, Params>> cases = {
      {"sgd", {{"learning_rate", "0.125"}, {"momentum", "0.875"}, {"wd", "0.0625"},
               {"clip_gradient", "0.75"}, {"lazy_update", "False"}}},
      {"sgd", {{"learning_rate", "0.125"}, {"wd", "0.0625"}, {"lazy_update", "False"}}},
      {"adam", {{"learning_rate", "0.125"}, {"wd", "0.0625"}, {"clip_gradient", "0.75"},
                {"lazy_update", "False"}}},
      {"nag", {{"learning_rate", "0.125"}, {"momentum", "0.875"}, {"wd", "0.0625"}}},
      {"rmsprop", {{"learning_rate", "0.125"}, {"wd", "0.0625"}}},
      {"rmsprop", {{"learning_rate", "0.125"}, {"wd", "0.0625"}, {"centered", "True"},
                   {"clip_weights", "0.5"}}},
  };
  const Shape shape{4, 3};
  const std::vector<double> w0 = InitialWeight(shape);
  for (const auto& [name, params] : cases) {
    SCOPED_TRACE(name + " " + absl::StrJoin(params, ",", absl::PairFormatter("=")));
    auto rows_opt = Make(name, params);
    auto dense_opt = Make(name, params);
    ASSERT_NE(rows_opt, nullptr);
    ASSERT_NE(dense_opt, nullptr);
    rows_opt->SetLrMult(2, 2.0);
    dense_opt->SetLrMult(2, 2.0);
    NDArray rows_w = Arr(DType::kFloat32, shape, w0);
    NDArray dense_w = Arr(DType::kFloat32, shape, w0);
    const std::vector<std::vector<int64_t>> calls = {{0, 2}, {}, {1, 2}};
    for (size_t c = 0; c < calls.size(); ++c) {
      const std::vector<int64_t>& rows = calls[c];
      const std::vector<double> g = GradRows(rows.size() * 3, static_cast<int>(c));
      ASSERT_TRUE(rows_opt
                      ->UpdateRows(2, rows_w, Ids(rows),
                                   Arr(DType::kFloat32, WithRows(shape, rows.size()), g))
                      .ok());
      ASSERT_TRUE(
          dense_opt->Update(2, dense_w, Arr(DType::kFloat32, shape, Densify(shape, rows, g)))
              .ok());
    }
    const std::vector<float> got = *rows_w.ToVector<float>();
    EXPECT_EQ(got, *dense_w.ToVector<float>());
    EXPECT_EQ(rows_opt->UpdateCount(2), 3);
    // A dense update: row 3, never in the gradient, moved too (weight decay).
    EXPECT_NE(got[9], static_cast<float>(w0[9]));
    absl::StatusOr<std::vector<OptimizerIndexState>> a = rows_opt->ExportStates();
    absl::StatusOr<std::vector<OptimizerIndexState>> b = dense_opt->ExportStates();
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), 1u);
    ASSERT_EQ(b->size(), 1u);
    ASSERT_EQ((*a)[0].arrays.size(), (*b)[0].arrays.size());
    for (size_t i = 0; i < (*a)[0].arrays.size(); ++i) {
      EXPECT_EQ(*(*a)[0].arrays[i].ToVector<float>(), *(*b)[0].arrays[i].ToVector<float>());
    }
  }
}

TEST(OptimizerRowsTest, UpdateCountCountsEveryCallIncludingEmptyOnes) {
  for (const std::string name : {"sgd", "adam", "adagrad", "nag"}) {
    SCOPED_TRACE(name);
    auto opt = Make(name, {{"begin_num_update", "10"}});
    ASSERT_NE(opt, nullptr);
    NDArray w = F32({1, 2, 3, 4});
    NDArray none = *NDArray::Empty({0}, Context::Cpu(), DType::kFloat32);
    ASSERT_TRUE(opt->UpdateRows(0, w, Ids({}), none).ok());
    EXPECT_EQ(opt->UpdateCount(0), 11);
    ASSERT_TRUE(opt->UpdateRows(0, w, Ids({}), none).ok());
    EXPECT_EQ(opt->UpdateCount(0), 12);
    ASSERT_TRUE(opt->UpdateRows(0, w, Ids({1}), F32({0.5})).ok());
    EXPECT_EQ(opt->UpdateCount(0), 13);
    // Only row 1 had a gradient; with wd 0 every other weight stays.
    const std::vector<float> got = *w.ToVector<float>();
    EXPECT_EQ(got[0], 1);
    EXPECT_NE(got[1], 2);
    EXPECT_EQ(got[2], 3);
    EXPECT_EQ(got[3], 4);
  }
}

TEST(OptimizerRowsTest, LazyUpdateIsAnOption) {
  EXPECT_TRUE(ParseOptimizerOptions("sgd", {})->lazy_update);
  EXPECT_TRUE(ParseOptimizerOptions("adam", {{"lazy_update", "True"}})->lazy_update);
  EXPECT_FALSE(ParseOptimizerOptions("SGD", {{"lazy_update", "False"}})->lazy_update);
  EXPECT_FALSE(ParseOptimizerOptions("adam", {{"lazy_update", "0"}})->lazy_update);
  EXPECT_EQ(ParseOptimizerOptions("sgd", {{"lazy_update", "maybe"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseOptimizerOptions("nag", {{"lazy_update", "False"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Dense updates ignore it.
  auto lazy = Make("sgd", {{"momentum", "0.5"}, {"wd", "0.25"}});
  auto eager = Make("sgd", {{"momentum", "0.5"}, {"wd", "0.25"}, {"lazy_update", "False"}});
  EXPECT_EQ(Apply(lazy.get(), {1, -2}, {{0.5, 1}, {1, 0}}),
            Apply(eager.get(), {1, -2}, {{0.5, 1}, {1, 0}}));
}

TEST(OptimizerRowsTest, BadRowArgumentsFailAndChangeNothing) {
  const absl::StatusCode invalid = absl::StatusCode::kInvalidArgument;
  const absl::StatusCode none = absl::StatusCode::kFailedPrecondition;
  std::vector<int32_t> int32_ids = {0};
  std::vector<int64_t> two_d_ids = {0};
  std::vector<int32_t> int32_values(12, 1);
  const NDArray g1 = Arr(DType::kFloat32, {1, 3}, {1, 2, 3});
  struct Bad {
    std::string what;
    NDArray weight;  // none: the (4, 3) float32 weight of the test
    NDArray rows;
    NDArray grad_rows;
    absl::StatusCode code;
    std::string mentions;
  };
  const std::vector<Bad> cases = {
      {"int32 rows", {}, *NDArray::FromVector<int32_t>({1}, int32_ids), g1, invalid, "int64"},
      {"2-d rows", {}, *NDArray::FromVector<int64_t>({1, 1}, two_d_ids), g1, invalid, "1-D"},
      {"short rows", {}, Ids({0}), Arr(DType::kFloat32, {1, 2}, {1, 2}), invalid, "(1, 3)"},
      {"k mismatch", {}, Ids({0, 1}), g1, invalid, "(2, 3)"},
      {"flat grad", {}, Ids({0}), F32({1, 2, 3}), invalid, "(1, 3)"},
      {"float64 grad", {}, Ids({0}), Arr(DType::kFloat64, {1, 3}, {1, 2, 3}), invalid,
       "float64"},
      {"grad on cpu(1)", {}, Ids({0}),
       *NDArray::FromVector<float>({1, 3}, std::vector<float>{1, 2, 3}, Context::Cpu(1)),
       invalid, "cpu(1)"},
      {"int32 weight", *NDArray::FromVector<int32_t>({4, 3}, int32_values), Ids({0}),
       *NDArray::FromVector<int32_t>({1, 3}, std::vector<int32_t>{1, 2, 3}), invalid, "int32"},
      {"0-d weight", *NDArray::FromVector<float>(Shape{}, std::vector<float>{1}), Ids({}),
       F32({}), invalid, "0-d"},
      {"none rows", {}, NDArray(), g1, none, "row ids"},
      {"none grad", {}, Ids({0}), NDArray(), none, "gradient rows"},
      {"id out of range", {}, Ids({1, 4}), Arr(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6}),
       invalid, "row id 4 (position 1) is out of range [0, 4)"},
      {"negative id", {}, Ids({-1}), g1, invalid, "row id -1"},
      {"decreasing ids", {}, Ids({2, 1}), Arr(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6}),
       invalid, "id 1 (position 1) follows 2"},
      {"repeated id", {}, Ids({1, 1}), Arr(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6}),
       invalid, "strictly increasing"},
      {"weight unlike the state", Arr(DType::kFloat32, {5, 3}, std::vector<double>(15, 1)),
       Ids({0}), g1, invalid, "(4, 3)"},
  };
  // adam: the lazy path; nag: the densified one.
  for (const std::string name : {"adam", "nag"}) {
    SCOPED_TRACE(name);
    auto opt = name == "nag" ? Make(name, {{"momentum", "0.5"}}) : Make(name, {});
    ASSERT_NE(opt, nullptr);
    NDArray w = Arr(DType::kFloat32, {4, 3}, InitialWeight(Shape{4, 3}));
    ASSERT_TRUE(opt->UpdateRows(0, w, Ids({1}), g1).ok());
    const std::vector<float> w_before = *w.ToVector<float>();
    absl::StatusOr<std::vector<OptimizerIndexState>> before = opt->ExportStates();
    ASSERT_TRUE(before.ok());
    for (const Bad& bad : cases) {
      const NDArray& weight = bad.weight.is_none() ? w : bad.weight;
      for (int index : {0, 9}) {  // an index with state and one without
        if (bad.what == "weight unlike the state" && index == 9) continue;
        absl::Status s = opt->UpdateRows(index, weight, bad.rows, bad.grad_rows);
        EXPECT_EQ(s.code(), bad.code) << bad.what << ": " << s;
        EXPECT_THAT(s.message(), HasSubstr(bad.mentions)) << bad.what;
      }
    }
    absl::Status s = opt->UpdateRows(0, NDArray(), Ids({0}), g1);
    EXPECT_EQ(s.code(), none);
    EXPECT_THAT(s.message(), HasSubstr("weight"));
    // Nothing changed: weight, state, counts; index 9 has no state.
    EXPECT_EQ(*w.ToVector<float>(), w_before);
    EXPECT_EQ(opt->UpdateCount(0), 1);
    EXPECT_EQ(opt->UpdateCount(9), 0);
    absl::StatusOr<std::vector<OptimizerIndexState>> after = opt->ExportStates();
    ASSERT_TRUE(after.ok());
    ASSERT_EQ(after->size(), before->size());
    for (size_t i = 0; i < after->size(); ++i) {
      EXPECT_EQ((*after)[i].index, (*before)[i].index);
      EXPECT_EQ((*after)[i].update_count, (*before)[i].update_count);
      for (size_t j = 0; j < (*after)[i].arrays.size(); ++j) {
        EXPECT_EQ(*(*after)[i].arrays[j].ToVector<float>(),
                  *(*before)[i].arrays[j].ToVector<float>());
      }
    }
  }
}

TEST(OptimizerRowsTest, AdaGradRowsRefuseWeightDecay) {
  auto opt = Make("adagrad", {{"learning_rate", "0.1"}, {"wd", "0.01"}});
  NDArray w = F32({1, 2, 3});
  absl::Status s = opt->UpdateRows(0, w, Ids({1}), F32({1}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("weight decay"));
  EXPECT_EQ(opt->UpdateCount(0), 0);
  EXPECT_TRUE(opt->ExportStates()->empty());
  EXPECT_THAT(*w.ToVector<float>(), ElementsAre(1, 2, 3));
  // MXNet passes wd * wd_mult to the operator: a key with wd_mult 0 is updated.
  opt->SetWdMult(0, 0.0);
  ASSERT_TRUE(opt->UpdateRows(0, w, Ids({1}), F32({1})).ok());
  // h = 1, w = 2 - 0.1 * 1 / sqrt(1 + 1e-7)
  EXPECT_THAT(*w.ToVector<double>(), ElementsAre(1, DoubleNear(1.9, 1e-6), 3));
  EXPECT_EQ(opt->UpdateCount(0), 1);
}


// ---- UpdatePieces: rows cut at a parameter-server part's ends ----

// Pieces that are whole rows update exactly as UpdateRows does.
TEST(OptimizerPiecesTest, WholeRowPiecesEqualUpdateRows) {
  const Shape shape{4, 3};
  const std::vector<double> w0 = InitialWeight(shape);
  for (const auto& [name, params] : std::vector<std::pair<std::string, Params>>{
           {"sgd", {{"learning_rate", "0.5"}, {"wd", "0.1"}, {"momentum", "0.9"}}},
           {"sgd", {{"learning_rate", "0.5"}, {"wd", "0.1"}}},
           {"adam", {{"learning_rate", "0.1"}, {"wd", "0.01"}}},
           {"adagrad", {{"learning_rate", "0.1"}}},
           {"nag", {{"learning_rate", "0.1"}, {"momentum", "0.9"}}},
           {"sgd", {{"learning_rate", "0.5"}, {"momentum", "0.9"}, {"lazy_update", "False"}}}}) {
    SCOPED_TRACE(name);
    auto rows_opt = Make(name, params), pieces_opt = Make(name, params);
    ASSERT_NE(rows_opt, nullptr);
    ASSERT_NE(pieces_opt, nullptr);
    NDArray a = Arr(DType::kFloat32, shape, w0), b = Arr(DType::kFloat32, shape, w0);
    for (int call = 0; call < 2; ++call) {
      const std::vector<double> g = GradRows(6, call);
      ASSERT_TRUE(rows_opt->UpdateRows(0, a, Ids({1, 3}),
                                       Arr(DType::kFloat32, Shape{2, 3}, g)).ok());
      const absl::Status s = pieces_opt->UpdatePieces(
          0, b, {{3, 3}, {9, 3}}, Arr(DType::kFloat32, Shape{6}, g));
      ASSERT_TRUE(s.ok()) << s;
    }
    EXPECT_EQ(*a.ToVector<float>(), *b.ToVector<float>());
    EXPECT_EQ(pieces_opt->UpdateCount(0), 2);
  }
}

// A piece that is part of a row moves those elements as the row's update would, and only
// them (lazy sgd with momentum: weight and momentum).
TEST(OptimizerPiecesTest, PartOfARowMovesOnlyItsElements) {
  const Params params = {{"learning_rate", "0.5"}, {"wd", "0.1"}, {"momentum", "0.9"}};
  auto rows_opt = Make("sgd", params), pieces_opt = Make("sgd", params);
  const std::vector<double> w0 = InitialWeight(Shape{4, 3});
  NDArray a = Arr(DType::kFloat32, Shape{4, 3}, w0), b = Arr(DType::kFloat32, Shape{12}, w0);
  const std::vector<double> g = GradRows(3, 0);
  ASSERT_TRUE(rows_opt->UpdateRows(0, a, Ids({1}), Arr(DType::kFloat32, Shape{1, 3}, g)).ok());
  // Elements 4 and 5 of row 1 (3..5): the part starts at element 4.
  ASSERT_TRUE(pieces_opt->UpdatePieces(0, b, {{4, 2}},
                                       Arr(DType::kFloat32, Shape{2}, {g[1], g[2]})).ok());
  const std::vector<float> rows = *a.ToVector<float>(), got = *b.ToVector<float>();
  const std::vector<float> start = *Arr(DType::kFloat32, Shape{12}, w0).ToVector<float>();
  for (int e = 0; e < 12; ++e) EXPECT_EQ(got[e], e == 4 || e == 5 ? rows[e] : start[e]) << e;
  const std::vector<double> mom = *(*pieces_opt->ExportStates())[0].arrays[0].ToVector<double>();
  for (int e = 0; e < 12; ++e) EXPECT_EQ(mom[e] != 0.0, e == 4 || e == 5) << e;
}

TEST(OptimizerPiecesTest, BadPiecesFailAndChangeNothing) {
  auto opt = Make("adam", {{"learning_rate", "0.1"}});
  NDArray w = Arr(DType::kFloat32, Shape{12}, InitialWeight(Shape{12}));
  const std::vector<float> before = *w.ToVector<float>();
  auto code = [&](std::vector<RowPiece> pieces, const NDArray& g) {
    return opt->UpdatePieces(0, w, std::move(pieces), g).code();
  };
  const NDArray g4 = Arr(DType::kFloat32, Shape{4}, {1, 1, 1, 1});
  EXPECT_EQ(code({{2, 2}, {1, 2}}, g4), absl::StatusCode::kInvalidArgument);  // overlapping
  EXPECT_EQ(code({{10, 4}}, g4), absl::StatusCode::kInvalidArgument);         // outside
  EXPECT_EQ(code({{0, 0}, {2, 4}}, g4), absl::StatusCode::kInvalidArgument);  // empty piece
  EXPECT_EQ(code({{0, 3}}, g4), absl::StatusCode::kInvalidArgument);          // 3 != 4 values
  EXPECT_EQ(code({{0, 4}}, Arr(DType::kFloat64, Shape{4}, {1, 1, 1, 1})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{0, 4}}, NDArray()), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(opt->UpdatePieces(0, Arr(DType::kFloat32, Shape{4}, {1, 1, 1, 1}), {{0, 2}},
                                *NDArray::FromVector<int32_t>(Shape{2}, {1, 1}))
                  .message(),
              HasSubstr("float32"));
  auto adagrad = Make("adagrad", {{"learning_rate", "0.1"}, {"wd", "0.5"}});
  EXPECT_EQ(adagrad->UpdatePieces(0, w, {{0, 4}}, g4).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*w.ToVector<float>(), before);
  EXPECT_EQ(opt->UpdateCount(0), 0);
  EXPECT_TRUE(opt->ExportStates()->empty());
}

}  // namespace
}  // namespace mxgrid::kvstore

#include "libs/ops/linalg/linalg_cases.h"

#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace mxgrid::ops {
namespace {

using testing::OpCase;
using Values = std::vector<std::vector<double>>;
using Matrix = std::vector<double>;  // row-major, size given alongside

// Element (i, j) of op(X) for X stored rows x cols (op = transpose when t).
double At(const double* x, int64_t cols_stored, int64_t i, int64_t j, bool t) {
  return t ? x[j * cols_stored + i] : x[i * cols_stored + j];
}

// op(A) (m x k) times op(B) (k x n).
Matrix MatMul(const double* a, const double* b, int64_t m, int64_t n, int64_t k, bool ta,
              bool tb) {
  Matrix c(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t p = 0; p < k; ++p) {
        c[i * n + j] += At(a, ta ? m : k, i, p, ta) * At(b, tb ? k : n, p, j, tb);
      }
    }
  }
  return c;
}

// The n x n triangle of `a` (lower or upper, diagonal included), zeros elsewhere.
Matrix Triangle(const double* a, int64_t n, bool lower) {
  Matrix t(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      if (lower ? j <= i : j >= i) t[i * n + j] = a[i * n + j];
    }
  }
  return t;
}

// Gauss-Jordan inverse with partial pivoting.
Matrix Inv(Matrix a, int64_t n) {
  Matrix inv(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) inv[i * n + i] = 1.0;
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r) {
      if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
    }
    for (int64_t j = 0; j < n; ++j) {
      std::swap(a[p * n + j], a[c * n + j]);
      std::swap(inv[p * n + j], inv[c * n + j]);
    }
    const double d = a[c * n + c];
    for (int64_t j = 0; j < n; ++j) {
      a[c * n + j] /= d;
      inv[c * n + j] /= d;
    }
    for (int64_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[r * n + c];
      for (int64_t j = 0; j < n; ++j) {
        a[r * n + j] -= f * a[c * n + j];
        inv[r * n + j] -= f * inv[c * n + j];
      }
    }
  }
  return inv;
}

// Laplace expansion along the first row.
double Det(const Matrix& a, int64_t n) {
  if (n == 1) return a[0];
  double d = 0;
  for (int64_t c = 0; c < n; ++c) {
    Matrix minor;
    for (int64_t i = 1; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        if (j != c) minor.push_back(a[i * n + j]);
      }
    }
    d += (c % 2 == 0 ? 1 : -1) * a[c] * Det(minor, n - 1);
  }
  return d;
}

// Applies fn to each of `count` matrices of `size` elements of input `which`, concatenating
// the results.
template <typename Fn>
std::vector<double> PerMatrix(const Values& in, int64_t count, int64_t size, Fn fn) {
  std::vector<double> out;
  for (int64_t b = 0; b < count; ++b) {
    std::vector<double> r = fn(b, in[0].data() + b * size);
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

OpCase Case(const std::string& name, const std::string& op, AttrMap attrs,
            std::vector<Shape> shapes) {
  OpCase c;
  c.name = name;
  c.op = op;
  c.attrs = std::move(attrs);
  c.input_shapes = std::move(shapes);
  return c;
}

// Two symmetric positive definite 3 x 3 matrices.
const std::vector<double> kSpd = {4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 2,
                                  2, 0.3, 0.1, 0.3, 1.5, -0.2, 0.1, -0.2, 1};
// Two 3 x 3 matrices with dominant diagonals (well conditioned, non-zero determinant).
const std::vector<double> kDominant = {2.5, 0.3, -0.4, 0.2, -1.8, 0.6, 0.1, 0.5, 2.2,
                                       -3, 0.7, 0.2, 0.4, 1.2, -0.3, -0.5, 0.1, 1.6};

void AddProducts(std::vector<OpCase>* cases) {
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    // op(A) 3 x 4, op(B) 4 x 2, batch 2.
    OpCase c = Case("gemm_t" + std::to_string(t), "_linalg_gemm",
                    {{"transpose_a", ta ? "True" : "False"},
                     {"transpose_b", tb ? "True" : "False"},
                     {"alpha", "1.5"}, {"beta", "-0.5"}},
                    {ta ? Shape{2, 4, 3} : Shape{2, 3, 4}, tb ? Shape{2, 2, 4} : Shape{2, 4, 2},
                     {2, 3, 2}});
    c.reference = [ta, tb](const Values& in, const std::vector<Shape>&) {
      std::vector<double> out;
      for (int b = 0; b < 2; ++b) {
        Matrix p = MatMul(in[0].data() + b * 12, in[1].data() + b * 8, 3, 2, 4, ta, tb);
        for (int i = 0; i < 6; ++i) out.push_back(1.5 * p[i] - 0.5 * in[2][b * 6 + i]);
      }
      return Values{out};
    };
    cases->push_back(std::move(c));
  }
  OpCase g2 = Case("gemm2_tb", "linalg_gemm2", {{"transpose_b", "True"}, {"alpha", "2"}},
                   {{3, 4}, {2, 4}});
  g2.reference = [](const Values& in, const std::vector<Shape>&) {
    Matrix p = MatMul(in[0].data(), in[1].data(), 3, 2, 4, false, true);
    for (double& v : p) v *= 2;
    return Values{p};
  };
  cases->push_back(std::move(g2));
  // Rows along axis 0, batch along axis 1: A (3, 2, 4), B (4, 2, 5) -> (3, 2, 5).
  OpCase ax = Case("gemm2_axis0", "_linalg_gemm2", {{"axis", "0"}}, {{3, 2, 4}, {4, 2, 5}});
  ax.reference = [](const Values& in, const std::vector<Shape>&) {
    std::vector<double> out(3 * 2 * 5, 0.0);
    for (int i = 0; i < 3; ++i) {
      for (int b = 0; b < 2; ++b) {
        for (int j = 0; j < 5; ++j) {
          for (int p = 0; p < 4; ++p) {
            out[(i * 2 + b) * 5 + j] += in[0][(i * 2 + b) * 4 + p] * in[1][(p * 2 + b) * 5 + j];
          }
        }
      }
    }
    return Values{out};
  };
  cases->push_back(std::move(ax));
  // gemm with rows along axis 1 of 4-d tensors (batch over axes 0 and 2), transposed A.
  cases->push_back(Case("gemm_axis1", "_linalg_gemm",
                        {{"axis", "1"}, {"transpose_a", "True"}, {"beta", "2"}},
                        {{2, 4, 2, 3}, {2, 4, 2, 5}, {2, 3, 2, 5}}));
  for (bool tr : {false, true}) {
    OpCase s = Case(std::string("syrk_") + (tr ? "t" : "n"), "_linalg_syrk",
                    {{"transpose", tr ? "True" : "False"}, {"alpha", "0.5"}}, {{2, 3, 4}});
    s.reference = [tr](const Values& in, const std::vector<Shape>&) {
      const int64_t n = tr ? 4 : 3, k = tr ? 3 : 4;
      return Values{PerMatrix(in, 2, 12, [&](int64_t, const double* a) {
        Matrix p = MatMul(a, a, n, n, k, tr, !tr);
        for (double& v : p) v *= 0.5;
        return p;
      })};
    };
    cases->push_back(std::move(s));
  }
}

void AddTriangular(std::vector<OpCase>* cases) {
  // (rightside, lower, transpose) combinations; A 3 x 3, B 3 x 2 (left) or 2 x 3 (right).
  const bool combos[][3] = {{false, true, false}, {false, false, true}, {true, true, true},
                            {true, false, false}, {false, true, true},  {false, false, false},
                            {true, true, false},  {true, false, true}};
  for (const auto& cb : combos) {
    const bool right = cb[0], lower = cb[1], tr = cb[2];
    for (bool solve : {false, true}) {
      const std::string tag = std::string(right ? "r" : "l") + (lower ? "lo" : "up") +
                              (tr ? "t" : "n");
      OpCase c = Case(std::string(solve ? "trsm_" : "trmm_") + tag,
                      solve ? "_linalg_trsm" : "_linalg_trmm",
                      {{"rightside", right ? "True" : "False"},
                       {"lower", lower ? "True" : "False"},
                       {"transpose", tr ? "True" : "False"}, {"alpha", "1.5"}},
                      {{2, 3, 3}, right ? Shape{2, 2, 3} : Shape{2, 3, 2}});
      c.input_values = {kDominant, {}};
      c.reference = [=](const Values& in, const std::vector<Shape>&) {
        std::vector<double> out;
        for (int b = 0; b < 2; ++b) {
          Matrix t = Triangle(in[0].data() + b * 9, 3, lower);
          if (solve) t = Inv(t, 3);
          // solve: op(A)^-1 = (A^-1) transposed the same way.
          const double* bm = in[1].data() + b * 6;
          Matrix p = right ? MatMul(bm, t.data(), 2, 3, 3, false, tr)
                           : MatMul(t.data(), bm, 3, 2, 3, tr, false);
          for (double v : p) out.push_back(1.5 * v);
        }
        return Values{out};
      };
      cases->push_back(std::move(c));
    }
  }
  for (bool lower : {true, false}) {
    OpCase f = Case(std::string("potrf_") + (lower ? "lower" : "upper"), "_linalg_potrf",
                    {{"lower", lower ? "True" : "False"}}, {{2, 3, 3}});
    f.input_values = {kSpd};
    f.check_grad = false;  // symmetric gradient: linalg_ops_test checks it
    f.reference = [lower](const Values& in, const std::vector<Shape>&) {
      return Values{PerMatrix(in, 2, 9, [&](int64_t, const double* a) {
        Matrix l(9, 0.0);  // Cholesky-Banachiewicz
        for (int i = 0; i < 3; ++i) {
          for (int j = 0; j <= i; ++j) {
            double s = a[i * 3 + j];
            for (int k = 0; k < j; ++k) s -= l[i * 3 + k] * l[j * 3 + k];
            l[i * 3 + j] = i == j ? std::sqrt(s) : s / l[j * 3 + j];
          }
        }
        if (lower) return l;
        Matrix u(9);
        for (int i = 0; i < 3; ++i) {
          for (int j = 0; j < 3; ++j) u[i * 3 + j] = l[j * 3 + i];
        }
        return u;
      })};
    };
    cases->push_back(std::move(f));
    OpCase r = Case(std::string("potri_") + (lower ? "lower" : "upper"), "_linalg_potri",
                    {{"lower", lower ? "True" : "False"}}, {{2, 3, 3}});
    r.input_values = {kDominant};
    r.reference = [lower](const Values& in, const std::vector<Shape>&) {
      return Values{PerMatrix(in, 2, 9, [&](int64_t, const double* a) {
        Matrix t = Triangle(a, 3, lower);
        // lower: (L L^T)^-1; upper: (U^T U)^-1.
        return Inv(MatMul(t.data(), t.data(), 3, 3, 3, !lower, lower), 3);
      })};
    };
    cases->push_back(std::move(r));
  }
}

void AddFactorsAndDiagonals(std::vector<OpCase>* cases) {
  OpCase lq = Case("gelqf_2x3x4", "_linalg_gelqf", {}, {{2, 3, 4}});
  cases->push_back(std::move(lq));  // values: linalg_ops_test (against MXNet's)
  OpCase inv = Case("inverse_2x3x3", "_linalg_inverse", {}, {{2, 3, 3}});
  inv.input_values = {kDominant};
  inv.reference = [](const Values& in, const std::vector<Shape>&) {
    return Values{PerMatrix(in, 2, 9, [](int64_t, const double* a) {
      return Inv(Matrix(a, a + 9), 3);
    })};
  };
  cases->push_back(std::move(inv));
  OpCase det = Case("det_2x3x3", "_linalg_det", {}, {{2, 3, 3}});
  det.input_values = {kDominant};
  det.reference = [](const Values& in, const std::vector<Shape>&) {
    return Values{PerMatrix(in, 2, 9, [](int64_t, const double* a) {
      return std::vector<double>{Det(Matrix(a, a + 9), 3)};
    })};
  };
  cases->push_back(std::move(det));
  OpCase sld = Case("slogdet_2x3x3", "_linalg_slogdet", {}, {{2, 3, 3}});
  sld.input_values = {kDominant};
  sld.reference = [](const Values& in, const std::vector<Shape>&) {
    std::vector<double> sign, logabs;
    for (int b = 0; b < 2; ++b) {
      const double d = Det(Matrix(in[0].begin() + b * 9, in[0].begin() + b * 9 + 9), 3);
      sign.push_back(d < 0 ? -1 : 1);
      logabs.push_back(std::log(std::abs(d)));
    }
    return Values{sign, logabs};
  };
  cases->push_back(std::move(sld));
  OpCase sl = Case("sumlogdiag_2x3x3", "_linalg_sumlogdiag", {}, {{2, 3, 3}});
  sl.low = 0.5;
  sl.high = 2.0;
  sl.reference = [](const Values& in, const std::vector<Shape>&) {
    return Values{PerMatrix(in, 2, 9, [](int64_t, const double* a) {
      return std::vector<double>{std::log(a[0]) + std::log(a[4]) + std::log(a[8])};
    })};
  };
  cases->push_back(std::move(sl));
  for (int k : {0, 1, -2}) {
    const int len = 4 - std::abs(k);
    OpCase e = Case("extractdiag_k" + std::to_string(k), "_linalg_extractdiag",
                    {{"offset", std::to_string(k)}}, {{2, 4, 4}});
    e.reference = [k, len](const Values& in, const std::vector<Shape>&) {
      std::vector<double> out;
      for (int b = 0; b < 2; ++b) {
        for (int t = 0; t < len; ++t) {
          out.push_back(in[0][b * 16 + (t + (k < 0 ? -k : 0)) * 4 + t + (k > 0 ? k : 0)]);
        }
      }
      return Values{out};
    };
    cases->push_back(std::move(e));
    const int n = 3 + std::abs(k);
    OpCase m = Case("makediag_k" + std::to_string(k), "_linalg_makediag",
                    {{"offset", std::to_string(k)}}, {{2, 3}});
    m.reference = [k, n](const Values& in, const std::vector<Shape>&) {
      std::vector<double> out(2 * n * n, 0.0);
      for (int b = 0; b < 2; ++b) {
        for (int t = 0; t < 3; ++t) {
          out[b * n * n + (t + (k < 0 ? -k : 0)) * n + t + (k > 0 ? k : 0)] = in[0][b * 3 + t];
        }
      }
      return Values{out};
    };
    cases->push_back(std::move(m));
  }
}

}  // namespace

std::vector<OpCase> LinalgCases() {
  std::vector<OpCase> cases;
  AddProducts(&cases);
  AddTriangular(&cases);
  AddFactorsAndDiagonals(&cases);
  return cases;
}

}  // namespace mxgrid::ops

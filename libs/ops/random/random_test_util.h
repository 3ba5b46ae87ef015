// Test helpers of the random operator family: run an operator from the registry on host
// buffers with a seeded generator, returning its outputs as doubles.
#ifndef MXGRID_LIBS_OPS_RANDOM_RANDOM_TEST_UTIL_H_
#define MXGRID_LIBS_OPS_RANDOM_RANDOM_TEST_UTIL_H_

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/ops/op.h"
#include "libs/ops/random/random_ops.h"
#include "libs/ops/registry.h"

namespace mxgrid::ops::random_test {

struct Input {
  Shape shape;
  std::vector<double> values;
  DType dtype = DType::kFloat32;
};

struct Result {
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  std::vector<std::vector<double>> values;  // per output
};

// The random family alone (registration errors fail the tests that parse).
inline const Registry& RandomRegistry() {
  static Registry registry;
  static const bool registered = RegisterRandomOps(&registry).ok();
  static_cast<void>(registered);
  return registry;
}

// Parses, infers and runs `op` forward with a generator seeded by `seed`.
inline absl::StatusOr<Result> RunOp(const std::string& op, const AttrMap& attrs,
                                  const std::vector<Input>& inputs, uint64_t seed) {
  absl::StatusOr<ParsedOp> parsed = RandomRegistry().Parse(op, attrs);
  if (!parsed.ok()) return parsed.status();
  std::vector<InferShape> in_shapes;
  std::vector<InferType> in_types;
  for (const Input& i : inputs) {
    in_shapes.push_back(i.shape);
    in_types.push_back(i.dtype);
  }
  std::vector<InferShape> out_shapes(parsed->num_outputs());
  std::vector<InferType> out_types(parsed->num_outputs());
  if (absl::Status s = parsed->InferShapes(&in_shapes, &out_shapes); !s.ok()) return s;
  if (absl::Status s = parsed->InferTypes(&in_types, &out_types); !s.ok()) return s;
  std::vector<std::vector<char>> buffers;
  std::vector<TensorView> in_views, out_views;
  for (const Input& i : inputs) {
    buffers.emplace_back(i.values.size() * DTypeSize(i.dtype));
    TensorView v{buffers.back().data(), i.shape, i.dtype, Context::Cpu()};
    VisitDType(i.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (size_t k = 0; k < i.values.size(); ++k) v.as<T>()[k] = FromDouble<T>(i.values[k]);
    });
    in_views.push_back(v);
  }
  Result result;
  for (size_t o = 0; o < out_shapes.size(); ++o) {
    buffers.emplace_back(out_shapes[o]->Size() * DTypeSize(*out_types[o]));
    out_views.push_back(
        TensorView{buffers.back().data(), *out_shapes[o], *out_types[o], Context::Cpu()});
    result.shapes.push_back(*out_shapes[o]);
    result.dtypes.push_back(*out_types[o]);
  }
  std::mt19937_64 gen(seed);
  OpContext ctx{false, Context::Cpu(), &gen};
  std::vector<OpReq> reqs(out_views.size(), OpReq::kWriteTo);
  if (absl::Status s = parsed->Forward(ctx, in_views, reqs, out_views); !s.ok()) return s;
  for (const TensorView& v : out_views) {
    std::vector<double> values(v.size());
    VisitDType(v.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t k = 0; k < v.size(); ++k) values[k] = ToDouble(v.as<T>()[k]);
    });
    result.values.push_back(std::move(values));
  }
  return result;
}

inline double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}

inline double Variance(const std::vector<double>& v) {
  const double m = Mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / (v.size() - 1);
}

}  // namespace mxgrid::ops::random_test

#endif  // MXGRID_LIBS_OPS_RANDOM_RANDOM_TEST_UTIL_H_

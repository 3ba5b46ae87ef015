// The creation operators without inputs, as MXNet 1.9.1 (src/operator/tensor/init_op.cc):
// _zeros, _ones, _full (value) of a given shape, _arange (start, stop, step, repeat:
// each value repeated `repeat` times) and _linspace (num values from start to stop, stop
// included unless endpoint is False) and _eye (an N x M matrix, M 0 meaning N, with ones on
// diagonal k: above the main one for k > 0, below for k < 0). Each takes ctx (where the imperative
// layer puts the output; the kernels never read it) and dtype (float32 by default). No inputs, no
// gradient.
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/context.h"
#include "libs/base/status_macros.h"
#include "libs/ops/params.h"
#include "libs/ops/tensor/common.h"
#include "libs/ops/tensor/init_params.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace {

using tensor_internal::InitParams;

enum class Kind { kFill, kArange, kLinspace, kEye };

constexpr char kDTypes[] =
    "{'bfloat16', 'float16', 'float32', 'float64', 'int32', 'int64', 'int8', 'uint8'}";

// Removes the ctx attribute after checking it (the imperative layer reads it from the attrs).
absl::Status TakeContext(const char* op, AttrMap* attrs) {
  auto it = attrs->find("ctx");
  if (it == attrs->end()) return absl::OkStatus();
  if (!it->second.empty() && it->second != "None") {
    absl::StatusOr<Context> ctx = Context::FromString(it->second);
    if (!ctx.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": ", ctx.status().message()));
    }
  }
  attrs->erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const OpParams>> Parse(const char* op, Kind kind,
                                                      bool has_value, const AttrMap& attrs) {
  auto p = std::make_shared<InitParams>();
  AttrMap a = attrs;
  MXGRID_RETURN_IF_ERROR(TakeContext(op, &a));
  auto stop = a.find("stop");
  if (stop != a.end() && stop->second == "None") a.erase(stop);
  ParamReader r(op, a);
  std::optional<DType> dtype;
  MXGRID_RETURN_IF_ERROR(r.DTypeName("dtype", &dtype));
  if (dtype) p->dtype = *dtype;
  if (kind == Kind::kFill) {
    MXGRID_RETURN_IF_ERROR(r.Tuple("shape", &p->shape));
    if (has_value) MXGRID_RETURN_IF_ERROR(r.Float("value", &p->value));
    for (int64_t d : p->shape) {
      if (d < 0) return r.Error(absl::StrCat("shape has a negative dim ", d));
    }
    if (p->shape.size() > static_cast<size_t>(Shape::kMaxNdim)) {
      return r.Error("shape has too many dims");
    }
  } else if (kind == Kind::kEye) {
    MXGRID_RETURN_IF_ERROR(r.Int("N", &p->rows));
    MXGRID_RETURN_IF_ERROR(r.Int("M", &p->cols, 0));
    MXGRID_RETURN_IF_ERROR(r.Int("k", &p->diag, 0));
    if (p->rows < 0 || p->cols < 0) {
      return r.Error(absl::StrCat("N and M must not be negative, got N=", p->rows,
                                  " M=", p->cols));
    }
    if (p->cols == 0) p->cols = p->rows;
    if (p->rows > (int64_t{1} << 30) || p->cols > (int64_t{1} << 30)) {
      return r.Error("N and M must be at most 2^30");
    }
  } else if (kind == Kind::kLinspace) {
    double stop_value = 0;
    MXGRID_RETURN_IF_ERROR(r.Float("start", &p->start));
    MXGRID_RETURN_IF_ERROR(r.Float("stop", &stop_value));
    p->stop = stop_value;
    MXGRID_RETURN_IF_ERROR(r.Int("num", &p->num));
    MXGRID_RETURN_IF_ERROR(r.Bool("endpoint", &p->endpoint, true));
    if (p->num < 0 || p->num > (int64_t{1} << 40)) {
      return r.Error(absl::StrCat("num must be in [0, 2^40], got ", p->num));
    }
    const int64_t steps = p->endpoint ? p->num - 1 : p->num;
    p->step = steps > 0 ? (stop_value - p->start) / static_cast<double>(steps) : 0.0;
  } else {
    MXGRID_RETURN_IF_ERROR(r.Float("start", &p->start));
    double stop_value = 0;
    if (a.count("stop")) {
      MXGRID_RETURN_IF_ERROR(r.Float("stop", &stop_value));
      p->stop = stop_value;
    }
    MXGRID_RETURN_IF_ERROR(r.Float("step", &p->step, 1.0));
    MXGRID_RETURN_IF_ERROR(r.Int("repeat", &p->repeat, 1));
    bool infer_range = false;
    MXGRID_RETURN_IF_ERROR(r.Bool("infer_range", &infer_range, false));
    if (infer_range) return r.Error("infer_range=True is not supported; give stop");
    if (p->step == 0) return r.Error("step must not be 0");
    if (p->repeat < 1) return r.Error("repeat must be at least 1");
  }
  MXGRID_RETURN_IF_ERROR(r.Finish());
  return std::shared_ptr<const OpParams>(std::move(p));
}

// _arange's element count: ceil((stop - start) / step) values, each `repeat` times.
absl::StatusOr<Shape> ArangeShape(const InitParams& p) {
  double start = p.start, stop = 0;
  if (p.stop) {
    stop = *p.stop;
  } else {
    stop = start;
    start = 0;
  }
  const double n = std::ceil((stop - start) / p.step);
  if (!(n <= static_cast<double>(int64_t{1} << 40))) {
    return absl::InvalidArgumentError("_arange: the range has too many values");
  }
  return Shape{(n > 0 ? static_cast<int64_t>(n) : 0) * p.repeat};
}

OpDef InitOp(const char* name, Kind kind, bool has_value, double fill,
             std::string description) {
  OpDef d;
  d.name = name;
  d.description = std::move(description);
  if (kind == Kind::kFill) {
    d.params.push_back({"shape", "Shape(tuple)", "()", false, "Shape of the output."});
  } else if (kind == Kind::kEye) {
    d.params = {{"N", "long", "", true, "Number of rows."},
                {"M", "long", "0", false, "Number of columns; 0 means N."},
                {"k", "long", "0", false,
                 "Diagonal of ones: 0 the main one, above it when positive, below when "
                 "negative."}};
  } else if (kind == Kind::kLinspace) {
    d.params = {{"start", "double", "", true, "The first value."},
                {"stop", "double", "", true, "The last value (or the end, see endpoint)."},
                {"num", "long", "", true, "Number of values."},
                {"endpoint", "boolean", "True", false, "Whether stop is the last value."}};
  } else {
    d.params = {{"start", "double", "", true, "Start of the range."},
                {"stop", "double or None", "None", false,
                 "End of the range (exclusive); None: the range is [0, start)."},
                {"step", "double", "1", false, "Spacing between values."},
                {"repeat", "int", "1", false, "Times each value is repeated."},
                {"infer_range", "boolean", "False", false, "Unsupported; must be False."}};
  }
  d.params.push_back({"ctx", "string", "''", false, "Context of the output: cpu(0), gpu(1)."});
  d.params.push_back({"dtype", kDTypes, "'float32'", false, "DType of the output."});
  if (has_value) d.params.push_back({"value", "double", "", true, "Value to fill with."});
  d.parse = [name, kind, has_value](const AttrMap& attrs) {
    return Parse(name, kind, has_value, attrs);
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name, kind](const OpParams& params, std::vector<InferShape>*,
                               std::vector<InferShape>* out) -> absl::Status {
    const auto& p = ParamsAs<InitParams>(params);
    if (kind == Kind::kArange) {
      MXGRID_ASSIGN_OR_RETURN(Shape s, ArangeShape(p));
      return tensor_internal::Unify(name, "output 0", s, &(*out)[0]);
    }
    if (kind == Kind::kLinspace) {
      return tensor_internal::Unify(name, "output 0", Shape{p.num}, &(*out)[0]);
    }
    if (kind == Kind::kEye) {
      return tensor_internal::Unify(name, "output 0", Shape{p.rows, p.cols}, &(*out)[0]);
    }
    // MXNet 1.x (not np_shape): a 0 in shape is an unknown dim that the consumers decide
    // (mx.rnn's begin_state is zeros((0, num_hidden)) with the batch size left open).
    std::vector<int64_t> dims = p.shape;
    for (int64_t& d : dims) d = d == 0 ? -1 : d;
    return tensor_internal::Unify(name, "output 0", Shape(dims), &(*out)[0]);
  };
  d.infer_type = [name](const OpParams& params, std::vector<InferType>*,
                        std::vector<InferType>* out) -> absl::Status {
    const DType want = ParamsAs<InitParams>(params).dtype;
    if ((*out)[0] && *(*out)[0] != want) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": output dtype ",
                                                     DTypeName(*(*out)[0]),
                                                     " conflicts with dtype=", DTypeName(want)));
    }
    (*out)[0] = want;
    return absl::OkStatus();
  };
  d.forward = [kind, has_value, fill](const OpContext&, const OpParams& params,
                                      absl::Span<const TensorView>, absl::Span<const OpReq> reqs,
                                      absl::Span<const TensorView> out) {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    const auto& p = ParamsAs<InitParams>(params);
    // _arange without stop counts from 0; _linspace always has one.
    const double start = p.stop ? p.start : 0;
    return VisitDType(out[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* y = out[0].as<T>();
      for (int64_t i = 0; i < out[0].size(); ++i) {
        if (kind == Kind::kEye) {
          const double v = i % p.cols - i / p.cols == p.diag ? 1.0 : 0.0;
          y[i] = FromDouble<T>(reqs[0] == OpReq::kAddTo ? ToDouble(y[i]) + v : v);
          continue;
        }
        const double v = kind == Kind::kArange
                             ? start + static_cast<double>(i / p.repeat) * p.step
                         : kind == Kind::kLinspace ? start + static_cast<double>(i) * p.step
                                                   : (has_value ? p.value : fill);
        y[i] = FromDouble<T>(reqs[0] == OpReq::kAddTo ? ToDouble(y[i]) + v : v);
      }
      return absl::OkStatus();
    });
  };
  return d;
}

}  // namespace

absl::Status RegisterInitOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(
      registry->Register(InitOp("_zeros", Kind::kFill, false, 0, "An array of zeros.")));
  MXGRID_RETURN_IF_ERROR(
      registry->Register(InitOp("_ones", Kind::kFill, false, 1, "An array of ones.")));
  MXGRID_RETURN_IF_ERROR(registry->Register(
      InitOp("_full", Kind::kFill, true, 0, "An array filled with `value`.")));
  MXGRID_RETURN_IF_ERROR(registry->Register(
      InitOp("_arange", Kind::kArange, false, 0,
             "Evenly spaced values in [start, stop), each repeated.")));
  MXGRID_RETURN_IF_ERROR(registry->Register(
      InitOp("_eye", Kind::kEye, false, 0, "A 2-d array with ones on diagonal k.")));
  return registry->Register(InitOp("_linspace", Kind::kLinspace, false, 0,
                                   "num evenly spaced values from start to stop."));
}

}  // namespace mxgrid::ops

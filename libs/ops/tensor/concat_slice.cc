// Concat [concat] (num_args inputs arg0.., dim=1), SliceChannel [split] (num_outputs,
// axis=1, squeeze_axis; outputs output0..) and slice_axis (axis, begin, end).
// Each views its tensors as (outer, len, inner) around the axis and copies blocks.
#include <algorithm>
#include <optional>
#include <string>

#include "libs/ops/tensor/concat_slice_params.h"
#include "libs/ops/tensor/elemwise_kernels.h"
#include "libs/ops/tensor/tensor_ops.h"

namespace mxgrid::ops {
namespace tensor_internal {

absl::Status SliceRange(const SliceAxisParams& p, const Shape& s, int* ax, int64_t* b,
                        int64_t* e) {
  MXGRID_ASSIGN_OR_RETURN(*ax, NormalizeAxis("slice_axis", p.axis, s.ndim()));
  const int64_t len = s[*ax];
  *b = p.begin < 0 ? p.begin + len : p.begin;
  *e = !p.end ? len : (*p.end < 0 ? *p.end + len : *p.end);
  if (*b < 0 || *e > len || *b >= *e) {
    return absl::InvalidArgumentError(
        absl::StrCat("slice_axis: begin=", p.begin, ", end=", p.end ? std::to_string(*p.end) :
                     "None", " is an empty or out-of-range slice of axis ", *ax, " of ",
                     s.ToString()));
  }
  return absl::OkStatus();
}

}  // namespace tensor_internal

namespace {

using tensor_internal::ConcatParams;
using tensor_internal::SliceAxisParams;
using tensor_internal::SliceRange;
using tensor_internal::SplitParams;

using tensor_internal::CheckArity;
using tensor_internal::DispatchNumeric;
using tensor_internal::NormalizeAxis;
using ops::Store;
using tensor_internal::Unify;
using tensor_internal::VariadicInputNames;

// Copies src[o, s_off + j, i] to dst[o, d_off + j, i] for j < n (dst's req); with `zero`
// first clears dst (for kWriteTo of a partial region).
absl::Status CopyBlock(const char* op, const TensorView& src, int64_t s_len, int64_t s_off,
                       const TensorView& dst, int64_t d_len, int64_t d_off, int64_t outer,
                       int64_t n, int64_t inner, OpReq req, bool zero = false) {
  if (req == OpReq::kNull) return absl::OkStatus();
  return DispatchNumeric(op, dst.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = src.as<T>();
    T* y = dst.as<T>();
    if (zero && req != OpReq::kAddTo) std::fill(y, y + dst.size(), T(0));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < n * inner; ++j) {
        Store(req, y, (o * d_len + d_off) * inner + j, x[(o * s_len + s_off) * inner + j]);
      }
    }
    return absl::OkStatus();
  });
}

OpDef Concat() {
  OpDef d;
  d.name = "Concat";
  d.aliases = {"concat"};
  d.description = "Joins the inputs along `dim`.";
  d.params = {{"num_args", "int", "", true, "Number of inputs."},
              {"dim", "int", "1", false, "The dimension to concatenate along."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<ConcatParams>();
    ParamReader r("Concat", attrs);
    MXGRID_RETURN_IF_ERROR(r.Int("num_args", &p->num_args));
    MXGRID_RETURN_IF_ERROR(r.Int("dim", &p->dim, 1));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    MXGRID_RETURN_IF_ERROR(CheckArity(r, "num_args", p->num_args));
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams& p) {
    return VariadicInputNames(ParamsAs<ConcatParams>(p).num_args);
  };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    const auto& p = ParamsAs<ConcatParams>(params);
    // Unify every dim but `dim` (set to -1) across inputs and output; sum along `dim`.
    InferShape common;
    int nd = -1;
    for (const auto& s : *in) {
      if (s) nd = s->ndim();
    }
    if ((*out)[0]) nd = (*out)[0]->ndim();
    if (nd < 0) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("Concat", p.dim, nd));
    auto masked = [&](const InferShape& s) {
      InferShape m = s;
      if (m && m->ndim() == nd) (*m)[ax] = -1;
      return m;
    };
    for (size_t i = 0; i < in->size(); ++i) {
      MXGRID_RETURN_IF_ERROR(Unify("Concat", absl::StrCat("input ", i), masked((*in)[i]),
                                   &common));
    }
    MXGRID_RETURN_IF_ERROR(Unify("Concat", "output 0", masked((*out)[0]), &common));
    int64_t sum = 0;
    int unknown = -1, n_unknown = 0;
    for (size_t i = 0; i < in->size(); ++i) {
      const int64_t v = (*in)[i] ? (*(*in)[i])[ax] : -1;
      if (v < 0) {
        unknown = static_cast<int>(i);
        ++n_unknown;
      } else {
        sum += v;
      }
    }
    const int64_t total = (*out)[0] ? (*(*out)[0])[ax] : -1;
    for (size_t i = 0; i < in->size(); ++i) {
      const int64_t v = (*in)[i] ? (*(*in)[i])[ax] : -1;
      (*in)[i] = common;
      (*(*in)[i])[ax] = (n_unknown == 1 && static_cast<int>(i) == unknown && total >= 0)
                            ? total - sum
                            : v;
    }
    InferShape o = common;
    (*o)[ax] = n_unknown == 0 ? sum : total;
    return Unify("Concat", "output 0", o, &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    const Shape& os = out[0].shape;
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("Concat", ParamsAs<ConcatParams>(params).dim,
                                                  os.ndim()));
    const int64_t outer = os.ProdRange(0, ax), inner = os.ProdRange(ax + 1, os.ndim());
    int64_t off = 0;
    for (const TensorView& v : in) {
      MXGRID_RETURN_IF_ERROR(CopyBlock("Concat", v, v.shape[ax], 0, out[0], os[ax], off, outer,
                                       v.shape[ax], inner, reqs[0]));
      off += v.shape[ax];
    }
    return absl::OkStatus();
  };
  // Every gradient's shape (a kNull one's too, BackwardArgs' contract) gives its block's
  // offset; only the wanted blocks are copied (CopyBlock skips kNull).
  d.backward = [](const OpContext&, const OpParams& params,
                  const BackwardArgs& a) -> absl::Status {
    const Shape& os = a.out_grads[0].shape;
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("Concat", ParamsAs<ConcatParams>(params).dim,
                                                  os.ndim()));
    const int64_t outer = os.ProdRange(0, ax), inner = os.ProdRange(ax + 1, os.ndim());
    int64_t off = 0;
    for (size_t i = 0; i < a.in_grads.size(); ++i) {
      const int64_t len = a.in_grads[i].shape[ax];
      MXGRID_RETURN_IF_ERROR(CopyBlock("Concat", a.out_grads[0], os[ax], off, a.in_grads[i],
                                       len, 0, outer, len, inner, a.reqs[i]));
      off += len;
    }
    return absl::OkStatus();
  };
  return d;
}

OpDef SliceChannel() {
  OpDef d;
  d.name = "SliceChannel";
  d.aliases = {"split"};
  d.description = "Splits the input into num_outputs equal parts along `axis`.";
  d.params = {{"num_outputs", "int", "", true, "Number of splits."},
              {"axis", "int", "1", false, "Axis along which to split."},
              {"squeeze_axis", "boolean", "0", false, "Remove the split axis (length 1)."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<SplitParams>();
    ParamReader r("SliceChannel", attrs);
    MXGRID_RETURN_IF_ERROR(r.Int("num_outputs", &p->num_outputs));
    MXGRID_RETURN_IF_ERROR(r.Int("axis", &p->axis, 1));
    MXGRID_RETURN_IF_ERROR(r.Bool("squeeze_axis", &p->squeeze_axis, false));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    MXGRID_RETURN_IF_ERROR(CheckArity(r, "num_outputs", p->num_outputs));
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.variable_outputs = true;  // num_outputs
  d.output_names = [](const OpParams& p) {
    std::vector<std::string> names;
    for (int64_t i = 0; i < ParamsAs<SplitParams>(p).num_outputs; ++i) {
      names.push_back("output" + std::to_string(i));
    }
    return names;
  };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    const auto& p = ParamsAs<SplitParams>(params);
    // Backward first (as MXNet): a known output dim is the input's (times num_outputs on
    // the axis), so that unknown (-1) input dims fill from the outputs.
    for (size_t i = 0; i < out->size(); ++i) {
      if (!(*out)[i]) continue;
      std::vector<int64_t> dims((*out)[i]->dims().begin(), (*out)[i]->dims().end());
      const int nd = static_cast<int>(dims.size()) + (p.squeeze_axis ? 1 : 0);
      MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("SliceChannel", p.axis, nd));
      if (p.squeeze_axis) {
        dims.insert(dims.begin() + ax, p.num_outputs);
      } else if (dims[ax] >= 0) {
        dims[ax] *= p.num_outputs;
      }
      MXGRID_RETURN_IF_ERROR(Unify("SliceChannel", "input 0", Shape(dims), &(*in)[0]));
    }
    if (!(*in)[0]) return absl::OkStatus();
    const Shape& s = *(*in)[0];
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("SliceChannel", p.axis, s.ndim()));
    if (s[ax] < 0) {  // the axis unknown: the other dims still pass to the outputs
      if (p.squeeze_axis) return absl::OkStatus();
      std::vector<int64_t> dims(s.dims().begin(), s.dims().end());
      for (size_t i = 0; i < out->size(); ++i) {
        MXGRID_RETURN_IF_ERROR(
            Unify("SliceChannel", absl::StrCat("output ", i), Shape(dims), &(*out)[i]));
      }
      return absl::OkStatus();
    }
    if (s[ax] % p.num_outputs != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("SliceChannel: ", s.ToString(), " axis ", ax, " of length ", s[ax],
                       " is not divisible by num_outputs=", p.num_outputs));
    }
    const int64_t len = s[ax] / p.num_outputs;
    if (p.squeeze_axis && len != 1) {
      return absl::InvalidArgumentError("SliceChannel: squeeze_axis needs num_outputs == " +
                                        std::to_string(s[ax]));
    }
    std::vector<int64_t> dims(s.dims().begin(), s.dims().end());
    dims[ax] = len;
    if (p.squeeze_axis) dims.erase(dims.begin() + ax);
    for (size_t i = 0; i < out->size(); ++i) {
      MXGRID_RETURN_IF_ERROR(
          Unify("SliceChannel", absl::StrCat("output ", i), Shape(dims), &(*out)[i]));
    }
    return absl::OkStatus();
  };
  d.forward = [](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    const Shape& s = in[0].shape;
    const auto& p = ParamsAs<SplitParams>(params);
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("SliceChannel", p.axis, s.ndim()));
    const int64_t outer = s.ProdRange(0, ax), inner = s.ProdRange(ax + 1, s.ndim());
    const int64_t len = s[ax] / p.num_outputs;
    for (size_t i = 0; i < out.size(); ++i) {
      MXGRID_RETURN_IF_ERROR(CopyBlock("SliceChannel", in[0], s[ax], i * len, out[i], len, 0,
                                       outer, len, inner, reqs[i]));
    }
    return absl::OkStatus();
  };
  d.backward = [](const OpContext&, const OpParams& params,
                  const BackwardArgs& a) -> absl::Status {
    const Shape& s = a.in_grads[0].shape;
    const auto& p = ParamsAs<SplitParams>(params);
    MXGRID_ASSIGN_OR_RETURN(int ax, NormalizeAxis("SliceChannel", p.axis, s.ndim()));
    const int64_t outer = s.ProdRange(0, ax), inner = s.ProdRange(ax + 1, s.ndim());
    const int64_t len = s[ax] / p.num_outputs;
    for (size_t i = 0; i < a.out_grads.size(); ++i) {
      MXGRID_RETURN_IF_ERROR(CopyBlock("SliceChannel", a.out_grads[i], len, 0, a.in_grads[0],
                                       s[ax], i * len, outer, len, inner, a.reqs[0]));
    }
    return absl::OkStatus();
  };
  return d;
}

OpDef SliceAxis() {
  OpDef d;
  d.name = "slice_axis";
  d.description = "The elements [begin, end) along `axis`.";
  d.params = {{"axis", "int", "", true, "Axis to slice."},
              {"begin", "int", "", true, "First index (negative from the end)."},
              {"end", "int or None", "", true, "End index (exclusive; None: the end)."}};
  d.parse = [](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<SliceAxisParams>();
    ParamReader r("slice_axis", attrs);
    MXGRID_RETURN_IF_ERROR(r.Int("axis", &p->axis));
    MXGRID_RETURN_IF_ERROR(r.Int("begin", &p->begin));
    if (!attrs.count("end")) return r.Error("parameter 'end' is required");
    MXGRID_RETURN_IF_ERROR(r.OptionalInt("end", &p->end));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams&) { return std::vector<std::string>{"data"}; };
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [](const OpParams& params, std::vector<InferShape>* in,
                     std::vector<InferShape>* out) -> absl::Status {
    if (!IsKnown((*in)[0])) return absl::OkStatus();
    int ax;
    int64_t b, e;
    MXGRID_RETURN_IF_ERROR(SliceRange(ParamsAs<SliceAxisParams>(params), *(*in)[0], &ax, &b, &e));
    Shape o = *(*in)[0];
    o[ax] = e - b;
    return Unify("slice_axis", "output 0", o, &(*out)[0]);
  };
  d.forward = [](const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                 absl::Span<const OpReq> reqs,
                 absl::Span<const TensorView> out) -> absl::Status {
    const Shape& s = in[0].shape;
    int ax;
    int64_t b, e;
    MXGRID_RETURN_IF_ERROR(SliceRange(ParamsAs<SliceAxisParams>(params), s, &ax, &b, &e));
    return CopyBlock("slice_axis", in[0], s[ax], b, out[0], e - b, 0, s.ProdRange(0, ax), e - b,
                     s.ProdRange(ax + 1, s.ndim()), reqs[0]);
  };
  d.backward = [](const OpContext&, const OpParams& params,
                  const BackwardArgs& a) -> absl::Status {
    const Shape& s = a.in_grads[0].shape;
    int ax;
    int64_t b, e;
    MXGRID_RETURN_IF_ERROR(SliceRange(ParamsAs<SliceAxisParams>(params), s, &ax, &b, &e));
    return CopyBlock("slice_axis", a.out_grads[0], e - b, 0, a.in_grads[0], s[ax], b,
                     s.ProdRange(0, ax), e - b, s.ProdRange(ax + 1, s.ndim()), a.reqs[0],
                     /*zero=*/true);
  };
  return d;
}

}  // namespace

absl::Status RegisterConcatSliceOps(Registry* registry) {
  MXGRID_RETURN_IF_ERROR(registry->Register(Concat()));
  MXGRID_RETURN_IF_ERROR(registry->Register(SliceChannel()));
  return registry->Register(SliceAxis());
}

}  // namespace mxgrid::ops

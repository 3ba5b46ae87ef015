// SequenceMask, SequenceLast and SequenceReverse, as MXNet 1.9.1 defines them. data is
// (max_len, batch, ...) for axis 0 or (batch, max_len, ...) for axis 1 (SequenceReverse:
// axis 0 only); with use_sequence_length=True a second input sequence_length (batch,)
// gives each sequence's length (truncated toward zero), else every sequence is max_len.
//   SequenceMask: steps at or past a sequence's length become `value`.
//   SequenceLast: the step at length - 1 of each sequence (the axis is removed).
//   SequenceReverse: each sequence's first `length` steps reversed, padding kept in place.
// Each output element copies one data element (or is the mask value), so backward routes
// the head gradient back along the same map; sequence_length gets a zero gradient.
// Lengths SequenceLast/SequenceReverse cannot use (outside [1, max_len] / [0, max_len])
// are InvalidArgument. float32/float64.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "libs/base/status_macros.h"
#include "libs/ops/nn/nn_params.h"
#include "libs/ops/nn/nn_util.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::nn {

const char* SeqName(SeqKind k) {
  return k == SeqKind::kMask ? "SequenceMask" : k == SeqKind::kLast ? "SequenceLast"
                                                                   : "SequenceReverse";
}

namespace {

absl::Status Infer(const OpParams& params, std::vector<InferShape>* in,
                   std::vector<InferShape>* out) {
  const auto& p = ParamsAs<SeqParams>(params);
  const char* op = SeqName(p.kind);
  if (!(*in)[0]) return absl::OkStatus();
  const Shape& s = *(*in)[0];
  if (s.ndim() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": data must have at least 2 dimensions, got ", s.ToString()));
  }
  const int batch_axis = p.axis == 0 ? 1 : 0;
  if (p.use_length) {
    MXGRID_RETURN_IF_ERROR(MergeShape(op, "sequence_length", Shape{s[batch_axis]}, &(*in)[1]));
  }
  Shape o = s;
  if (p.kind == SeqKind::kLast) {
    std::vector<int64_t> dims(s.dims().begin(), s.dims().end());
    dims.erase(dims.begin() + p.axis);
    o = Shape(dims);
  }
  return MergeShape(op, "output", o, &(*out)[0]);
}

// For each output element, the data element it copies (-1: the mask value).
absl::StatusOr<std::vector<int64_t>> Map(const SeqParams& p, const Shape& s,
                                         const TensorView* lengths) {
  const char* op = SeqName(p.kind);
  const int64_t t_len = s[p.axis], batch = s[p.axis == 0 ? 1 : 0];
  const int64_t rest = s.ProdRange(2, s.ndim());
  auto offset = [&](int64_t t, int64_t b, int64_t r) {
    return (p.axis == 0 ? t * batch + b : b * t_len + t) * rest + r;
  };
  std::vector<int64_t> len(batch, t_len);
  if (lengths != nullptr) {
    VisitDType(lengths->dtype, [&](auto tag) {
      using L = typename decltype(tag)::type;
      for (int64_t b = 0; b < batch; ++b) {
        const double v = ToDouble(lengths->as<L>()[b]);
        len[b] = v != v ? 0 : v > 9e18 ? INT64_MAX : v < -9e18 ? INT64_MIN
                                                               : static_cast<int64_t>(v);
      }
    });
  }
  for (int64_t b = 0; b < batch && p.kind != SeqKind::kMask; ++b) {
    const int64_t lo = p.kind == SeqKind::kLast ? 1 : 0;
    if (len[b] < lo || len[b] > t_len) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": sequence_length[", b, "] = ",
                                                     len[b], " is outside [", lo, ", ", t_len,
                                                     "]"));
    }
  }
  std::vector<int64_t> map;
  if (p.kind == SeqKind::kLast) {
    map.resize(batch * rest);
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t r = 0; r < rest; ++r) map[b * rest + r] = offset(len[b] - 1, b, r);
    }
    return map;
  }
  map.resize(s.Size());
  for (int64_t t = 0; t < t_len; ++t) {
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t r = 0; r < rest; ++r) {
        int64_t src = offset(t, b, r);
        if (p.kind == SeqKind::kMask && t >= len[b]) src = -1;
        if (p.kind == SeqKind::kReverse && t < len[b]) src = offset(len[b] - 1 - t, b, r);
        map[offset(t, b, r)] = src;
      }
    }
  }
  return map;
}

absl::Status Forward(const OpContext&, const OpParams& params, absl::Span<const TensorView> in,
                     absl::Span<const OpReq> reqs, absl::Span<const TensorView> out) {
  const auto& p = ParamsAs<SeqParams>(params);
  if (reqs[0] == OpReq::kNull) return absl::OkStatus();
  MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> map,
                          Map(p, in[0].shape, p.use_length ? &in[1] : nullptr));
  return DispatchFloat(SeqName(p.kind), in[0].dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = in[0].as<T>();
    for (size_t k = 0; k < map.size(); ++k) {
      Store(reqs[0], out[0].as<T>(), k, map[k] < 0 ? static_cast<T>(p.value) : x[map[k]]);
    }
    return absl::OkStatus();
  });
}

absl::Status Backward(const OpContext&, const OpParams& params, const BackwardArgs& a) {
  const auto& p = ParamsAs<SeqParams>(params);
  if (p.use_length && (a.reqs[1] == OpReq::kWriteTo || a.reqs[1] == OpReq::kWriteInplace)) {
    std::memset(a.in_grads[1].data, 0, a.in_grads[1].size() * DTypeSize(a.in_grads[1].dtype));
  }
  if (a.reqs[0] == OpReq::kNull) return absl::OkStatus();
  const TensorView& dx = a.in_grads[0];
  MXGRID_ASSIGN_OR_RETURN(std::vector<int64_t> map,
                          Map(p, dx.shape, p.use_length ? &a.inputs[1] : nullptr));
  return DispatchFloat(SeqName(p.kind), dx.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<T> acc(dx.size(), T(0));
    const T* dy = a.out_grads[0].as<T>();
    for (size_t k = 0; k < map.size(); ++k) {
      if (map[k] >= 0) acc[map[k]] += dy[k];
    }
    for (int64_t i = 0; i < dx.size(); ++i) Store(a.reqs[0], dx.as<T>(), i, acc[i]);
    return absl::OkStatus();
  });
}

OpDef SequenceOp(SeqKind kind) {
  OpDef d = NewOp(SeqName(kind), std::string(SeqName(kind)) + " over variable-length sequences.");
  d.params = {Spec("use_sequence_length", "boolean", "0",
                   "Take the lengths from the sequence_length input.")};
  if (kind == SeqKind::kMask) d.params.push_back(Spec("value", "float", "0", "The mask value."));
  d.params.push_back(Spec("axis", "int", "0", "The sequence axis (0 or 1)."));
  d.parse = [kind](const AttrMap& attrs) -> absl::StatusOr<std::shared_ptr<const OpParams>> {
    auto p = std::make_shared<SeqParams>();
    p->kind = kind;
    ParamReader r(SeqName(kind), attrs);
    MXGRID_RETURN_IF_ERROR(r.Bool("use_sequence_length", &p->use_length, false));
    if (kind == SeqKind::kMask) MXGRID_RETURN_IF_ERROR(r.Float("value", &p->value, 0));
    MXGRID_RETURN_IF_ERROR(r.Int("axis", &p->axis, 0));
    MXGRID_RETURN_IF_ERROR(r.Finish());
    if (kind == SeqKind::kReverse && p->axis != 0) {
      return r.Error("the current implementation expects axis to be 0");
    }
    if (p->axis != 0 && p->axis != 1) return r.Error("axis must be 0 or 1");
    return std::shared_ptr<const OpParams>(std::move(p));
  };
  d.input_names = [](const OpParams& p) {
    if (ParamsAs<SeqParams>(p).use_length) {
      return std::vector<std::string>{"data", "sequence_length"};
    }
    return std::vector<std::string>{"data"};
  };
  d.infer_shape = Infer;
  d.infer_type = [](const OpParams& params, std::vector<InferType>* in,
                    std::vector<InferType>* out) -> absl::Status {
    if (!(*in)[0]) (*in)[0] = (*out)[0];
    (*out)[0] = (*in)[0];
    if (in->size() > 1 && !(*in)[1]) (*in)[1] = (*in)[0];
    return absl::OkStatus();
  };
  d.forward = Forward;
  d.backward = Backward;
  d.backward_deps = {true, false};
  return d;
}

}  // namespace

OpDef MakeSequenceMaskOp() { return SequenceOp(SeqKind::kMask); }
OpDef MakeSequenceLastOp() { return SequenceOp(SeqKind::kLast); }
OpDef MakeSequenceReverseOp() { return SequenceOp(SeqKind::kReverse); }

}  // namespace mxgrid::ops::nn

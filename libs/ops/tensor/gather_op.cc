#include "libs/ops/tensor/gather_op.h"

#include <cstring>
#include <utility>

#include "libs/base/status_macros.h"

namespace mxgrid::ops::tensor_internal {

NamesFn Names(std::vector<std::string> names) {
  return [names = std::move(names)](const OpParams&) { return names; };
}

int64_t IndexAt(const TensorView& t, int64_t i) {
  return VisitDType(t.dtype, [&](auto tag) -> int64_t {
    using T = typename decltype(tag)::type;
    const double v = ToDouble(t.as<T>()[i]);
    // Saturates (NaN and huge values land out of range, where clip/wrap/raise handle them).
    if (!(v == v)) return 0;
    if (v >= 9.2e18) return INT64_MAX;
    if (v <= -9.2e18) return INT64_MIN;
    return static_cast<int64_t>(v);
  });
}

Shape ReplaceAxis(const Shape& s, int axis, absl::Span<const int64_t> mid) {
  std::vector<int64_t> dims(s.dims().begin(), s.dims().begin() + axis);
  dims.insert(dims.end(), mid.begin(), mid.end());
  dims.insert(dims.end(), s.dims().begin() + axis + 1, s.dims().end());
  return Shape(dims);
}

OpDef GatherOp(const std::string& name, std::vector<std::string> aliases, NamesFn inputs,
               int num_index, ParseFn parse, GatherShapeFn shape_fn, GatherMapFn map_fn) {
  OpDef d;
  d.name = name;
  d.aliases = std::move(aliases);
  d.description = name + " (MXNet-compatible): every output element copies an input element.";
  d.parse = std::move(parse);
  d.input_names = std::move(inputs);
  d.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  d.infer_shape = [name, shape_fn](const OpParams& p, std::vector<InferShape>* in,
                                   std::vector<InferShape>* out) -> absl::Status {
    MXGRID_ASSIGN_OR_RETURN(InferShape o, shape_fn(p, in));
    if (!o) return absl::OkStatus();
    return Unify(name, "output 0", o, &(*out)[0]);
  };
  d.infer_type = [num_index](const OpParams&, std::vector<InferType>* in,
                             std::vector<InferType>* out) -> absl::Status {
    const int num_data = static_cast<int>(in->size()) - num_index;
    InferType t = (*out)[0];
    for (int i = 0; i < num_data && !t; ++i) t = (*in)[i];
    for (int i = 0; i < num_data; ++i) {
      if ((*in)[i] && t && *(*in)[i] != *t) {
        return absl::InvalidArgumentError(absl::StrCat("input ", i, " has dtype ",
                                                       DTypeName(*(*in)[i]), ", expected ",
                                                       DTypeName(*t)));
      }
      (*in)[i] = t;
    }
    (*out)[0] = t;
    for (int i = num_data; i < static_cast<int>(in->size()); ++i) {
      if (!(*in)[i]) (*in)[i] = DType::kFloat32;
    }
    return absl::OkStatus();
  };
  d.forward = [name, map_fn](const OpContext&, const OpParams& p,
                             absl::Span<const TensorView> in, absl::Span<const OpReq> reqs,
                             absl::Span<const TensorView> out) -> absl::Status {
    if (reqs[0] == OpReq::kNull) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(std::vector<Source> map, map_fn(p, in, out[0].shape));
    return DispatchNumeric(name, out[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* y = out[0].as<T>();
      for (int64_t k = 0, n = static_cast<int64_t>(map.size()); k < n; ++k) {
        Store(reqs[0], y, k, map[k].input < 0 ? T(0) : in[map[k].input].as<T>()[map[k].offset]);
      }
      return absl::OkStatus();
    });
  };
  d.backward = [name, map_fn, num_index](const OpContext&, const OpParams& p,
                                         const BackwardArgs& a) -> absl::Status {
    const int n_in = static_cast<int>(a.in_grads.size()), num_data = n_in - num_index;
    std::vector<TensorView> views(a.in_grads.begin(), a.in_grads.end());
    bool any = false;
    for (int i = 0; i < n_in; ++i) {
      if (i >= num_data) {
        views[i] = a.inputs[i];
        // Index inputs: a zero gradient.
        if (a.reqs[i] == OpReq::kWriteTo || a.reqs[i] == OpReq::kWriteInplace) {
          std::memset(a.in_grads[i].data, 0, a.in_grads[i].size() * DTypeSize(a.in_grads[i].dtype));
        }
      } else if (a.reqs[i] != OpReq::kNull) {
        any = true;
      }
    }
    if (!any) return absl::OkStatus();
    MXGRID_ASSIGN_OR_RETURN(std::vector<Source> map, map_fn(p, views, a.out_grads[0].shape));
    return DispatchNumeric(name, a.out_grads[0].dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int i = 0; i < num_data; ++i) {
        if (a.reqs[i] == OpReq::kWriteTo || a.reqs[i] == OpReq::kWriteInplace) {
          T* dx = a.in_grads[i].as<T>();
          for (int64_t j = 0, n = a.in_grads[i].size(); j < n; ++j) dx[j] = T(0);
        }
      }
      const T* dy = a.out_grads[0].as<T>();
      for (int64_t k = 0, n = static_cast<int64_t>(map.size()); k < n; ++k) {
        const Source& s = map[k];
        if (s.input < 0 || a.reqs[s.input] == OpReq::kNull) continue;
        a.in_grads[s.input].as<T>()[s.offset] += dy[k];
      }
      return absl::OkStatus();
    });
  };
  d.backward_deps = BackwardDeps{num_index > 0, false};
  return d;
}

}  // namespace mxgrid::ops::tensor_internal

// Parameters, shape helpers and geometry shared by the convolution family.
#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/status_macros.h"
#include "libs/ops/conv/conv_internal.h"
#include "libs/ops/params.h"

namespace mxgrid::ops::conv_internal {

std::string TupleString(const std::vector<int64_t>& v) {
  if (v.size() == 1) return absl::StrCat("(", v[0], ",)");
  return absl::StrCat("(", absl::StrJoin(v, ", "), ")");
}

namespace {

std::atomic<KernelChoice>& KernelChoiceSlot() {
  static std::atomic<KernelChoice> slot([] {
    const char* v = std::getenv("MXGRID_CPU_KERNELS");
    const absl::string_view s = v ? v : "";
    return s == "dnnl" ? KernelChoice::kDnnl : s == "loops" ? KernelChoice::kLoops
                                                            : KernelChoice::kAuto;
  }());
  return slot;
}

}  // namespace

KernelChoice CpuKernelChoice() { return KernelChoiceSlot().load(std::memory_order_relaxed); }
void SetCpuKernelChoice(KernelChoice choice) {
  KernelChoiceSlot().store(choice, std::memory_order_relaxed);
}

namespace {

// A spatial tuple of the kernel's length, defaulting to `fill` when absent.
absl::Status SpatialTuple(ParamReader* r, absl::string_view key, size_t ndim, int64_t fill,
                          int64_t min_value, std::vector<int64_t>* out) {
  out->clear();
  MXGRID_RETURN_IF_ERROR(r->Tuple(key, out));
  if (out->empty()) out->assign(ndim, fill);
  if (out->size() != ndim) {
    return r->Error(absl::StrCat("'", key, "' ", TupleString(*out), " must have ", ndim,
                                 " elements, as the kernel"));
  }
  for (int64_t v : *out) {
    if (v < min_value || v > kMaxSpatialParam) {
      return r->Error(absl::StrCat("'", key, "' ", TupleString(*out), " must be in [",
                                   min_value, ", ", kMaxSpatialParam, "]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const OpParams>> ParseConvParams(absl::string_view op,
                                                                const AttrMap& attrs,
                                                                bool deconv) {
  auto p = std::make_shared<ConvParams>();
  ParamReader r(op, attrs);
  MXGRID_RETURN_IF_ERROR(r.Tuple("kernel", &p->kernel, /*required=*/true));
  const size_t nd = p->kernel.size();
  if (nd < 1 || nd > 3) {
    return r.Error(absl::StrCat("kernel ", TupleString(p->kernel),
                                " must have 1, 2 or 3 elements (1-D, 2-D or 3-D)"));
  }
  for (int64_t k : p->kernel) {
    if (k < 1 || k > kMaxSpatialParam) {
      return r.Error(absl::StrCat("kernel ", TupleString(p->kernel), " must be in [1, ",
                                  kMaxSpatialParam, "]"));
    }
  }
  MXGRID_RETURN_IF_ERROR(SpatialTuple(&r, "stride", nd, 1, 1, &p->stride));
  MXGRID_RETURN_IF_ERROR(SpatialTuple(&r, "dilate", nd, 1, 1, &p->dilate));
  MXGRID_RETURN_IF_ERROR(SpatialTuple(&r, "pad", nd, 0, 0, &p->pad));
  if (deconv) {
    MXGRID_RETURN_IF_ERROR(SpatialTuple(&r, "adj", nd, 0, 0, &p->adj));
    MXGRID_RETURN_IF_ERROR(r.Tuple("target_shape", &p->target_shape));
    if (!p->target_shape.empty() && p->target_shape.size() != nd) {
      return r.Error(absl::StrCat("'target_shape' ", TupleString(p->target_shape),
                                  " must have ", nd, " elements, as the kernel"));
    }
    for (int64_t t : p->target_shape) {
      if (t < 0 || t > kMaxSpatialParam) {
        return r.Error(absl::StrCat("'target_shape' ", TupleString(p->target_shape),
                                    " must be in [0, ", kMaxSpatialParam, "] (0: not set)"));
      }
    }
  }
  MXGRID_RETURN_IF_ERROR(r.Int("num_filter", &p->num_filter));
  MXGRID_RETURN_IF_ERROR(r.Int("num_group", &p->num_group, 1));
  if (p->num_filter < 1 || p->num_group < 1) {
    return r.Error("num_filter and num_group must be >= 1");
  }
  MXGRID_RETURN_IF_ERROR(r.Bool("no_bias", &p->no_bias, deconv));
  int64_t workspace = 0;
  MXGRID_RETURN_IF_ERROR(r.Int("workspace", &workspace, 1024));
  bool cudnn_off = false;
  MXGRID_RETURN_IF_ERROR(r.Bool("cudnn_off", &cudnn_off, false));
  std::string tune, layout;
  MXGRID_RETURN_IF_ERROR(
      r.Enum("cudnn_tune", &tune, {"None", "off", "limited_workspace", "fastest"}, "None"));
  MXGRID_RETURN_IF_ERROR(r.Enum("layout", &layout, {"None", "NCW", "NCHW", "NCDHW"}, "None"));
  if ((layout == "NCW" && nd != 1) || (layout == "NCHW" && nd != 2) ||
      (layout == "NCDHW" && nd != 3)) {
    return r.Error(absl::StrCat("layout ", layout, " does not match kernel ",
                                TupleString(p->kernel)));
  }
  MXGRID_RETURN_IF_ERROR(r.Finish());
  return std::shared_ptr<const OpParams>(std::move(p));
}

std::vector<ParamSpec> ConvParamSpecs(bool deconv) {
  std::vector<ParamSpec> specs = {
      {"kernel", "Shape(tuple)", "", true, "Kernel size: (w,), (h, w) or (d, h, w)."},
      {"stride", "Shape(tuple)", "[]", false, "Stride; default 1 per dimension."},
      {"dilate", "Shape(tuple)", "[]", false, "Dilation; default 1 per dimension."},
      {"pad", "Shape(tuple)", "[]", false, "Zero padding per side; default 0."},
      {"num_filter", "int (non-negative)", "", true, "Number of output channels."},
      {"num_group", "int (non-negative)", "1", false, "Number of groups."},
      {"workspace", "long (non-negative)", "1024", false, "Accepted and ignored."},
      {"no_bias", "boolean", deconv ? "True" : "False", false, "Whether to omit the bias."},
      {"cudnn_tune", "{None, 'fastest', 'limited_workspace', 'off'}", "None", false,
       "Accepted and ignored."},
      {"cudnn_off", "boolean", "False", false, "Accepted and ignored."},
      {"layout", "{None, 'NCDHW', 'NCHW', 'NCW'}", "None", false,
       "Data layout (channels first)."},
  };
  if (deconv) {
    specs.push_back({"adj", "Shape(tuple)", "[]", false, "Extra output size per dimension."});
    specs.push_back({"target_shape", "Shape(tuple)", "[]", false,
                     "Output spatial shape; overrides pad and adj."});
  }
  return specs;
}

ConvGeom MakeGeom(int64_t n, int64_t c, int64_t f, const std::vector<int64_t>& in_sp,
                  const std::vector<int64_t>& out_sp, const ConvParams& p) {
  // Per spatial dim of the 3-D form (depth, height, width); leading ones the op lacks are unit.
  const int nsp = static_cast<int>(p.kernel.size());
  auto at = [nsp](const std::vector<int64_t>& v, int i, int64_t unit) {
    const int j = i - (3 - nsp);
    return j < 0 ? unit : v[j];
  };
  ConvGeom g{};
  g.n = n;
  g.c = c;
  g.f = f;
  g.groups = p.num_group;
  g.nsp = nsp;
  int64_t* in[] = {&g.d, &g.h, &g.w};
  int64_t* out[] = {&g.od, &g.oh, &g.ow};
  int64_t* k[] = {&g.kd, &g.kh, &g.kw};
  int64_t* s[] = {&g.sd, &g.sh, &g.sw};
  int64_t* pad[] = {&g.pd, &g.ph, &g.pw};
  int64_t* dil[] = {&g.dd, &g.dh, &g.dw};
  for (int i = 0; i < 3; ++i) {
    *in[i] = at(in_sp, i, 1);
    *out[i] = at(out_sp, i, 1);
    *k[i] = at(p.kernel, i, 1);
    *s[i] = at(p.stride, i, 1);
    *pad[i] = at(p.pad, i, 0);
    *dil[i] = at(p.dilate, i, 1);
  }
  return g;
}

OpDef NewConvOpDef(const char* name, std::string description, bool deconv) {
  OpDef def;
  def.name = name;
  def.description = std::move(description);
  def.params = ConvParamSpecs(deconv);
  def.parse = [name, deconv](const AttrMap& attrs) {
    return ParseConvParams(name, attrs, deconv);
  };
  def.input_names = [](const OpParams& params) {
    if (ParamsAs<ConvParams>(params).no_bias) return std::vector<std::string>{"data", "weight"};
    return std::vector<std::string>{"data", "weight", "bias"};
  };
  def.output_names = [](const OpParams&) { return std::vector<std::string>{"output"}; };
  def.backward_deps = BackwardDeps{/*inputs=*/true, /*outputs=*/false};
  return def;
}

}  // namespace mxgrid::ops::conv_internal

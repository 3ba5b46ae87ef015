#include "libs/ops/registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"
#include "libs/ops/half_in_float.h"

namespace mxgrid::ops {

absl::Status Registry::Register(OpDef def) {
  std::vector<std::string> names = def.aliases;
  names.push_back(def.name);
  for (const std::string& n : names) {
    if (by_name_.count(n) != 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("operator name '", n, "' is registered twice (by ", def.name, ")"));
    }
  }
  if (!def.parse || !def.input_names || !def.output_names || !def.infer_shape ||
      !def.forward) {
    return absl::InvalidArgumentError(absl::StrCat(
        "operator ", def.name, " lacks parse, input_names, output_names, infer_shape or "
        "forward"));
  }
  if (!def.native_half) ComputeHalfInFloat(&def);
  defs_.push_back(std::make_unique<OpDef>(std::move(def)));
  const OpDef* stored = defs_.back().get();
  for (const std::string& n : names) by_name_.emplace(n, stored);
  return absl::OkStatus();
}

absl::StatusOr<const OpDef*> Registry::Find(absl::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown operator ", Quoted(name)));
  }
  return it->second;
}

absl::StatusOr<OpDef*> Registry::FindMutable(absl::string_view name) {
  MXGRID_ASSIGN_OR_RETURN(const OpDef* def, Find(name));
  for (const std::unique_ptr<OpDef>& d : defs_) {
    if (d.get() == def) return d.get();
  }
  return absl::NotFoundError(absl::StrCat("unknown operator ", Quoted(name)));
}

absl::StatusOr<ParsedOp> Registry::Parse(absl::string_view name, const AttrMap& attrs) const {
  MXGRID_ASSIGN_OR_RETURN(const OpDef* def, Find(name));
  MXGRID_ASSIGN_OR_RETURN(std::shared_ptr<const OpParams> params, def->parse(attrs));
  return ParsedOp(def, std::move(params), attrs);
}

std::vector<const OpDef*> Registry::List() const {
  std::vector<const OpDef*> out;
  out.reserve(defs_.size());
  for (const auto& d : defs_) out.push_back(d.get());
  std::sort(out.begin(), out.end(),
            [](const OpDef* a, const OpDef* b) { return a->name < b->name; });
  return out;
}

}  // namespace mxgrid::ops

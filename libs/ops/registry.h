// The operator registry: every operator mxgrid knows, by name and MXNet alias.
//
//   const Registry& registry = GlobalRegistry();   // all built-in families (builtin.h)
//   MXGRID_ASSIGN_OR_RETURN(ParsedOp op, registry.Parse("Activation", {{"act_type", "relu"}}));
//
// Op families register through explicit calls (RegisterNNOps(&registry), ...), never static
// initializers. Thread-safety: a Registry is built once, then only read (thread-safe).
#ifndef MXGRID_LIBS_OPS_REGISTRY_H_
#define MXGRID_LIBS_OPS_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/ops/op.h"

namespace mxgrid::ops {

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Adds an operator. AlreadyExists when its name or an alias is taken.
  absl::Status Register(OpDef def);

  // The definition to attach CUDA kernels to while the registry is built (cuda builds);
  // NotFound naming the operator otherwise.
  absl::StatusOr<OpDef*> FindMutable(absl::string_view name);

  // By name or alias; NotFound naming the operator otherwise.
  absl::StatusOr<const OpDef*> Find(absl::string_view name) const;
  // Find + OpDef::parse.
  absl::StatusOr<ParsedOp> Parse(absl::string_view name, const AttrMap& attrs) const;

  // Every operator once, sorted by name.
  std::vector<const OpDef*> List() const;

 private:
  std::vector<std::unique_ptr<OpDef>> defs_;
  std::map<std::string, const OpDef*, std::less<>> by_name_;  // names and aliases
};

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_REGISTRY_H_

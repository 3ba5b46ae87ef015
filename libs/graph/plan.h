// Plan: what an executor runs — the forward steps, the gradient graph (reverse-mode autodiff
// with gradient aggregation) and a memory plan assigning every intermediate array a block of
// storage (liveness-based reuse and in-place writes where the operator allows).
//
//   PlanOptions options;
//   options.shapes = {{"data", Shape{128, 784}}};
//   options.grad_reqs = {{"fc1_weight", ops::OpReq::kWriteTo}, ...};
//   MXGRID_ASSIGN_OR_RETURN(Plan plan, MakePlan(net, options));
//
// Entries are the arrays of the run: the forward graph's entries keep their IndexedGraph ids
// (variables are bound externally: arguments, auxiliary states), followed by gradient
// entries. Steps are in execution order; forward steps come first. Every entry with
// `storage >= 0` lives at offset 0 of block `storage` (storage_bytes[storage] bytes), which
// other entries with disjoint lifetimes share; kExternal entries are arrays the caller binds
// (arguments, auxiliary states, argument gradients, head gradients).
//
// Thread-safety: a Plan is an immutable value once made.
#ifndef MXGRID_LIBS_GRAPH_PLAN_H_
#define MXGRID_LIBS_GRAPH_PLAN_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/graph/indexed_graph.h"
#include "libs/graph/symbol.h"
#include "libs/ops/op.h"

namespace mxgrid::graph {

struct PlanOptions {
  // Known shapes and dtypes by variable name (see InferShape); variables with no dtype given
  // or declared are float32, as simple_bind assumes.
  std::map<std::string, ops::InferShape> shapes;
  std::map<std::string, DType> dtypes;
  // Gradient requests by argument name: kWriteTo ('write'), kAddTo ('add'); absent or kNull
  // means no gradient. With none, the plan is forward-only.
  std::map<std::string, ops::OpReq> grad_reqs;
  // False: every intermediate array gets its own block (for measuring what planning saves).
  bool share_memory = true;
  // Merge common expressions first (cse.h, with the global registry's "_copy"); the plan's
  // graph is then the merged one. Services turn it on by default, as MXNet's executors.
  bool eliminate_common_expr = false;
};

struct Plan {
  static constexpr int kExternal = -1;
  static constexpr int kNone = -1;  // an absent step input or output

  struct Entry {
    Shape shape;
    DType dtype = DType::kFloat32;
    int storage = kExternal;
  };

  enum class StepKind {
    kForward,   // node's forward: inputs = node inputs (args, aux); outputs = all its outputs
    kBackward,  // node's backward; see below
    kSum,       // outputs[0] (req) = sum of inputs (gradient aggregation, ElementWiseSum)
    kZero,      // outputs[0] = 0 (a gradient nothing contributes to)
  };
  // kBackward inputs: one out-grad per visible output (kNone for loss ops), then the forward
  // inputs when the op's BackwardDeps asks (all of them), then its forward outputs when asked
  // (all, hidden included). Outputs: one gradient per forward input, kNone when not wanted.
  struct Step {
    StepKind kind;
    int node = -1;  // forward node id for kForward / kBackward
    std::vector<int> inputs;
    std::vector<int> outputs;
    std::vector<ops::OpReq> reqs;  // per output
  };

  std::shared_ptr<const IndexedGraph> graph;
  std::vector<Entry> entries;
  std::vector<Step> steps;
  int num_forward_steps = 0;
  std::vector<int64_t> storage_bytes;
  // Per list_arguments() entry: its external gradient entry, or kNone.
  std::vector<int> arg_grad_entries;
  // Per output: the external head-gradient entry Backward needs, or kNone (loss outputs,
  // outputs with no gradient path, forward-only plans).
  std::vector<int> head_grad_entries;

  bool has_backward() const { return static_cast<int>(steps.size()) > num_forward_steps; }
  // Bytes of all blocks, and of every non-external entry on its own (no planning).
  int64_t planned_bytes() const;
  int64_t unplanned_bytes() const;
};

// Infers shapes and types (every entry must become known: InvalidArgument naming the
// arguments that stay unknown), builds the gradient steps for the requested arguments and
// plans memory.
absl::StatusOr<Plan> MakePlan(const Symbol& symbol, const PlanOptions& options);

// Bytes a planned block of `entry` takes (rounded up to 64).
int64_t EntryBytes(const Plan::Entry& entry);

}  // namespace mxgrid::graph

#endif  // MXGRID_LIBS_GRAPH_PLAN_H_

// MXNet's Symbol JSON (`sym.tojson()`, `prefix-symbol.json`): the text form of a Symbol graph,
// written as MXNet 1.9.1 writes it and read from files of any MXNet version.
//
//   std::string text = SaveJson(net);                       // what net.tojson() would print
//   MXGRID_ASSIGN_OR_RETURN(Symbol loaded, LoadJson(text));  // mx.sym.load_json(text)
//   loaded.ListArguments();                                 // same lists as MXNet reports
//
// Format (nnvm's JSONGraph, see docs' reference §2): "nodes" in DFS post-order from the heads,
// each {"op" ("null" for a variable), "name", "attrs" (only when non-empty), "inputs"
// [[node id, output index, 0], ...]}; "arg_nodes" (ids of the variables); "node_row_ptr"
// (prefix sums of every node's output count, hidden outputs included); "heads" (the outputs);
// "attrs" {"mxnet_version": ["int", 10901]}. SaveJson lays the text out as dmlc's JSONWriter
// does, so a Symbol MXNet could build saves byte for byte as MXNet saves it.
//
// LoadJson follows MXNet's LoadLegacyJSON: node attributes from "param" (pre-0.9), "attr"
// and "attrs" merged, later in that list winning on a shared key; input entries of 2 or 3
// integers; "arg_nodes", "node_row_ptr", "backward_source_id" and "control_deps" accepted and
// ignored (the graph is rebuilt from the inputs; control dependencies only order execution).
// Files older than the current version are upgraded as MXNet 1.9.1 upgrades them:
//   * before 1.9.1: hidden keys ctx_group, lr_mult, wd_mult, force_mirroring, mirror_stage
//     become "__key__", and an operator's "<input>_lr_mult" (etc.) moves onto that input's
//     variable as "__lr_mult__";
//   * no "mxnet_version" (0.8.0) and before 0.9.0: an operator with fewer inputs than it takes
//     gets the missing trailing ones (aux states) as new variables "<node>_<input>" carrying
//     the operator's attributes;
//   * before 0.9.4: BatchNorm's moving_mean / moving_var variables get their "__init__";
//   * before 0.9.5: argmax / argmin drop "axis": "-1" (then meaning "flatten").
// Unlike MXNet, which accepts these and fails (or crashes) later, LoadJson rejects an
// operator with the wrong number of inputs, a variable with inputs, output indices past a
// node's outputs, cycles, empty "heads" and control-flow subgraphs. Nodes unreachable from
// the heads are checked for structure and a known operator, then dropped (as MXNet does).
// Every error is InvalidArgument and names the node or the byte offset; no input crashes or
// leaks, however malformed or deep (limits: kMaxJsonNodes, kMaxJsonNesting, and at most
// 16384 for an operator's num_args / num_outputs, which size its input and output lists).
//
// Thread-safety: both functions are pure; call them from any thread.
#ifndef MXGRID_LIBS_GRAPH_JSON_H_
#define MXGRID_LIBS_GRAPH_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/graph/symbol.h"
#include "libs/ops/builtin.h"
#include "libs/ops/registry.h"

namespace mxgrid::graph {

// The most nodes LoadJson builds (the file's plus those the 0.9.0 upgrade creates).
inline constexpr int64_t kMaxJsonNodes = 10'000'000;
// The deepest nesting of JSON arrays and objects LoadJson parses (a graph needs 5).
inline constexpr int kMaxJsonNesting = 1000;
// The MXNet version SaveJson writes: MXNET_MAKE_VERSION(1, 9, 1).
inline constexpr int kMXNetJsonVersion = 10901;

// The MXNet 1.x -symbol.json text of `symbol`. Attributes are written sorted, as strings.
std::string SaveJson(const Symbol& symbol);

// Parses Symbol JSON of any MXNet version (see above), resolving operators in `registry`.
// InvalidArgument on any malformed, inconsistent or unsupported input.
absl::StatusOr<Symbol> LoadJson(absl::string_view text,
                                const ops::Registry& registry = ops::GlobalRegistry());

}  // namespace mxgrid::graph

#endif  // MXGRID_LIBS_GRAPH_JSON_H_

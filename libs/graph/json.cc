#include "libs/graph/json.h"

#include <array>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/quote.h"
#include "libs/base/status_macros.h"

namespace mxgrid::graph {
namespace {

using Json = nlohmann::json;

constexpr int kVersion0_8_0 = 800;
constexpr int kVersion0_9_0 = 900;
constexpr int kVersion0_9_4 = 904;
constexpr int kVersion0_9_5 = 905;
// Largest num_args / num_outputs LoadJson lets an operator parse: the ops library builds
// that many input or output names, so an absurd count in a file must not reach it.
constexpr int64_t kMaxOpArity = 1 << 14;
// MXNet's kHiddenKeys (src/c_api/c_api_common.h), in its order.
constexpr std::string_view kHiddenKeys[] = {"ctx_group", "lr_mult", "wd_mult",
                                            "force_mirroring", "mirror_stage"};

// ---- Writing: dmlc::JSONWriter's layout. ----

class DmlcWriter {
 public:
  void BeginArray(bool multi_line) { Begin('[', multi_line); }
  void BeginObject(bool multi_line) { Begin('{', multi_line); }
  void EndArray() { End(']'); }
  void EndObject() { End('}'); }
  // Starts the next array item or object value.
  void Item() {
    if (scopes_.back().count++ > 0) out_ += ", ";
    Separator();
  }
  void Key(absl::string_view key) {
    Item();
    String(key);
    out_ += ": ";
  }
  // dmlc escapes only \r \n \t \\ \"; other control characters get \u escapes so that the
  // text stays valid JSON.
  void String(absl::string_view s) {
    out_ += '"';
    for (char c : s) {
      switch (c) {
        case '\r': out_ += "\\r"; break;
        case '\n': out_ += "\\n"; break;
        case '\t': out_ += "\\t"; break;
        case '\\': out_ += "\\\\"; break;
        case '"': out_ += "\\\""; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            static constexpr char kHex[] = "0123456789abcdef";
            out_ += "\\u00";
            out_ += kHex[(c >> 4) & 0xF];
            out_ += kHex[c & 0xF];
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
  }
  void Int(int64_t v) { absl::StrAppend(&out_, v); }

  // dmlc writes a vector on several lines when it has more than 10 items.
  void IntArray(const std::vector<int64_t>& values) {
    BeginArray(values.size() > 10);
    for (int64_t v : values) {
      Item();
      Int(v);
    }
    EndArray();
  }
  // [node id, output index, version] triplets.
  void Entries(const std::vector<std::array<int64_t, 3>>& entries) {
    BeginArray(entries.size() > 10);
    for (const std::array<int64_t, 3>& entry : entries) {
      Item();
      BeginArray(false);
      for (int64_t v : entry) {
        Item();
        Int(v);
      }
      EndArray();
    }
    EndArray();
  }
  void Attrs(const ops::AttrMap& attrs) {
    BeginObject(attrs.size() > 1);
    for (const auto& [key, value] : attrs) {
      Key(key);
      String(value);
    }
    EndObject();
  }

  std::string Take() { return std::move(out_); }

 private:
  struct Scope {
    bool multi_line;
    int64_t count;
  };
  void Begin(char c, bool multi_line) {
    out_ += c;
    scopes_.push_back({multi_line, 0});
  }
  void End(char c) {
    const Scope scope = scopes_.back();
    scopes_.pop_back();
    if (scope.multi_line && scope.count > 0) Separator();
    out_ += c;
  }
  void Separator() {
    if (scopes_.empty() || scopes_.back().multi_line) {
      out_ += '\n';
      out_.append(scopes_.size() * 2, ' ');
    }
  }

  std::string out_;
  std::vector<Scope> scopes_;
};

// ---- Reading. ----

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

std::optional<int64_t> AsInt(const Json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

// An input or head entry as the file gives it; `node` is checked in range when read, `index`
// against the node's outputs once operators are parsed.
struct RawEntry {
  int64_t node = 0;
  int64_t index = 0;
};

struct RawNode {
  std::string name;
  const ops::OpDef* def = nullptr;  // null for a variable
  ops::AttrMap attrs;
  std::vector<RawEntry> inputs;
  std::optional<ops::ParsedOp> op;  // set for reachable operator nodes once parsed
};

struct RawGraph {
  std::vector<RawNode> nodes;
  std::vector<RawEntry> heads;
  int version = kVersion0_8_0;
};

// A JSON value for an error message, cut short.
std::string Snippet(const Json& v) {
  std::string text = v.dump();
  if (text.size() > 64) text = absl::StrCat(Utf8Prefix(text, 60), " ...");
  return text;
}

std::string Label(const RawNode& node) { return absl::StrCat("node ", Quoted(node.name)); }

// The parse error's byte offset and nlohmann's description, found by a second, SAX pass.
class ErrorLocator : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag.
    const size_t tag_end = what.find("] ");
    if (what.rfind("[json.exception", 0) == 0 && tag_end != std::string::npos) {
      what = what.substr(tag_end + 2);
    }
    // nlohmann counts the bytes read, the offending one included.
    // Clipped: nlohmann repeats the token it last read, which can be the whole input.
    error_ = absl::StrCat("malformed JSON at byte offset ", position > 0 ? position - 1 : 0,
                          ": ", Clipped(what));
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

// Rejects nesting deeper than kMaxJsonNesting before nlohmann builds anything.
absl::Status CheckNesting(absl::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonNesting) {
        return Invalid(absl::StrCat("JSON nested deeper than ", kMaxJsonNesting,
                                    " levels at byte offset ", i));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> ParseText(absl::string_view text) {
  MXGRID_RETURN_IF_ERROR(CheckNesting(text));
  Json root = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!root.is_discarded()) return root;
  ErrorLocator locator;
  Json::sax_parse(text.begin(), text.end(), &locator);
  return Invalid(locator.error().empty() ? "malformed JSON" : locator.error());
}

// [node, index] or [node, index, version] with node in [0, num_nodes).
absl::StatusOr<RawEntry> ReadEntry(const Json& v, int64_t num_nodes, absl::string_view where) {
  if (!v.is_array() || (v.size() != 2 && v.size() != 3)) {
    return Invalid(absl::StrCat(where, ": an entry must be [node_id, index] or "
                                       "[node_id, index, version], got ", Snippet(v)));
  }
  std::optional<int64_t> values[3] = {0, 0, 0};
  for (size_t i = 0; i < v.size(); ++i) values[i] = AsInt(v[i]);
  if (!values[0] || !values[1] || !values[2]) {
    return Invalid(absl::StrCat(where, ": entry ", Snippet(v), " must hold integers"));
  }
  if (*values[0] < 0 || *values[0] >= num_nodes) {
    return Invalid(absl::StrCat(where, ": node id ", *values[0], " out of range [0, ",
                                num_nodes, ")"));
  }
  if (*values[1] < 0) {
    return Invalid(absl::StrCat(where, ": negative output index ", *values[1]));
  }
  return RawEntry{*values[0], *values[1]};
}

absl::Status ReadAttrs(const Json& v, absl::string_view field, absl::string_view where,
                       ops::AttrMap* attrs) {
  if (!v.is_object()) return Invalid(absl::StrCat(where, ": \"", field, "\" must be an object"));
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) {
      return Invalid(absl::StrCat(where, ": attribute ", Quoted(key), " must be a string, got ",
                                  Snippet(value)));
    }
    (*attrs)[key] = value.get<std::string>();
  }
  return absl::OkStatus();
}

absl::Status ReadNode(const Json& j, int64_t id, int64_t num_nodes,
                      const ops::Registry& registry, RawNode* node) {
  std::string where = absl::StrCat("node #", id);
  if (!j.is_object()) return Invalid(absl::StrCat(where, " is not an object"));
  for (const char* field : {"op", "name"}) {
    if (!j.contains(field) || !j[field].is_string()) {
      return Invalid(absl::StrCat(where, ": \"", field, "\" must be a string"));
    }
  }
  node->name = j["name"].get<std::string>();
  where = Label(*node);
  if (!j.contains("inputs") || !j["inputs"].is_array()) {
    return Invalid(absl::StrCat(where, ": \"inputs\" must be an array"));
  }
  // "param" (pre-0.9) loses to "attr" and "attrs" in MXNet 1.9.1.
  for (const char* field : {"param", "attr", "attrs"}) {
    if (j.contains(field)) MXGRID_RETURN_IF_ERROR(ReadAttrs(j[field], field, where, &node->attrs));
  }
  for (const auto& [key, value] : j.items()) {
    if (key == "op" || key == "name" || key == "inputs" || key == "param" || key == "attr" ||
        key == "attrs") {
      continue;
    }
    if (key == "backward_source_id") {
      if (!AsInt(value)) return Invalid(absl::StrCat(where, ": bad \"backward_source_id\""));
    } else if (key == "control_deps") {
      // Only an execution-order hint; checked, then dropped.
      if (!value.is_array()) return Invalid(absl::StrCat(where, ": bad \"control_deps\""));
      for (const Json& dep : value) {
        const std::optional<int64_t> d = AsInt(dep);
        if (!d || *d < 0 || *d >= num_nodes) {
          return Invalid(absl::StrCat(where, ": control dependency ", Snippet(dep),
                                      " is not a node id"));
        }
      }
    } else if (key == "subgraphs") {
      if (!value.is_array()) return Invalid(absl::StrCat(where, ": bad \"subgraphs\""));
      if (!value.empty()) {
        return Invalid(absl::StrCat(where, ": control-flow subgraphs are not supported"));
      }
    } else {
      return Invalid(absl::StrCat(where, ": unknown field ", Quoted(key)));
    }
  }
  for (const Json& input : j["inputs"]) {
    MXGRID_ASSIGN_OR_RETURN(RawEntry e, ReadEntry(input, num_nodes, where));
    node->inputs.push_back(e);
  }
  const std::string op = j["op"].get<std::string>();
  if (op == "null") {
    if (!node->inputs.empty()) return Invalid(absl::StrCat("variable ", where, " has inputs"));
    return absl::OkStatus();
  }
  absl::StatusOr<const ops::OpDef*> def = registry.Find(op);
  if (!def.ok()) {
    return Invalid(absl::StrCat("unknown operator ", Quoted(op), " at node ",
                                Quoted(node->name)));
  }
  node->def = *def;
  return absl::OkStatus();
}

absl::StatusOr<int> ReadVersion(const Json& attrs) {
  if (!attrs.is_object()) return Invalid("graph \"attrs\" must be an object");
  if (!attrs.contains("mxnet_version")) return kVersion0_8_0;
  const Json& v = attrs["mxnet_version"];
  std::optional<int64_t> version;
  if (v.is_array() && v.size() == 2 && v[0] == "int") version = AsInt(v[1]);
  if (!version || *version < 0 || *version > INT32_MAX) {
    return Invalid(absl::StrCat("graph attribute mxnet_version must be [\"int\", <version>], "
                                "got ", Snippet(v)));
  }
  return static_cast<int>(*version);
}

absl::StatusOr<RawGraph> ReadGraph(const Json& root, const ops::Registry& registry) {
  if (!root.is_object()) return Invalid("symbol JSON must be an object");
  RawGraph g;
  for (const auto& [key, value] : root.items()) {
    if (key == "attrs") {
      MXGRID_ASSIGN_OR_RETURN(g.version, ReadVersion(value));
    } else if (key != "nodes" && key != "heads" && key != "arg_nodes" &&
               key != "node_row_ptr") {
      return Invalid(absl::StrCat("unknown field ", Quoted(key), " in symbol JSON"));
    }
  }
  for (const char* field : {"nodes", "heads"}) {
    if (!root.contains(field) || !root[field].is_array()) {
      return Invalid(absl::StrCat("symbol JSON needs a \"", field, "\" array"));
    }
  }
  const Json& nodes = root["nodes"];
  const int64_t n = static_cast<int64_t>(nodes.size());
  if (n > kMaxJsonNodes) {
    return Invalid(absl::StrCat("symbol JSON has ", n, " nodes; at most ", kMaxJsonNodes,
                                " are supported"));
  }
  g.nodes.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    MXGRID_RETURN_IF_ERROR(ReadNode(nodes[i], i, n, registry, &g.nodes[i]));
  }
  if (root["heads"].empty()) return Invalid("symbol JSON has no outputs: \"heads\" is empty");
  for (const Json& head : root["heads"]) {
    MXGRID_ASSIGN_OR_RETURN(RawEntry e, ReadEntry(head, n, "heads"));
    g.heads.push_back(e);
  }
  return g;
}

// Inputs may name later nodes in hand-written files: any cycle is found here, on ids, before
// a single Node exists.
absl::Status CheckAcyclic(const RawGraph& g) {
  enum : uint8_t { kNew, kOpen, kDone };
  std::vector<uint8_t> state(g.nodes.size(), kNew);
  std::vector<std::pair<int64_t, size_t>> stack;  // (node, next input)
  for (size_t root = 0; root < g.nodes.size(); ++root) {
    if (state[root] != kNew) continue;
    state[root] = kOpen;
    stack.emplace_back(root, 0);
    while (!stack.empty()) {
      const int64_t id = stack.back().first;
      const size_t next = stack.back().second++;
      if (next == g.nodes[id].inputs.size()) {
        state[id] = kDone;
        stack.pop_back();
        continue;
      }
      const int64_t in = g.nodes[id].inputs[next].node;
      if (state[in] == kOpen) {
        return Invalid(absl::StrCat("cyclic graph at node ", Quoted(g.nodes[in].name)));
      }
      if (state[in] == kNew) {
        state[in] = kOpen;
        stack.emplace_back(in, 0);
      }
    }
  }
  return absl::OkStatus();
}

// Ids reachable from the heads in DFS post-order (nnvm's DFSVisit). REQUIRES: acyclic.
std::vector<int64_t> PostOrder(const RawGraph& g) {
  std::vector<int64_t> order;
  std::vector<bool> visited(g.nodes.size());
  std::vector<std::pair<int64_t, size_t>> stack;
  for (const RawEntry& head : g.heads) {
    if (visited[head.node]) continue;
    visited[head.node] = true;
    stack.emplace_back(head.node, 0);
    while (!stack.empty()) {
      const int64_t id = stack.back().first;
      const size_t next = stack.back().second++;
      if (next == g.nodes[id].inputs.size()) {
        order.push_back(id);
        stack.pop_back();
        continue;
      }
      const int64_t in = g.nodes[id].inputs[next].node;
      if (!visited[in]) {
        visited[in] = true;
        stack.emplace_back(in, 0);
      }
    }
  }
  return order;
}

absl::StatusOr<ops::ParsedOp> ParseOp(const RawNode& node, const ops::AttrMap& attrs,
                                      const ops::Registry& registry) {
  for (const char* key : {"num_args", "num_outputs"}) {
    auto it = attrs.find(key);
    double count = 0;
    if (it != attrs.end() && absl::SimpleAtod(it->second, &count) && count > kMaxOpArity) {
      return Invalid(absl::StrCat(Label(node), ": parameter '", key, "' = ", Quoted(it->second),
                                  " exceeds the supported maximum ", kMaxOpArity));
    }
  }
  absl::StatusOr<ops::ParsedOp> op = registry.Parse(node.def->name, attrs);
  if (!op.ok()) return Invalid(absl::StrCat(Label(node), ": ", op.status().message()));
  return op;
}

// MXNet's UpgradeJSON_FixParsing (files before 1.9.1): hidden keys become "__key__"; an
// operator's "<input>_<key>" moves onto that input's variable.
absl::Status FixHiddenKeys(const std::vector<int64_t>& order, const ops::Registry& registry,
                           RawGraph* g) {
  for (int64_t id : order) {
    std::vector<std::pair<std::string, std::string>> hidden;
    ops::AttrMap& attrs = g->nodes[id].attrs;
    for (auto it = attrs.begin(); it != attrs.end();) {
      bool is_hidden = false;
      for (std::string_view key : kHiddenKeys) {
        const size_t pos = it->first.rfind(key);
        if (pos == 0 || (pos != std::string::npos && pos == it->first.size() - key.size())) {
          is_hidden = true;
          break;
        }
      }
      if (!is_hidden) {
        ++it;
        continue;
      }
      hidden.emplace_back(*it);
      it = attrs.erase(it);
    }
    if (hidden.empty()) continue;
    const RawNode& node = g->nodes[id];
    const ops::AttrMap parse_attrs = node.attrs;
    std::optional<std::vector<std::string>> input_names;
    for (const auto& [name, value] : hidden) {
      bool placed = false;
      for (std::string_view key : kHiddenKeys) {
        const size_t pos = name.rfind(key);
        const std::string hidden_key = "__" + std::string(key) + "__";
        if (pos == 0 && key.size() == name.size()) {
          g->nodes[id].attrs[hidden_key] = value;
          placed = true;
          break;
        }
        if (pos != std::string::npos && pos > 1 && pos == name.size() - key.size()) {
          if (node.def == nullptr) break;
          if (!input_names) {
            MXGRID_ASSIGN_OR_RETURN(ops::ParsedOp op, ParseOp(node, parse_attrs, registry));
            input_names = op.input_names();
          }
          // As MXNet: the input name is what precedes the separator before `key`.
          const std::string arg = name.substr(0, pos - 1);
          for (size_t i = 0; i < input_names->size() && i < node.inputs.size(); ++i) {
            RawNode& input = g->nodes[node.inputs[i].node];
            if ((*input_names)[i] != arg) continue;
            if (input.def == nullptr) {
              input.attrs[hidden_key] = value;
              placed = true;
            }
            break;
          }
          break;
        }
      }
      if (!placed) g->nodes[id].attrs[name] = value;
    }
  }
  return absl::OkStatus();
}

// MXNet's UpgradeJSON_000800_000900: aux states were not saved before 0.9.0.
absl::Status AddMissingInputs(const std::vector<int64_t>& order, RawGraph* g) {
  for (int64_t id : order) {
    if (!g->nodes[id].op) continue;
    const int have = static_cast<int>(g->nodes[id].inputs.size());
    const int want = g->nodes[id].op->num_inputs();
    if (have >= want) continue;
    if (static_cast<int64_t>(g->nodes.size()) + want - have > kMaxJsonNodes) {
      return Invalid(absl::StrCat("upgrading legacy JSON would exceed ", kMaxJsonNodes,
                                  " nodes"));
    }
    const std::vector<std::string> names = g->nodes[id].op->input_names();
    for (int i = have; i < want; ++i) {
      RawNode var;
      const std::string& op_name = g->nodes[id].name;
      var.name = op_name.empty() ? names[i] : absl::StrCat(op_name, "_", names[i]);
      var.attrs = g->nodes[id].attrs;
      g->nodes.push_back(std::move(var));  // invalidates references into g->nodes
      g->nodes[id].inputs.push_back(RawEntry{static_cast<int64_t>(g->nodes.size()) - 1, 0});
    }
  }
  return absl::OkStatus();
}

// MXNet's UpgradeJSON_000903_000904: BatchNorm's FSetInputVarAttrOnCompose.
void SetBatchNormInit(const std::vector<int64_t>& order, RawGraph* g) {
  for (int64_t id : order) {
    const RawNode& node = g->nodes[id];
    if (node.def == nullptr || node.def->name != "BatchNorm") continue;
    for (size_t i = 3; i < node.inputs.size() && i <= 4; ++i) {
      RawNode& var = g->nodes[node.inputs[i].node];
      if (var.def != nullptr || var.attrs.count("__init__")) continue;
      var.attrs["__init__"] = i == 3 ? "[\"zero\", {}]" : "[\"one\", {}]";
    }
  }
}

int NumOutputs(const RawNode& node) { return node.op ? node.op->num_outputs() : 1; }

absl::Status CheckOutputIndex(const RawGraph& g, const RawEntry& e, absl::string_view where) {
  const RawNode& source = g.nodes[e.node];
  if (e.index < NumOutputs(source)) return absl::OkStatus();
  return Invalid(absl::StrCat(where, " refers to output ", e.index, " of ", Label(source),
                              ", which has ", NumOutputs(source), " outputs"));
}

absl::Status CheckWiring(const RawGraph& g, const std::vector<int64_t>& order) {
  for (int64_t id : order) {
    const RawNode& node = g.nodes[id];
    if (node.op && static_cast<int>(node.inputs.size()) != node.op->num_inputs()) {
      return Invalid(absl::StrCat(Label(node), " (", node.def->name, ") has ",
                                  node.inputs.size(), " inputs, expects ",
                                  node.op->num_inputs(), ": ",
                                  absl::StrJoin(node.op->input_names(), ", ")));
    }
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      MXGRID_RETURN_IF_ERROR(
          CheckOutputIndex(g, node.inputs[i], absl::StrCat(Label(node), " input ", i)));
    }
  }
  for (size_t i = 0; i < g.heads.size(); ++i) {
    MXGRID_RETURN_IF_ERROR(CheckOutputIndex(g, g.heads[i], absl::StrCat("head ", i)));
  }
  return absl::OkStatus();
}

absl::StatusOr<Symbol> Load(absl::string_view text, const ops::Registry& registry) {
  MXGRID_ASSIGN_OR_RETURN(const Json root, ParseText(text));
  MXGRID_ASSIGN_OR_RETURN(RawGraph g, ReadGraph(root, registry));
  MXGRID_RETURN_IF_ERROR(CheckAcyclic(g));
  std::vector<int64_t> order = PostOrder(g);
  if (g.version < kMXNetJsonVersion) MXGRID_RETURN_IF_ERROR(FixHiddenKeys(order, registry, &g));
  for (int64_t id : order) {
    RawNode& node = g.nodes[id];
    if (node.def == nullptr) continue;
    // MXNet's UpgradeJSON_000904_000905: argmax/argmin axis -1 then meant "all axes".
    if (g.version < kVersion0_9_5 && (node.def->name == "argmax" || node.def->name == "argmin")) {
      auto axis = node.attrs.find("axis");
      if (axis != node.attrs.end() && axis->second == "-1") node.attrs.erase(axis);
    }
    MXGRID_ASSIGN_OR_RETURN(ops::ParsedOp op, ParseOp(node, node.attrs, registry));
    node.op.emplace(std::move(op));
  }
  if (g.version < kVersion0_9_0) {
    MXGRID_RETURN_IF_ERROR(AddMissingInputs(order, &g));
    order = PostOrder(g);
  }
  if (g.version < kVersion0_9_4) SetBatchNormInit(order, &g);
  MXGRID_RETURN_IF_ERROR(CheckWiring(g, order));

  // Every check has passed: build the nodes, inputs before their consumers. Nothing below
  // fails, so no partly wired graph is ever dropped (and none has a cycle to leak).
  std::vector<std::shared_ptr<Node>> built(g.nodes.size());
  for (int64_t id : order) {
    RawNode& raw = g.nodes[id];
    auto node = std::make_shared<Node>();
    node->name = std::move(raw.name);
    node->attrs = std::move(raw.attrs);
    if (raw.op) node->op.emplace(std::move(*raw.op));
    node->inputs.reserve(raw.inputs.size());
    for (const RawEntry& e : raw.inputs) {
      node->inputs.push_back(NodeEntry{built[e.node], static_cast<int>(e.index)});
    }
    built[id] = std::move(node);
  }
  std::vector<NodeEntry> outputs;
  for (const RawEntry& e : g.heads) {
    outputs.push_back(NodeEntry{built[e.node], static_cast<int>(e.index)});
  }
  return Symbol(std::move(outputs));
}

}  // namespace

std::string SaveJson(const Symbol& symbol) {
  const std::vector<const Node*> order = symbol.PostOrder();
  std::unordered_map<const Node*, int64_t> ids;
  for (const Node* n : order) ids.emplace(n, static_cast<int64_t>(ids.size()));
  // nnvm numbers a variable's versions: each mutation by a consumer (an aux state of
  // BatchNorm) gives the mutating entry the next version, and later readers see it.
  // Composition order is replayed as the post-order, which it is for nets built bottom-up.
  std::unordered_map<const Node*, int64_t> var_versions;
  auto input_entries = [&](const Node& n) {
    std::vector<std::array<int64_t, 3>> out;
    std::vector<bool> mutated(n.inputs.size());
    for (int i : n.op ? n.op->aux_indices() : std::vector<int>{}) {
      if (i >= 0 && i < static_cast<int>(mutated.size())) mutated[i] = true;
    }
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Node* in = n.inputs[i].node.get();
      int64_t version = 0;
      if (in->is_variable()) version = mutated[i] ? ++var_versions[in] : var_versions[in];
      out.push_back({ids.at(in), n.inputs[i].index, version});
    }
    return out;
  };
  std::vector<std::array<int64_t, 3>> heads;
  for (const NodeEntry& e : symbol.outputs()) heads.push_back({ids.at(e.node.get()), e.index, 0});

  DmlcWriter w;
  w.BeginObject(true);
  w.Key("nodes");
  w.BeginArray(true);
  std::vector<int64_t> arg_nodes, row_ptr = {0};
  for (const Node* n : order) {
    if (n->is_variable()) arg_nodes.push_back(ids.at(n));
    row_ptr.push_back(row_ptr.back() + n->num_outputs());
    w.Item();
    w.BeginObject(true);
    w.Key("op");
    w.String(n->is_variable() ? "null" : n->op->def().name);
    w.Key("name");
    w.String(n->name);
    if (!n->attrs.empty()) {
      w.Key("attrs");
      w.Attrs(n->attrs);
    }
    w.Key("inputs");
    w.Entries(input_entries(*n));
    w.EndObject();
  }
  w.EndArray();
  w.Key("arg_nodes");
  w.IntArray(arg_nodes);
  w.Key("node_row_ptr");
  w.IntArray(row_ptr);
  w.Key("heads");
  w.Entries(heads);
  w.Key("attrs");
  w.BeginObject(false);
  w.Key("mxnet_version");
  w.BeginArray(false);
  w.Item();
  w.String("int");
  w.Item();
  w.Int(kMXNetJsonVersion);
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return w.Take();
}

absl::StatusOr<Symbol> LoadJson(absl::string_view text, const ops::Registry& registry) {
  // nlohmann is used without exceptions (allow_exceptions=false, types checked before every
  // access); this only turns an allocation failure or a missed case into a status.
  try {
    return Load(text, registry);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory loading symbol JSON");
  } catch (const std::exception& e) {
    return Invalid(absl::StrCat("cannot load symbol JSON: ", Clipped(e.what())));
  }
}

}  // namespace mxgrid::graph

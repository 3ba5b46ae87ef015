#include "tests/robustness/message_fuzzer.h"

#include <cmath>
#include <limits>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/robustness/fuzz_values.h"

namespace mxgrid::robustness {
namespace {

namespace pb = google::protobuf;

constexpr int kMaxDepth = 4;
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

const std::set<std::string>& HandleFields() {
  static const auto* names = new std::set<std::string>{
      "handle", "handles", "into", "src", "inputs", "outputs", "free", "args", "arg_grads",
      "aux", "values", "out_grads"};
  return *names;
}

}  // namespace

MessageFuzzer::MessageFuzzer(FuzzHints hints) : hints_(std::move(hints)) {
  std::set<std::string> params;
  for (const auto& [op, schema] : hints_.ops) {
    op_names_.push_back(op);
    for (const OpSchema::Param& p : schema.params) params.insert(p.name);
  }
  param_names_.assign(params.begin(), params.end());
  if (op_names_.empty()) op_names_ = {"elemwise_add", "FullyConnected", "Concat"};
  if (param_names_.empty()) param_names_ = {"num_hidden", "num_args", "dim", "act_type"};
}

int64_t MessageFuzzer::IntFor(Rng& rng) {
  if (Chance(rng, 0.6)) return static_cast<int64_t>(Below(rng, 6));  // small: reaches code
  static const std::vector<int64_t> kEdges = {
      -1, -2, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min(),
      kI64Max, kI64Min, int64_t{1} << 31, int64_t{1} << 32, (int64_t{1} << 40) + 3, 1000000007};
  if (Chance(rng, 0.8)) return Pick(rng, kEdges);
  return static_cast<int64_t>(rng());
}

uint64_t MessageFuzzer::UintFor(const std::string& name, Rng& rng, const FillState& state) {
  if (state.hinted && (name == "executor" || name == "store") && !hints_.objects.empty() &&
      Chance(rng, 0.8)) {
    return Pick(rng, hints_.objects);
  }
  if (state.hinted && HandleFields().count(name) != 0 && !hints_.handles.empty() &&
      Chance(rng, 0.8)) {
    return Pick(rng, hints_.handles);
  }
  if (state.hinted && absl::StartsWith(name, "new_handle")) {
    if (Chance(rng, 0.5)) return 0;
    if (!hints_.handles.empty() && Chance(rng, 0.3)) return Pick(rng, hints_.handles);
    return 1 + Below(rng, 1000);
  }
  static const std::vector<uint64_t> kEdges = {0, 1, 2, std::numeric_limits<uint64_t>::max(),
                                               uint64_t{1} << 32, (uint64_t{1} << 32) + 1};
  return Chance(rng, 0.7) ? Pick(rng, kEdges) : rng();
}

std::string MessageFuzzer::StringFor(const std::string& name, Rng& rng, FillState* state) {
  if (state->hinted && Chance(rng, 0.85)) {
    if (name == "session") return hints_.session;
    if (name == "op") return state->op = Pick(rng, op_names_);
    if (name == "json" && !hints_.jsons.empty()) {
      return Chance(rng, 0.75) ? Pick(rng, hints_.jsons) : BreakJson(Pick(rng, hints_.jsons), rng);
    }
    if (name == "key" && !hints_.keys.empty()) return Pick(rng, hints_.keys);
    if ((name == "variable" || name == "output_name") && !hints_.arg_names.empty()) {
      return Pick(rng, hints_.arg_names);
    }
    if (name == "type") return Pick(rng, std::vector<std::string>{"local", "device", "dist_sync"});
    if (name == "grad_req") return Pick(rng, std::vector<std::string>{"write", "add", "null"});
    if (name == "name") {
      return Pick(rng, std::vector<std::string>{"sgd", "adam", "nag", "rmsprop", "adagrad",
                                                "signum", "ftrl", "fc9", "data"});
    }
  }
  const double roll = std::uniform_real_distribution<double>(0, 1)(rng);
  if (roll < 0.01) return std::string(size_t{1} << 20, 'A');  // 1 MB
  if (roll < 0.03) return std::string(10000 + Below(rng, 90000), 'B');
  if (roll < 0.05) return RandomBytes(rng, Below(rng, 16));  // usually invalid UTF-8
  if (roll < 0.25) return Pick(rng, AttrValues());
  if (roll < 0.6) return Pick(rng, PlainStrings());
  std::string s(1 + Below(rng, 32), ' ');
  for (char& c : s) c = static_cast<char>(32 + Below(rng, 95));
  return s;
}

void MessageFuzzer::FillMapEntry(pb::Message* entry, const std::string& map_name, Rng& rng,
                                 int depth, FillState* state) {
  const pb::Descriptor* d = entry->GetDescriptor();
  const pb::Reflection* r = entry->GetReflection();
  const pb::FieldDescriptor* key = d->FindFieldByNumber(1);
  const pb::FieldDescriptor* value = d->FindFieldByNumber(2);
  if (key->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
    std::string k;
    const bool attrs = map_name == "attrs" || map_name == "params";
    if (state->hinted && attrs && Chance(rng, 0.85)) {
      k = Pick(rng, param_names_);
    } else if (state->hinted && !attrs && !hints_.arg_names.empty() && Chance(rng, 0.85)) {
      k = Pick(rng, hints_.arg_names);  // inputs, values, shapes, dtypes, grad_reqs, named
    } else {
      k = StringFor("", rng, state);
    }
    r->SetString(entry, key, k);
  } else {
    FillField(entry, key, rng, depth, state);
  }
  if (value->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING &&
      (map_name == "attrs" || map_name == "params") && Chance(rng, 0.8)) {
    r->SetString(entry, value, Pick(rng, AttrValues()));
  } else {
    FillField(entry, value, rng, depth, state);
  }
}

void MessageFuzzer::FillAttrs(pb::Message* m, const pb::FieldDescriptor* f, Rng& rng,
                              const OpSchema& op) {
  const pb::Reflection* r = m->GetReflection();
  auto add = [&](const std::string& key, const std::string& value) {
    pb::Message* entry = r->AddMessage(m, f, &factory_);
    entry->GetReflection()->SetString(entry, entry->GetDescriptor()->FindFieldByNumber(1), key);
    entry->GetReflection()->SetString(entry, entry->GetDescriptor()->FindFieldByNumber(2), value);
  };
  for (const OpSchema::Param& p : op.params) {
    if (p.required ? Chance(rng, 0.93) : Chance(rng, 0.15)) add(p.name, ValueOfType(p.type, rng));
  }
  if (Chance(rng, 0.05)) add(Pick(rng, param_names_), Pick(rng, AttrValues()));
}

void MessageFuzzer::FillField(pb::Message* m, const pb::FieldDescriptor* f, Rng& rng, int depth,
                              FillState* state) {
  const pb::Reflection* r = m->GetReflection();
  const std::string& name = f->name();
  auto op = hints_.ops.find(state->op);
  const bool known_op = state->hinted && op != hints_.ops.end();
  if (known_op && f->is_map() && name == "attrs" && Chance(rng, 0.9)) {
    return FillAttrs(m, f, rng, op->second);
  }
  int count = 1;
  if (known_op && name == "inputs" && f->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT64 &&
      Chance(rng, 0.8)) {
    count = op->second.inputs;  // the operator's arity
  } else if (state->hinted && (name == "outputs" || name == "new_handles") && Chance(rng, 0.7)) {
    count = 0;  // new outputs: the common case
  } else if (f->is_repeated()) {
    const double roll = std::uniform_real_distribution<double>(0, 1)(rng);
    const bool scalar = f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE &&
                        f->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING;
    // Long repeated fields: 100,000 scalars or 1000 messages at the top; 100 or 8 below.
    count = roll < 0.2 ? 0 : roll < 0.55 ? 1 : roll < 0.7 ? 2 : roll < 0.95 ? 3 + Below(rng, 6)
            : roll < 0.98 || depth >= 1 ? (scalar ? 100 : 8) : scalar ? 100000 : 1000;
    if (name == "shape" || name == "dims") count = std::min(count, Chance(rng, 0.9) ? 4 : 40);
  }
  for (int i = 0; i < count; ++i) {
    const bool rep = f->is_repeated();
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_INT32: {
        // A live rank (every test shard has one worker) gets past the rank check.
        const auto v = state->hinted && name == "rank" && Chance(rng, 0.8)
                           ? 0 : static_cast<int32_t>(IntFor(rng));
        rep ? r->AddInt32(m, f, v) : r->SetInt32(m, f, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_INT64: {
        int64_t v = IntFor(rng);
        if (state->hinted && (name == "shape" || name == "dims") && Chance(rng, 0.9)) {
          v = static_cast<int64_t>(Below(rng, 5));
        }
        rep ? r->AddInt64(m, f, v) : r->SetInt64(m, f, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_UINT32: {
        const auto v = static_cast<uint32_t>(UintFor(name, rng, *state));
        rep ? r->AddUInt32(m, f, v) : r->SetUInt32(m, f, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_UINT64: {
        const uint64_t v = UintFor(name, rng, *state);
        rep ? r->AddUInt64(m, f, v) : r->SetUInt64(m, f, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      case pb::FieldDescriptor::CPPTYPE_FLOAT: {
        static const std::vector<double> kValues = {
            0, 1, -1, 0.5, 3, 1e-300, 1e300, std::numeric_limits<double>::infinity(),
            -std::numeric_limits<double>::infinity(), std::nan("")};
        const double v = Pick(rng, kValues);
        if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_FLOAT) {
          rep ? r->AddFloat(m, f, static_cast<float>(v)) : r->SetFloat(m, f, static_cast<float>(v));
        } else {
          rep ? r->AddDouble(m, f, v) : r->SetDouble(m, f, v);
        }
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_BOOL: {
        const bool v = Chance(rng, 0.5);
        rep ? r->AddBool(m, f, v) : r->SetBool(m, f, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        const pb::EnumDescriptor* e = f->enum_type();
        const int v = Chance(rng, 0.85) ? e->value(static_cast<int>(Below(rng, e->value_count())))->number()
                                        : static_cast<int>(IntFor(rng));
        rep ? r->AddEnumValue(m, f, v) : r->SetEnumValue(m, f, v);
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_STRING: {
        std::string v = f->type() == pb::FieldDescriptor::TYPE_BYTES
                            ? (Chance(rng, 0.01) ? RandomBytes(rng, size_t{1} << 20)
                                                 : RandomBytes(rng, Below(rng, 65)))
                            : StringFor(name, rng, state);
        rep ? r->AddString(m, f, std::move(v)) : r->SetString(m, f, std::move(v));
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
        pb::Message* sub = rep ? r->AddMessage(m, f, &factory_) : r->MutableMessage(m, f, &factory_);
        if (f->is_map()) {
          FillMapEntry(sub, name, rng, depth + 1, state);
        } else if (depth < kMaxDepth) {
          Fill(sub, rng, depth + 1, state);
        }
        break;
      }
    }
  }
}

void MessageFuzzer::Fill(pb::Message* m, Rng& rng, int depth, FillState* state) {
  const pb::Descriptor* d = m->GetDescriptor();
  const pb::Reflection* r = m->GetReflection();
  if (d->full_name() == "mxgrid.v1.TensorMeta" && state->hinted && !hints_.shapes.empty() &&
      Chance(rng, 0.5)) {  // a live array's: gets past the shape checks
    r->SetEnumValue(m, d->FindFieldByName("dtype"), 1);  // FLOAT32
    for (int64_t dim : Pick(rng, hints_.shapes)) r->AddInt64(m, d->FindFieldByName("shape"), dim);
    return;
  }
  std::set<const pb::FieldDescriptor*> chosen;  // one member of each oneof, or none
  for (int i = 0; i < d->oneof_decl_count(); ++i) {
    const pb::OneofDescriptor* o = d->oneof_decl(i);
    if (Chance(rng, 0.85)) chosen.insert(o->field(static_cast<int>(Below(rng, o->field_count()))));
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->real_containing_oneof() != nullptr && chosen.count(f) == 0) continue;
    const bool wanted = state->hinted && (f->name() == "session" || f->name() == "op");
    if (!Chance(rng, wanted ? 0.95 : 0.65)) continue;
    FillField(m, f, rng, depth, state);
  }
  // A Tensor whose data has the size its meta says, often: the check after the size one.
  if (d->full_name() == "mxgrid.v1.Tensor" && Chance(rng, state->hinted ? 0.7 : 0.3)) {
    const pb::Message& meta = r->GetMessage(*m, d->FindFieldByName("meta"), &factory_);
    const pb::Reflection* mr = meta.GetReflection();
    const pb::Descriptor* md = meta.GetDescriptor();
    int64_t elements = DTypeBytes(mr->GetEnumValue(meta, md->FindFieldByName("dtype")));
    const pb::FieldDescriptor* shape = md->FindFieldByName("shape");
    for (int i = 0; i < mr->FieldSize(meta, shape) && elements > 0; ++i) {
      const int64_t dim = mr->GetRepeatedInt64(meta, shape, i);
      elements = dim < 0 || dim > (1 << 20) ? -1 : elements * dim;
    }
    if (elements >= 0 && elements <= (int64_t{1} << 20)) {
      r->SetString(m, d->FindFieldByName("data"), RandomBytes(rng, static_cast<size_t>(elements)));
    }
  }
}

void MessageFuzzer::ChunkStream(absl::Span<pb::Message* const> stream, Rng& rng) {
  const pb::FieldDescriptor* chunk = stream[0]->GetDescriptor()->FindFieldByName("chunk");
  std::vector<int64_t> shape = hints_.shapes.empty() ? std::vector<int64_t>{2, 3}
                                                     : Pick(rng, hints_.shapes);
  int64_t bytes = 4;
  for (int64_t d : shape) bytes *= d;
  const std::string data = RandomBytes(rng, static_cast<size_t>(bytes));
  int64_t offset = 0;
  for (size_t i = 0; i < stream.size(); ++i) {
    pb::Message* c = stream[i]->GetReflection()->MutableMessage(stream[i], chunk, &factory_);
    c->Clear();
    const pb::Reflection* r = c->GetReflection();
    const pb::Descriptor* d = c->GetDescriptor();
    if (i == 0) {
      pb::Message* meta = r->MutableMessage(c, d->FindFieldByName("meta"), &factory_);
      meta->GetReflection()->SetEnumValue(meta, meta->GetDescriptor()->FindFieldByName("dtype"), 1);
      for (int64_t dim : shape) {
        meta->GetReflection()->AddInt64(meta, meta->GetDescriptor()->FindFieldByName("shape"), dim);
      }
    }
    // The pieces split the data evenly; the last takes the rest.
    const int64_t even = bytes / static_cast<int64_t>(stream.size());
    const int64_t size = i + 1 == stream.size() ? bytes - offset : std::min(bytes - offset, even);
    r->SetInt64(c, d->FindFieldByName("offset"), offset);
    r->SetString(c, d->FindFieldByName("data"), data.substr(offset, size));
    offset += size;
  }
  if (Chance(rng, 0.5)) {  // then one piece made wrong
    pb::Message* owner = stream[Below(rng, stream.size())];
    pb::Message* c = owner->GetReflection()->MutableMessage(owner, chunk, &factory_);
    const pb::Reflection* r = c->GetReflection();
    const pb::Descriptor* d = c->GetDescriptor();
    const int64_t at = r->GetInt64(*c, d->FindFieldByName("offset"));
    switch (Below(rng, 4)) {
      case 0:  // overlapping, leaving a gap, past the end, absurd
        r->SetInt64(c, d->FindFieldByName("offset"),
                    Pick(rng, std::vector<int64_t>{at - 4, at - 1, at + 1, at + 4, at + bytes,
                                                   kI64Max, kI64Min}));
        break;
      case 1:  // four bytes too many
        r->SetString(c, d->FindFieldByName("data"),
                     r->GetString(*c, d->FindFieldByName("data")) + "xyzw");
        break;
      case 2:
        r->SetString(c, d->FindFieldByName("data"), "");
        break;
      default: {
        FillState state{.hinted = false};
        Fill(r->MutableMessage(c, d->FindFieldByName("meta"), &factory_), rng, 1, &state);
        break;
      }
    }
  }
}

MessageFuzzer::Requests MessageFuzzer::Generate(const pb::Descriptor* type, uint64_t seed,
                                                int count) {
  Rng rng(seed);
  Requests out;
  const double roll = std::uniform_real_distribution<double>(0, 1)(rng);
  if (roll < 0.08) {
    out.kind = "random bytes";
    for (int i = 0; i < count; ++i) {
      out.messages.push_back(RandomBytes(rng, Chance(rng, 0.9) ? Below(rng, 65) : Below(rng, 4097)));
    }
    return out;
  }
  FillState state{.hinted = roll >= 0.16};
  out.kind = roll < 0.04 ? "empty message" : state.hinted ? "hinted message" : "message";
  std::vector<std::unique_ptr<pb::Message>> messages;
  std::vector<pb::Message*> stream;
  for (int i = 0; i < count; ++i) {
    messages.emplace_back(factory_.GetPrototype(type)->New());
    if (roll >= 0.04 || i > 0) Fill(messages.back().get(), rng, 0, &state);
    stream.push_back(messages.back().get());
  }
  // Uploads and pushes as chunk streams that fit together (then one piece made wrong).
  const pb::FieldDescriptor* chunk = type->FindFieldByName("chunk");
  if (state.hinted && chunk != nullptr && chunk->message_type() != nullptr &&
      chunk->message_type()->full_name() == "mxgrid.v1.TensorChunk" && Chance(rng, 0.6)) {
    ChunkStream(stream, rng);
    out.kind = "hinted chunk stream";
  }
  for (const std::unique_ptr<pb::Message>& m : messages) {
    std::string bytes;
    m->SerializeToString(&bytes);
    if (roll >= 0.75) {
      std::string how;
      bytes = MutateBytes(std::move(bytes), rng, &how);
      out.kind = absl::StrCat(out.kind, ", mutated (", how, ")");
    }
    out.messages.push_back(std::move(bytes));
  }
  return out;
}

bool MessageFuzzer::AllParse(const pb::Descriptor* type, const std::vector<std::string>& messages) {
  std::unique_ptr<pb::Message> m(factory_.GetPrototype(type)->New());
  for (const std::string& bytes : messages) {
    if (!m->ParseFromString(bytes)) return false;
  }
  return true;
}

}  // namespace mxgrid::robustness

// MessageFuzzer: request bytes for any message type, reproducible from a seed. Four kinds:
//   - "random bytes": not a message at all, most of the time;
//   - "message": a message built through protobuf reflection, fields filled with hostile
//     values (empty, huge strings up to 1 MB, negative and extreme numbers, NaN, unknown
//     enum values, repeated fields of 100,000 elements, nesting to depth 4);
//   - "hinted message": the same, but fields whose names say what they hold get, most of
//     the time, values that reach deep code: the live session id, live handles, real
//     operator names with their parameters (values of the right type, sometimes not) and
//     as many inputs as they take, valid Symbol JSON (or slightly broken), existing kvstore
//     keys, live shapes, Tensors whose data matches their meta, chunk streams whose pieces
//     fit together (then one piece made wrong);
//   - "mutated": a hinted message's bytes then bit-flipped, truncated, with a field
//     duplicated, bytes inserted, or a malformed varint or length appended.
//
//   MessageFuzzer fuzzer(hints);
//   MessageFuzzer::Requests r = fuzzer.Generate(method->input_type(), seed, /*count=*/1);
//   // r.messages[0]: the bytes; r.kind: which of the above
//
// Thread-safety: thread-compatible (the message factory caches prototypes).
#ifndef MXGRID_TESTS_ROBUSTNESS_MESSAGE_FUZZER_H_
#define MXGRID_TESTS_ROBUSTNESS_MESSAGE_FUZZER_H_

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "tests/robustness/fuzz_values.h"

namespace mxgrid::robustness {

// An operator as ListOperators describes it.
struct OpSchema {
  struct Param {
    std::string name;
    std::string type;  // "int", "float", "boolean", "Shape(tuple)", "{'relu', 'tanh'}", ...
    bool required = false;
  };
  std::vector<Param> params;
  int inputs = 0;  // with the default parameters, auxiliary states included
};

// What the server under test holds, for hinted messages.
struct FuzzHints {
  std::string session;
  // Live handles of `session`: arrays, and executors and stores.
  std::vector<uint64_t> handles;
  std::vector<uint64_t> objects;
  // Operator name (and alias) -> its schema.
  std::map<std::string, OpSchema> ops;
  // Argument names of `jsons` ("data", "fc1_weight", ...).
  std::vector<std::string> arg_names;
  // Valid MXNet Symbol JSON.
  std::vector<std::string> jsons;
  // Initialized kvstore keys.
  std::vector<std::string> keys;
  // Shapes of the live float32 arrays and keys: hinted TensorMetas often take one.
  std::vector<std::vector<int64_t>> shapes;
};

class MessageFuzzer {
 public:
  explicit MessageFuzzer(FuzzHints hints);

  struct Requests {
    std::vector<std::string> messages;
    std::string kind;  // "random bytes", "message", "hinted message", "mutated: ..."
  };
  // `count` messages of `type` (a stream's messages share the kind). The same seed and
  // hints give the same bytes.
  Requests Generate(const google::protobuf::Descriptor* type, uint64_t seed, int count);

  // Whether every message parses as `type` (a server rejects the call otherwise, before
  // its handler runs).
  bool AllParse(const google::protobuf::Descriptor* type, const std::vector<std::string>& messages);

 private:
  struct FillState {
    bool hinted;
    std::string op;  // the operator named earlier in this message, for its attrs
  };

  void Fill(google::protobuf::Message* m, Rng& rng, int depth, FillState* state);
  void FillField(google::protobuf::Message* m, const google::protobuf::FieldDescriptor* f,
                 Rng& rng, int depth, FillState* state);
  void FillMapEntry(google::protobuf::Message* entry, const std::string& map_name, Rng& rng,
                    int depth, FillState* state);
  // The attrs of the operator named earlier in the message: its required parameters and a
  // few others, with values of their types (sometimes hostile ones).
  void FillAttrs(google::protobuf::Message* m, const google::protobuf::FieldDescriptor* f,
                 Rng& rng, const OpSchema& op);
  std::string StringFor(const std::string& name, Rng& rng, FillState* state);
  int64_t IntFor(Rng& rng);
  uint64_t UintFor(const std::string& name, Rng& rng, const FillState& state);
  // Makes the `chunk` fields of a stream's messages one live shape's bytes in order.
  void ChunkStream(absl::Span<google::protobuf::Message* const> stream, Rng& rng);

  const FuzzHints hints_;
  std::vector<std::string> op_names_;
  std::vector<std::string> param_names_;
  google::protobuf::DynamicMessageFactory factory_;
};

}  // namespace mxgrid::robustness

#endif  // MXGRID_TESTS_ROBUSTNESS_MESSAGE_FUZZER_H_

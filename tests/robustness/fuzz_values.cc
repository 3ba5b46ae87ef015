#include "tests/robustness/fuzz_values.h"

#include <cstdint>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/unknown_field_set.h"

namespace mxgrid::robustness {

namespace pb = google::protobuf;

// Parameter values MXNet's Python would send, and some it would not.
const std::vector<std::string>& AttrValues() {
  static const auto* v = new std::vector<std::string>{
      "1", "2", "0", "-1", "3", "(2,3)", "(2,)", "(0,)", "(-1,)", "()", "(1,1)", "(3,3)",
      "(2,-1)", "True", "False", "relu", "sigmoid", "tanh", "softmax", "max", "avg", "valid",
      "full", "float32", "int32", "float16", "uint8", "None", "1e-5", "0.5", "nan", "inf",
      "-inf", "1e400", "99999999999999999999", "(100000000,100000000)", "abc", "", "[1,2]",
      "(1,2,3,4,5,6,7,8,9,10)", "-2147483648", "2147483648"};
  return *v;
}

const std::vector<std::string>& PlainStrings() {
  static const auto* v = new std::vector<std::string>{
      "", "a", "0", "-1", "3", "x", "data", "fc1_weight", "sgd", "adam", "local", "write",
      "null", "add", "__shape__", "(2,3)", "..", "/", "\xc3\xbc", "name with spaces", "\t\n"};
  return *v;
}

int DTypeBytes(int dtype) {
  static const int kBytes[] = {0, 4, 8, 2, 1, 4, 1, 8, 1, 2, 2, 4, 8, 2};
  return dtype >= 1 && dtype <= 13 ? kBytes[dtype] : 0;
}

std::string RandomBytes(Rng& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// A string that is valid JSON or close to it: a hint with a few characters changed.
std::string BreakJson(std::string json, Rng& rng) {
  const int edits = 1 + static_cast<int>(Below(rng, 3));
  for (int i = 0; i < edits && !json.empty(); ++i) {
    const size_t at = Below(rng, json.size());
    switch (Below(rng, 4)) {
      case 0: json.erase(at, 1 + Below(rng, 8)); break;
      case 1: json[at] = "0123456789-[]{}\",:"[Below(rng, 18)]; break;
      case 2: json.insert(at, Pick(rng, std::vector<std::string>{"-1", "999999999", "\"x\"", "[", "}"})); break;
      default: json.resize(at); break;
    }
  }
  return json;
}

// A value for a parameter of MXNet type `type`: of that type mostly, else any value.
std::string ValueOfType(const std::string& type, Rng& rng) {
  if (Chance(rng, 0.15)) return Pick(rng, AttrValues());
  if (absl::StartsWith(type, "{")) {  // {'relu', 'sigmoid'}: one of the quoted choices
    std::vector<std::string> choices;
    for (size_t q = type.find('\''); q != std::string::npos; q = type.find('\'', q + 1)) {
      const size_t end = type.find('\'', q + 1);
      if (end == std::string::npos) break;
      choices.push_back(type.substr(q + 1, end - q - 1));
      q = end;
    }
    if (!choices.empty()) return Pick(rng, choices);
  }
  if (absl::StrContains(type, "Shape") || absl::StrContains(type, "tuple")) {
    return Pick(rng, std::vector<std::string>{"(2,)", "(1,1)", "(2,3)", "()", "(3,3)", "(1,)",
                                              "(0,)", "(2,2)", "(-1,)", "(1,2,3)"});
  }
  if (absl::StrContains(type, "int") || absl::StrContains(type, "long")) {
    return Pick(rng, std::vector<std::string>{"0", "1", "2", "3", "4", "-1", "6"});
  }
  if (absl::StrContains(type, "float") || absl::StrContains(type, "double")) {
    return Pick(rng, std::vector<std::string>{"0", "0.5", "1", "-1", "2.5", "1e-3"});
  }
  if (absl::StrContains(type, "bool")) {
    return Pick(rng, std::vector<std::string>{"True", "False", "1", "0"});
  }
  return Pick(rng, AttrValues());
}

std::string MutateBytes(std::string bytes, Rng& rng, std::string* how) {
  switch (Below(rng, 7)) {
    case 0: {
      *how = "bit flips";
      for (int i = 0, n = 1 + static_cast<int>(Below(rng, 8)); i < n && !bytes.empty(); ++i) {
        bytes[Below(rng, bytes.size())] ^= static_cast<char>(1 << Below(rng, 8));
      }
      return bytes;
    }
    case 1:
      *how = "truncated";
      bytes.resize(Below(rng, bytes.size() + 1));
      return bytes;
    case 2: {
      *how = "a field duplicated";
      pb::UnknownFieldSet fields;
      if (!fields.ParseFromString(bytes) || fields.field_count() == 0) return bytes + bytes;
      pb::UnknownFieldSet one;
      one.AddField(fields.field(static_cast<int>(Below(rng, fields.field_count()))));
      std::string extra;
      one.SerializeToString(&extra);
      return bytes + extra;
    }
    case 3:
      *how = "bytes inserted";
      return bytes.insert(Below(rng, bytes.size() + 1), RandomBytes(rng, 1 + Below(rng, 16)));
    case 4:
      *how = "an overlong varint appended";
      return bytes + std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
    case 5:
      *how = "a length past the end appended";
      return bytes + std::string("\x12\xff\xff\xff\xff\x07" "abc", 9);
    default: {
      *how = "unknown fields appended";
      pb::UnknownFieldSet extra;
      extra.AddVarint(static_cast<int>(1000 + Below(rng, 100000)), rng());
      extra.AddLengthDelimited(536870911, "x");  // the largest field number
      extra.AddFixed64(15, rng());
      std::string tail;
      extra.SerializeToString(&tail);
      return bytes + tail;
    }
  }
}

}  // namespace mxgrid::robustness

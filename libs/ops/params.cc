#include "libs/ops/params.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/base/quote.h"

namespace mxgrid::ops {

bool ParseInt(absl::string_view text, int64_t* out) {
  text = absl::StripAsciiWhitespace(text);
  if (absl::SimpleAtoi(text, out)) return true;
  // Python may write integral floats ("2.0") for int parameters; accept exact ones.
  double d = 0;
  if (absl::SimpleAtod(text, &d) && std::isfinite(d) && d == std::floor(d) &&
      std::fabs(d) < 9e15) {
    *out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

bool ParseFloat(absl::string_view text, double* out) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return false;
  return absl::SimpleAtod(text, out);
}

bool ParseBool(absl::string_view text, bool* out) {
  text = absl::StripAsciiWhitespace(text);
  if (text == "True" || text == "true" || text == "1") {
    *out = true;
    return true;
  }
  if (text == "False" || text == "false" || text == "0") {
    *out = false;
    return true;
  }
  return false;
}

bool ParseIntTuple(absl::string_view text, std::vector<int64_t>* out) {
  text = absl::StripAsciiWhitespace(text);
  const bool paren = absl::ConsumePrefix(&text, "(");
  if (paren && !absl::ConsumeSuffix(&text, ")")) return false;
  const bool bracket = !paren && absl::ConsumePrefix(&text, "[");
  if (bracket && !absl::ConsumeSuffix(&text, "]")) return false;
  std::vector<int64_t> values;
  text = absl::StripAsciiWhitespace(text);
  if (!text.empty()) {
    for (absl::string_view part : absl::StrSplit(text, ',')) {
      part = absl::StripAsciiWhitespace(part);
      if (part.empty()) continue;  // "(3,)" and trailing commas
      int64_t v = 0;
      if (part == "None") {
        v = -1;  // unknown dimension, as MXNet's Tuple parser reads it
      } else if (!ParseInt(part, &v)) {
        return false;
      }
      values.push_back(v);
    }
  }
  *out = std::move(values);
  return true;
}

ParamReader::ParamReader(absl::string_view op, const AttrMap& attrs)
    : op_(op), attrs_(attrs) {}

const std::string* ParamReader::Lookup(absl::string_view key) {
  used_.insert(std::string(key));
  auto it = attrs_.find(std::string(key));
  return it == attrs_.end() ? nullptr : &it->second;
}

absl::Status ParamReader::Bad(absl::string_view key, const std::string& value,
                              absl::string_view expected) const {
  return absl::InvalidArgumentError(absl::StrCat(op_, ": parameter ", Quoted(key), " = ",
                                                 Quoted(value), " is not ", expected));
}

absl::Status ParamReader::Error(absl::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(op_, ": ", message));
}

absl::Status ParamReader::Int(absl::string_view key, int64_t* out) {
  const std::string* v = Lookup(key);
  if (v == nullptr) return Error(absl::StrCat("required parameter '", key, "' is missing"));
  if (!ParseInt(*v, out)) return Bad(key, *v, "an integer");
  return absl::OkStatus();
}

absl::Status ParamReader::Int(absl::string_view key, int64_t* out, int64_t default_value) {
  const std::string* v = Lookup(key);
  *out = default_value;
  if (v != nullptr && !ParseInt(*v, out)) return Bad(key, *v, "an integer");
  return absl::OkStatus();
}

absl::Status ParamReader::Float(absl::string_view key, double* out) {
  const std::string* v = Lookup(key);
  if (v == nullptr) return Error(absl::StrCat("required parameter '", key, "' is missing"));
  if (!ParseFloat(*v, out)) return Bad(key, *v, "a number");
  return absl::OkStatus();
}

absl::Status ParamReader::Float(absl::string_view key, double* out, double default_value) {
  const std::string* v = Lookup(key);
  *out = default_value;
  if (v != nullptr && !ParseFloat(*v, out)) return Bad(key, *v, "a number");
  return absl::OkStatus();
}

absl::Status ParamReader::Bool(absl::string_view key, bool* out, bool default_value) {
  const std::string* v = Lookup(key);
  *out = default_value;
  if (v != nullptr && !ParseBool(*v, out)) return Bad(key, *v, "a boolean (True/False/1/0)");
  return absl::OkStatus();
}

absl::Status ParamReader::Enum(absl::string_view key, std::string* out,
                               std::initializer_list<absl::string_view> choices) {
  const std::string* v = Lookup(key);
  if (v == nullptr) {
    return Error(absl::StrCat("required parameter '", key, "' is missing; one of {",
                              absl::StrJoin(choices, ", "), "}"));
  }
  for (absl::string_view c : choices) {
    if (*v == c) {
      *out = *v;
      return absl::OkStatus();
    }
  }
  return Bad(key, *v, absl::StrCat("one of {", absl::StrJoin(choices, ", "), "}"));
}

absl::Status ParamReader::Enum(absl::string_view key, std::string* out,
                               std::initializer_list<absl::string_view> choices,
                               absl::string_view default_value) {
  if (attrs_.find(std::string(key)) == attrs_.end()) {
    used_.insert(std::string(key));
    *out = std::string(default_value);
    return absl::OkStatus();
  }
  return Enum(key, out, choices);
}

absl::Status ParamReader::Tuple(absl::string_view key, std::vector<int64_t>* out,
                                bool required) {
  const std::string* v = Lookup(key);
  if (v == nullptr) {
    if (required) return Error(absl::StrCat("required parameter '", key, "' is missing"));
    return absl::OkStatus();
  }
  if (!ParseIntTuple(*v, out)) return Bad(key, *v, "a tuple of integers such as (3, 3)");
  return absl::OkStatus();
}

absl::Status ParamReader::OptionalInt(absl::string_view key, std::optional<int64_t>* out) {
  const std::string* v = Lookup(key);
  out->reset();
  if (v == nullptr || absl::StripAsciiWhitespace(*v) == "None") return absl::OkStatus();
  int64_t i = 0;
  if (!ParseInt(*v, &i)) return Bad(key, *v, "an integer or None");
  *out = i;
  return absl::OkStatus();
}

absl::Status ParamReader::DTypeName(absl::string_view key, std::optional<DType>* out) {
  const std::string* v = Lookup(key);
  if (v == nullptr) return absl::OkStatus();
  absl::StatusOr<DType> d = DTypeFromName(absl::StripAsciiWhitespace(*v));
  if (!d.ok()) return Bad(key, *v, "a dtype name (float32, float64, float16, uint8, ...)");
  *out = *d;
  return absl::OkStatus();
}

absl::Status ParamReader::Finish() const {
  for (const auto& [key, value] : attrs_) {
    if (key.size() > 4 && absl::StartsWith(key, "__") && absl::EndsWith(key, "__")) continue;
    if (used_.count(key) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          op_, ": unknown parameter ", Quoted(key), " (= ", Quoted(value),
          "); known parameters: ",
          absl::StrJoin(used_, ", ")));
    }
  }
  return absl::OkStatus();
}

}  // namespace mxgrid::ops

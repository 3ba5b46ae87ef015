// Reading an operator's parameters from MXNet's string attributes.
//
//   ParamReader r("FullyConnected", attrs);
//   MXGRID_RETURN_IF_ERROR(r.Int("num_hidden", &p.num_hidden));             // required
//   MXGRID_RETURN_IF_ERROR(r.Bool("no_bias", &p.no_bias, false));           // with default
//   MXGRID_RETURN_IF_ERROR(r.Enum("act_type", &p.act_type, {"relu", "tanh"}));
//   MXGRID_RETURN_IF_ERROR(r.Finish());   // unknown keys are an error
//
// Value syntax is dmlc::Parameter's as Python's str() writes it: ints "128"; floats "0.5",
// "1e-3", "inf"; booleans "True/False/true/false/1/0"; tuples "(3, 3)", "[3,3]", "(3,)" or
// a bare "3"; optionals "None". Keys "__name__" are MXNet's hidden attributes and ignored.
// Errors are InvalidArgument: "FullyConnected: parameter 'num_hidden' = 'abc' is not an
// integer". Thread-compatible.
#ifndef MXGRID_LIBS_OPS_PARAMS_H_
#define MXGRID_LIBS_OPS_PARAMS_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "libs/ops/op.h"

namespace mxgrid::ops {

// Downcasts parsed parameters to the op's own struct. REQUIRES: they are a P.
template <typename P>
const P& ParamsAs(const OpParams& params) {
  return static_cast<const P&>(params);
}

class ParamReader {
 public:
  ParamReader(absl::string_view op, const AttrMap& attrs);

  // Required forms fail when the key is absent; the others keep `default_value`.
  absl::Status Int(absl::string_view key, int64_t* out);
  absl::Status Int(absl::string_view key, int64_t* out, int64_t default_value);
  absl::Status Float(absl::string_view key, double* out);
  absl::Status Float(absl::string_view key, double* out, double default_value);
  absl::Status Bool(absl::string_view key, bool* out, bool default_value);
  // One of `choices`.
  absl::Status Enum(absl::string_view key, std::string* out,
                    std::initializer_list<absl::string_view> choices);
  absl::Status Enum(absl::string_view key, std::string* out,
                    std::initializer_list<absl::string_view> choices,
                    absl::string_view default_value);
  // Integer tuples such as kernel "(3, 3)"; absent keeps `*out` as it is.
  absl::Status Tuple(absl::string_view key, std::vector<int64_t>* out, bool required = false);
  // An int or "None"; absent is nullopt.
  absl::Status OptionalInt(absl::string_view key, std::optional<int64_t>* out);
  // A dtype name ("float32", ...); absent keeps `*out`.
  absl::Status DTypeName(absl::string_view key, std::optional<DType>* out);

  // InvalidArgument naming the first attribute no reader asked for, and the known ones.
  absl::Status Finish() const;

  // An InvalidArgument error prefixed with the op name (for checks after reading).
  absl::Status Error(absl::string_view message) const;

 private:
  // The value of `key`, or null when absent; marks the key as used.
  const std::string* Lookup(absl::string_view key);
  absl::Status Bad(absl::string_view key, const std::string& value,
                   absl::string_view expected) const;

  std::string op_;
  const AttrMap& attrs_;
  std::set<std::string, std::less<>> used_;
};

// Parsers for single values (also used by graph code reading attributes).
bool ParseInt(absl::string_view text, int64_t* out);
bool ParseFloat(absl::string_view text, double* out);
bool ParseBool(absl::string_view text, bool* out);
bool ParseIntTuple(absl::string_view text, std::vector<int64_t>* out);

}  // namespace mxgrid::ops

#endif  // MXGRID_LIBS_OPS_PARAMS_H_

// The fuzzer's stock of values and byte mutations, shared by message_fuzzer.cc: random
// draws, parameter values MXNet's Python would send (and some it would not), strings,
// broken JSON, and mutations of serialized messages.
//
// Thread-safety: pure functions of their arguments (the Rng is the caller's).
#ifndef MXGRID_TESTS_ROBUSTNESS_FUZZ_VALUES_H_
#define MXGRID_TESTS_ROBUSTNESS_FUZZ_VALUES_H_

#include <cstddef>
#include <random>
#include <string>
#include <vector>

namespace mxgrid::robustness {

using Rng = std::mt19937_64;

inline bool Chance(Rng& rng, double p) {
  return std::uniform_real_distribution<double>(0, 1)(rng) < p;
}
// Uniform in [0, n); 0 when n is 0.
inline size_t Below(Rng& rng, size_t n) {
  return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng);
}
// REQUIRES: !v.empty().
template <typename T>
const T& Pick(Rng& rng, const std::vector<T>& v) {
  return v[Below(rng, v.size())];
}

// Operator parameter values, plausible and hostile: "(2,3)", "relu", "nan", "1e400", ...
const std::vector<std::string>& AttrValues();
// Short strings for fields of no particular meaning.
const std::vector<std::string>& PlainStrings();
// Bytes per element of a mxgrid.v1.DType number; 0 for an unknown one.
int DTypeBytes(int dtype);
std::string RandomBytes(Rng& rng, size_t n);
// `json` with one to three characters or pieces changed, deleted or cut off.
std::string BreakJson(std::string json, Rng& rng);
// A value for an MXNet parameter of `type` ("int", "Shape(tuple)", "{'relu', 'tanh'}", ...):
// of that type mostly, any value sometimes.
std::string ValueOfType(const std::string& type, Rng& rng);
// Serialized message bytes with one mutation; `how` says which (bit flips, truncated, a
// field duplicated, bytes inserted, an overlong varint, a length past the end, unknown
// fields).
std::string MutateBytes(std::string bytes, Rng& rng, std::string* how);

}  // namespace mxgrid::robustness

#endif  // MXGRID_TESTS_ROBUSTNESS_FUZZ_VALUES_H_

// Helpers of the optimizer tests: an optimizer from mx.optimizer.create's arguments, float32
// vectors as arrays, and a run of dense updates.
//
// Thread-safety: functions of their arguments.
#ifndef MXGRID_LIBS_KVSTORE_TESTING_OPTIMIZER_TESTING_H_
#define MXGRID_LIBS_KVSTORE_TESTING_OPTIMIZER_TESTING_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "libs/kvstore/optimizer.h"

namespace mxgrid::kvstore::testing {

using Params = std::map<std::string, std::string>;

// Optimizer::Create(name, params); null (and a gtest failure) when it fails.
inline std::unique_ptr<Optimizer> Make(const std::string& name, const Params& params) {
  absl::StatusOr<std::unique_ptr<Optimizer>> opt = Optimizer::Create(name, params);
  EXPECT_TRUE(opt.ok()) << opt.status();
  return opt.ok() ? std::move(*opt) : nullptr;
}

// A 1-D float32 array of `v`.
inline tensor::NDArray F32(std::vector<float> v) {
  return *tensor::NDArray::FromVector<float>({static_cast<int64_t>(v.size())}, v);
}

// Applies `grads` in turn to a float32 weight starting at `w0` (index 0); returns the weight.
inline std::vector<double> Apply(Optimizer* opt, std::vector<float> w0,
                                 const std::vector<std::vector<float>>& grads) {
  tensor::NDArray w = F32(std::move(w0));
  for (const auto& g : grads) EXPECT_TRUE(opt->Update(0, w, F32(g)).ok());
  return *w.ToVector<double>();
}

}  // namespace mxgrid::kvstore::testing

#endif  // MXGRID_LIBS_KVSTORE_TESTING_OPTIMIZER_TESTING_H_

// Writes, with mxgrid's NDArray format writer, the files test_mxnet_reads_mxgrid.py loads
// with real MXNet: the same arrays as make_golden.py's dense files (golden_values.h).
//
//   bazel-bin/tests/golden/write_golden /tmp/out_dir
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "libs/base/status_macros.h"
#include "libs/tensor/format/ndarray_format.h"
#include "tests/golden/golden_values.h"

namespace mxgrid::golden {
namespace {

using tensor::format::ArrayView;

// Arrays with golden values; keeps their bytes alive for the views.
class ArraySet {
 public:
  void Add(DType dtype, Shape shape, Context ctx = Context::Cpu(), std::string name = "") {
    data_.push_back(GoldenBytes(dtype, shape.Size()));
    views_.push_back(ArrayView{dtype, std::move(shape), ctx, data_.back().data()});
    if (!name.empty()) names_.push_back(std::move(name));
  }

  absl::Status Save(const std::string& path) const {
    MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<tensor::format::Sink> sink,
                            tensor::format::OpenFileSink(path));
    MXGRID_RETURN_IF_ERROR(tensor::format::WriteList(views_, names_, sink.get()));
    return sink->Flush();
  }

 private:
  // Growing data_ moves the inner vectors, which keeps their buffers (and the views) valid.
  std::vector<std::vector<uint8_t>> data_;
  std::vector<ArrayView> views_;
  std::vector<std::string> names_;
};

absl::Status WriteAll(const std::string& dir) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kUint8,
                      DType::kInt32, DType::kInt8, DType::kInt64, DType::kBool,
                      DType::kBFloat16}) {
    ArraySet set;
    set.Add(dtype, Shape{5});
    set.Add(dtype, Shape{2, 3, 4});
    set.Add(dtype, Shape{2, 0});
    MXGRID_RETURN_IF_ERROR(
        set.Save(dir + "/dtype_" + std::string(DTypeName(dtype)) + ".params"));
  }
  ArraySet list;
  list.Add(DType::kFloat32, Shape{3});
  list.Add(DType::kInt64, Shape{2, 2});
  list.Add(DType::kUint8, Shape{1});
  MXGRID_RETURN_IF_ERROR(list.Save(dir + "/list.params"));

  ArraySet dict;
  dict.Add(DType::kFloat32, Shape{4, 3}, Context::Cpu(), "arg:fc1_weight");
  dict.Add(DType::kFloat32, Shape{4}, Context::Cpu(), "arg:fc1_bias");
  dict.Add(DType::kFloat32, Shape{3}, Context::Cpu(), "aux:bn_moving_mean");
  dict.Add(DType::kFloat64, Shape{3}, Context::Cpu(), "aux:bn_moving_var");
  MXGRID_RETURN_IF_ERROR(dict.Save(dir + "/dict.params"));

  // Saved contexts other than cpu(0); MXNet without a GPU loads them on the CPU.
  ArraySet contexts;
  contexts.Add(DType::kFloat32, Shape{2}, Context::CpuPinned(0), "pinned");
  contexts.Add(DType::kInt32, Shape{3}, Context::Gpu(0), "gpu");
  MXGRID_RETURN_IF_ERROR(contexts.Save(dir + "/contexts.params"));

  // The single-record form NDArray pickles use.
  const std::vector<uint8_t> data = GoldenBytes(DType::kFloat32, 6);
  MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<tensor::format::Sink> sink,
                          tensor::format::OpenFileSink(dir + "/pickle_float32_2x3.bin"));
  MXGRID_RETURN_IF_ERROR(tensor::format::WriteRecord(
      {DType::kFloat32, Shape{2, 3}, Context::Cpu(), data.data()}, sink.get()));
  return sink->Flush();
}

}  // namespace
}  // namespace mxgrid::golden

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  absl::Status status = mxgrid::golden::WriteAll(argv[1]);
  if (!status.ok()) {
    std::fprintf(stderr, "write_golden: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

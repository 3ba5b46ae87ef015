// Writes the files test_mxnet_reads_mxgrid.py loads with real MXNet: the same arrays as
// make_golden.py's dense files (golden_values.h), saved through the product path
// (tensor::Save / SaveToBytes on NDArrays). Only the file with a gpu(0) context, which no
// NDArray can have on this machine, is written with the byte-level writer directly.
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
#include "libs/tensor/ndarray.h"
#include "libs/tensor/ndarray_io.h"
#include "tests/golden/golden_values.h"

namespace mxgrid::golden {
namespace {

using tensor::format::ArrayView;

// NDArrays holding golden values, saved as a list or (when named) a dict.
class ArraySet {
 public:
  absl::Status Add(DType dtype, Shape shape, Context ctx = Context::Cpu(),
                   std::string name = "") {
    const std::vector<uint8_t> bytes = GoldenBytes(dtype, shape.Size());
    MXGRID_ASSIGN_OR_RETURN(tensor::NDArray a, tensor::NDArray::Empty(shape, ctx, dtype));
    MXGRID_RETURN_IF_ERROR(a.CopyFromHost(bytes.data(), bytes.size()));
    arrays_.push_back(std::move(a));
    if (!name.empty()) names_.push_back(std::move(name));
    return absl::OkStatus();
  }

  absl::Status Save(const std::string& path) const { return tensor::Save(path, arrays_, names_); }

 private:
  std::vector<tensor::NDArray> arrays_;
  std::vector<std::string> names_;
};

// A saved gpu(0) context next to cpu_pinned(0): MXNet without a GPU loads both on the CPU.
absl::Status WriteContexts(const std::string& path) {
  const std::vector<uint8_t> pinned = GoldenBytes(DType::kFloat32, 2);
  const std::vector<uint8_t> gpu = GoldenBytes(DType::kInt32, 3);
  const ArrayView views[] = {
      {DType::kFloat32, Shape{2}, Context::CpuPinned(0), pinned.data()},
      {DType::kInt32, Shape{3}, Context::Gpu(0), gpu.data()},
  };
  const std::string names[] = {"pinned", "gpu"};
  MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<tensor::format::Sink> sink,
                          tensor::format::OpenFileSink(path));
  MXGRID_RETURN_IF_ERROR(tensor::format::WriteList(views, names, sink.get()));
  return sink->Flush();
}

absl::Status WriteAll(const std::string& dir) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kUint8,
                      DType::kInt32, DType::kInt8, DType::kInt64, DType::kBool,
                      DType::kBFloat16}) {
    ArraySet set;
    MXGRID_RETURN_IF_ERROR(set.Add(dtype, Shape{5}));
    MXGRID_RETURN_IF_ERROR(set.Add(dtype, Shape{2, 3, 4}));
    MXGRID_RETURN_IF_ERROR(set.Add(dtype, Shape{2, 0}));
    MXGRID_RETURN_IF_ERROR(
        set.Save(dir + "/dtype_" + std::string(DTypeName(dtype)) + ".params"));
  }
  ArraySet list;
  MXGRID_RETURN_IF_ERROR(list.Add(DType::kFloat32, Shape{3}));
  MXGRID_RETURN_IF_ERROR(list.Add(DType::kInt64, Shape{2, 2}));
  MXGRID_RETURN_IF_ERROR(list.Add(DType::kUint8, Shape{1}));
  MXGRID_RETURN_IF_ERROR(list.Save(dir + "/list.params"));

  ArraySet dict;
  MXGRID_RETURN_IF_ERROR(dict.Add(DType::kFloat32, Shape{4, 3}, Context::Cpu(), "arg:fc1_weight"));
  MXGRID_RETURN_IF_ERROR(dict.Add(DType::kFloat32, Shape{4}, Context::Cpu(), "arg:fc1_bias"));
  MXGRID_RETURN_IF_ERROR(
      dict.Add(DType::kFloat32, Shape{3}, Context::Cpu(), "aux:bn_moving_mean"));
  MXGRID_RETURN_IF_ERROR(
      dict.Add(DType::kFloat64, Shape{3}, Context::Cpu(), "aux:bn_moving_var"));
  MXGRID_RETURN_IF_ERROR(dict.Save(dir + "/dict.params"));

  MXGRID_RETURN_IF_ERROR(WriteContexts(dir + "/contexts.params"));

  // The single-record form NDArray pickles use.
  const std::vector<uint8_t> data = GoldenBytes(DType::kFloat32, 6);
  MXGRID_ASSIGN_OR_RETURN(tensor::NDArray a, tensor::NDArray::Empty({2, 3}));
  MXGRID_RETURN_IF_ERROR(a.CopyFromHost(data.data(), data.size()));
  MXGRID_ASSIGN_OR_RETURN(std::string record, tensor::SaveToBytes(a));
  std::FILE* f = std::fopen((dir + "/pickle_float32_2x3.bin").c_str(), "wb");
  if (f == nullptr) return absl::NotFoundError("cannot create " + dir + "/pickle_float32_2x3.bin");
  const bool ok = std::fwrite(record.data(), 1, record.size(), f) == record.size();
  if (std::fclose(f) != 0 || !ok) return absl::DataLossError("short write of the pickle record");
  return absl::OkStatus();
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

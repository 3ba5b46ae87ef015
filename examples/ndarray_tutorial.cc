// The NDArray part of the MXNet Python tutorial, in-process in C++ on mxgrid's libraries:
// creation, initialization, copies, NumPy conversion, elementwise arithmetic, save/load,
// pickling, and the automatic-parallelization example. Each step prints the Python line it
// mirrors and the result, as the tutorial shows it.
//
//   bazel run //examples:ndarray_tutorial [-- --dir=/tmp]
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/logging.h"
#include "libs/base/status_macros.h"
#include "libs/engine/engine.h"
#include "libs/tensor/ndarray.h"
#include "libs/tensor/ndarray_io.h"

namespace mxgrid {
namespace {

using tensor::NDArray;

void Say(const std::string& python) { std::printf(">>> %s\n", python.c_str()); }

absl::Status Print(const NDArray& a) {
  MXGRID_ASSIGN_OR_RETURN(std::string s, a.ToString());
  std::printf("%s\n", s.c_str());
  return absl::OkStatus();
}

absl::Status CreateAndInitialize() {
  std::printf("\n## Create and initialize\n");
  Say("a = mx.nd.empty((2, 3))");
  MXGRID_ASSIGN_OR_RETURN(NDArray a, NDArray::Empty({2, 3}));
  Say("a.shape, a.context");
  std::printf("%s %s\n", a.shape().ToString().c_str(), a.context().ToString().c_str());
  Say("b = mx.nd.empty((2, 3), mx.gpu())");
  absl::StatusOr<NDArray> g = NDArray::Empty({2, 3}, Context::Gpu(0));
  std::printf("%s\n", g.ok() ? "ok" : std::string(g.status().message()).c_str());
  Say("a = mx.nd.zeros((2, 3)); b = mx.nd.ones((2, 3)); b[:] = 2");
  MXGRID_ASSIGN_OR_RETURN(a, NDArray::Zeros({2, 3}));
  MXGRID_ASSIGN_OR_RETURN(NDArray b, NDArray::Ones({2, 3}));
  MXGRID_RETURN_IF_ERROR(b.Fill(2));
  MXGRID_RETURN_IF_ERROR(Print(b));
  Say("a = mx.nd.ones((2, 3)); b = mx.nd.zeros((2, 3)); a.copyto(b)");
  MXGRID_ASSIGN_OR_RETURN(a, NDArray::Ones({2, 3}));
  MXGRID_ASSIGN_OR_RETURN(b, NDArray::Zeros({2, 3}));
  MXGRID_RETURN_IF_ERROR(a.CopyTo(b));
  Say("print(b.asnumpy())");
  MXGRID_RETURN_IF_ERROR(Print(b));
  Say("a[:] = np.random.uniform(-0.1, 0.1, a.shape)");
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(-0.1f, 0.1f);
  std::vector<float> host(6);
  for (float& v : host) v = uniform(rng);
  MXGRID_RETURN_IF_ERROR(a.CopyFromHost(host.data(), host.size() * sizeof(float)));
  Say("print(a.asnumpy())");
  return Print(a);
}

absl::Status Elementwise() {
  std::printf("\n## Elementwise operations\n");
  Say("a = mx.nd.ones((2, 3)) * 2; b = mx.nd.ones((2, 3)) * 4");
  MXGRID_ASSIGN_OR_RETURN(NDArray ones, NDArray::Ones({2, 3}));
  MXGRID_ASSIGN_OR_RETURN(NDArray a, tensor::Mul(ones, 2));
  MXGRID_ASSIGN_OR_RETURN(NDArray b, tensor::Mul(ones, 4));
  Say("print(b.asnumpy())");
  MXGRID_RETURN_IF_ERROR(Print(b));
  Say("c = a + b; print(c.asnumpy())");
  MXGRID_ASSIGN_OR_RETURN(NDArray c, tensor::Add(a, b));
  MXGRID_RETURN_IF_ERROR(Print(c));
  Say("d = a * b; print(d.asnumpy())");
  MXGRID_ASSIGN_OR_RETURN(NDArray d, tensor::Mul(a, b));
  MXGRID_RETURN_IF_ERROR(Print(d));
  Say("a + mx.nd.ones((2, 3), mx.cpu(1))   # different devices");
  MXGRID_ASSIGN_OR_RETURN(NDArray other, NDArray::Ones({2, 3}, Context::Cpu(1)));
  std::printf("%s\n", std::string(tensor::Add(a, other).status().message()).c_str());
  return absl::OkStatus();
}

absl::Status LoadAndSave(const std::string& dir) {
  std::printf("\n## Load and save\n");
  MXGRID_ASSIGN_OR_RETURN(NDArray ones, NDArray::Ones({2, 3}));
  Say("a = mx.nd.ones((2, 3)) * 2; data = pkl.dumps(a); b = pkl.loads(data)");
  MXGRID_ASSIGN_OR_RETURN(NDArray a, tensor::Mul(ones, 2));
  MXGRID_ASSIGN_OR_RETURN(std::string pickled, tensor::SaveToBytes(a));
  MXGRID_ASSIGN_OR_RETURN(
      NDArray unpickled,
      tensor::LoadFromBytes(absl::Span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(pickled.data()), pickled.size())));
  Say("print(b.asnumpy())");
  MXGRID_RETURN_IF_ERROR(Print(unpickled));
  const std::string path = dir + "/mydata.bin";
  MXGRID_ASSIGN_OR_RETURN(NDArray b, tensor::Mul(ones, 3));
  Say("mx.nd.save('mydata.bin', [a, b]); c = mx.nd.load('mydata.bin')");
  MXGRID_RETURN_IF_ERROR(tensor::Save(path, {a, b}));
  MXGRID_ASSIGN_OR_RETURN(tensor::LoadedArrays c, tensor::Load(path));
  Say("print(c[0].asnumpy()); print(c[1].asnumpy())");
  MXGRID_RETURN_IF_ERROR(Print(c.arrays[0]));
  MXGRID_RETURN_IF_ERROR(Print(c.arrays[1]));
  Say("mx.nd.save('mydata.bin', {'a': a, 'b': b}); c = mx.nd.load('mydata.bin')");
  MXGRID_RETURN_IF_ERROR(tensor::Save(path, {a, b}, {"a", "b"}));
  MXGRID_ASSIGN_OR_RETURN(c, tensor::Load(path));
  for (size_t i = 0; i < c.names.size(); ++i) {
    Say(absl::StrCat("print(c['", c.names[i], "'].asnumpy())"));
    MXGRID_RETURN_IF_ERROR(Print(c.arrays[i]));
  }
  return absl::OkStatus();
}

absl::Status AutomaticParallelization() {
  std::printf("\n## Automatic parallelization\n");
  Say("a = mx.nd.ones((2, 3)); b = a; c = a.copyto(mx.cpu()); a += 1; b *= 3; c *= 3");
  MXGRID_ASSIGN_OR_RETURN(NDArray a, NDArray::Ones({2, 3}));
  NDArray b = a;  // shares a's memory, as in Python
  MXGRID_ASSIGN_OR_RETURN(NDArray c, a.CopyTo(Context::Cpu()));
  MXGRID_RETURN_IF_ERROR(tensor::AddInPlace(a, 1));  // returns at once
  MXGRID_RETURN_IF_ERROR(tensor::MulInPlace(b, 3));  // after a += 1: same memory
  MXGRID_RETURN_IF_ERROR(tensor::MulInPlace(c, 3));  // independent: may run in parallel
  Say("print(a.asnumpy()); print(b.asnumpy()); print(c.asnumpy())");
  MXGRID_RETURN_IF_ERROR(Print(a));
  MXGRID_RETURN_IF_ERROR(Print(b));
  return Print(c);
}

absl::Status Run(const std::string& dir) {
  MXGRID_RETURN_IF_ERROR(CreateAndInitialize());
  MXGRID_RETURN_IF_ERROR(Elementwise());
  MXGRID_RETURN_IF_ERROR(LoadAndSave(dir));
  MXGRID_RETURN_IF_ERROR(AutomaticParallelization());
  return engine::Get()->WaitForAll();
}

}  // namespace
}  // namespace mxgrid

int main(int argc, char** argv) {
  std::string dir = "/tmp";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--dir=", 0) == 0) {
      dir = arg.substr(6);
    } else {
      std::fprintf(stderr, "usage: %s [--dir=DIR]  (DIR receives mydata.bin)\n", argv[0]);
      return 2;
    }
  }
  absl::Status logging = mxgrid::base::InitLogging({.level = "info", .name = "tutorial"});
  if (!logging.ok()) {
    std::fprintf(stderr, "%s\n", std::string(logging.message()).c_str());
    return 2;
  }
  absl::Status status = mxgrid::Run(dir);
  if (!status.ok()) {
    std::fprintf(stderr, "tutorial failed: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("\ntutorial done\n");
  return 0;
}

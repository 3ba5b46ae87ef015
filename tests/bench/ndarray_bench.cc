// NDArray benchmarks, each next to a peer measured in the same run:
//   - `c = a + b` on 16M float32 (new output each time, and into an existing array), as
//     bandwidth (3 x 64 MiB moved), next to memcpy of 64 MiB (2 x 64 MiB moved);
//   - Save / Load of 256 MiB of arrays, next to POSIX write() / read() of the same bytes.
// Prints one JSON object per line: {"metric": ..., "value": ..., "unit": ...}; tools/bench
// pairs them into the rows of docs/benchmarks.md. Human-readable notes go to stderr.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "libs/base/check.h"
#include "libs/engine/engine.h"
#include "libs/tensor/allocator.h"
#include "libs/tensor/ndarray.h"
#include "libs/tensor/ndarray_io.h"

namespace mxgrid {
namespace {

using tensor::NDArray;

constexpr int64_t kElements = 16 << 20;  // 16M float32 = 64 MiB
constexpr double kGB = 1e9;

// Best (shortest) seconds of `reps` runs of fn.
double BestSeconds(int reps, const std::function<void()>& fn) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    const std::chrono::duration<double> d = std::chrono::steady_clock::now() - start;
    best = std::min(best, d.count());
  }
  return best;
}

void Emit(const char* metric, double value, const char* unit) {
  std::printf("{\"metric\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", metric, value, unit);
  std::fflush(stdout);
}

template <typename T>
T Must(absl::StatusOr<T> v) {
  MXGRID_CHECK(v.ok()) << v.status();
  return *std::move(v);
}

void Must(const absl::Status& s) { MXGRID_CHECK(s.ok()) << s; }

void Elementwise() {
  const size_t bytes = kElements * sizeof(float);
  // memcpy peer on 64-byte aligned, pre-touched buffers.
  std::unique_ptr<tensor::Allocator> alloc = tensor::CreateCpuAllocator({});
  void* src = Must(alloc->Allocate(bytes));
  void* dst = Must(alloc->Allocate(bytes));
  std::memset(src, 1, bytes);
  std::memset(dst, 0, bytes);
  const double memcpy_s = BestSeconds(20, [&] { std::memcpy(dst, src, bytes); });
  Emit("memcpy_gbps", 2.0 * bytes / memcpy_s / kGB, "GB/s");
  alloc->Free(src, bytes);
  alloc->Free(dst, bytes);

  NDArray a = Must(NDArray::Full({kElements}, 1.5));
  NDArray b = Must(NDArray::Full({kElements}, 2.5));
  Must(Must(tensor::Add(a, b)).WaitToRead());  // warm the pool
  const double add_s = BestSeconds(20, [&] { Must(Must(tensor::Add(a, b)).WaitToRead()); });
  Emit("add_new_gbps", 3.0 * bytes / add_s / kGB, "GB/s");
  NDArray c = Must(NDArray::Zeros({kElements}));
  const double into_s = BestSeconds(20, [&] {
    Must(tensor::BinaryInto(tensor::BinaryOp::kAdd, a, b, c));
    Must(c.WaitToRead());
  });
  Emit("add_into_gbps", 3.0 * bytes / into_s / kGB, "GB/s");
  const std::vector<float> check = Must(c.ToVector<float>());
  MXGRID_CHECK(check[0] == 4.0f && check[kElements - 1] == 4.0f) << "wrong sum";
}

void SaveLoad(const std::string& dir) {
  // 256 MiB as four 64 MiB arrays.
  std::vector<NDArray> arrays;
  for (int i = 0; i < 4; ++i) arrays.push_back(Must(NDArray::Full({kElements}, i)));
  const double total = 4.0 * kElements * sizeof(float);
  const std::string path = dir + "/mxgrid_bench.params";
  const std::string raw_path = dir + "/mxgrid_bench.raw";

  // The peer: POSIX write()/read() of the same four 64 MiB blocks of pooled, pre-touched
  // memory (what the arrays themselves use), with no format around them.
  const size_t block = kElements * sizeof(float);
  std::unique_ptr<tensor::Allocator> alloc = tensor::CreateCpuAllocator({});
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) {
    blocks.push_back(Must(alloc->Allocate(block)));
    std::memset(blocks.back(), i, block);
  }
  auto transfer = [&](bool write) {
    const int fd = write ? ::open(raw_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644)
                         : ::open(raw_path.c_str(), O_RDONLY);
    MXGRID_CHECK(fd >= 0) << raw_path;
    for (void* p : blocks) {
      size_t done = 0;
      while (done < block) {
        const ssize_t n = write ? ::write(fd, static_cast<char*>(p) + done, block - done)
                                : ::read(fd, static_cast<char*>(p) + done, block - done);
        MXGRID_CHECK(n > 0) << "short transfer on " << raw_path;
        done += static_cast<size_t>(n);
      }
    }
    MXGRID_CHECK(::close(fd) == 0);
  };
  const double write_s = BestSeconds(3, [&] { transfer(true); });
  const double read_s = BestSeconds(3, [&] { transfer(false); });
  for (void* p : blocks) alloc->Free(p, block);
  Emit("file_write_gbps", total / write_s / kGB, "GB/s");
  Emit("file_read_gbps", total / read_s / kGB, "GB/s");

  const double save_s = BestSeconds(3, [&] { Must(tensor::Save(path, arrays)); });
  double load_s = BestSeconds(3, [&] {
    tensor::LoadedArrays loaded = Must(tensor::Load(path));
    MXGRID_CHECK(loaded.arrays.size() == 4);
  });
  Emit("save_gbps", total / save_s / kGB, "GB/s");
  Emit("load_gbps", total / load_s / kGB, "GB/s");
  std::remove(path.c_str());
  std::remove(raw_path.c_str());
}

}  // namespace
}  // namespace mxgrid

int main(int argc, char** argv) {
  std::string dir = "/tmp";
  if (argc > 1) dir = argv[1];
  mxgrid::Elementwise();
  mxgrid::SaveLoad(dir);
  return 0;
}

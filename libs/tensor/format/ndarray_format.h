// MXNet 1.x NDArray binary format: the bytes of `mx.nd.save` / `mx.nd.load` (`.params`
// files) and of a pickled NDArray (`MXNDArraySaveRawBytes`). The layout is in
// shared/reference/mxnet-1x.md section 1.
//
// This layer knows bytes, not NDArrays: the writer takes plain views of dense arrays and
// the reader asks the caller, through an AllocateFn, for the buffer each record's data goes
// into, so an NDArray layer can load straight into its own storage without a copy.
//
//   // Save {'arg:w': w} to a file.
//   ArrayView w{DType::kFloat32, Shape{2, 2}, Context::Cpu(), values};
//   MXGRID_ASSIGN_OR_RETURN(auto sink, OpenFileSink(path));
//   std::string name = "arg:w";
//   MXGRID_RETURN_IF_ERROR(WriteList({&w, 1}, {&name, 1}, sink.get()));
//   MXGRID_RETURN_IF_ERROR(sink->Flush());
//
//   // Load it back.
//   std::vector<std::vector<char>> buffers;
//   AllocateFn allocate = [&](const RecordHeader& h) -> absl::StatusOr<void*> {
//     buffers.emplace_back(h.shape.Size() * DTypeSize(h.dtype));
//     return static_cast<void*>(buffers.back().data());
//   };
//   MXGRID_ASSIGN_OR_RETURN(auto source, OpenFileSource(path));
//   MXGRID_ASSIGN_OR_RETURN(ListContents contents, ReadList(source.get(), allocate));
//
// Writing emits what MXNet 1.x writes: V2 records (magic 0xF993FAC9), dense storage, the
// given context. Reading accepts every record version MXNet 1.x accepts (pre-V1 legacy, V1,
// V2, V3/np-shape), every dtype MXNet 1.x can store, and row_sparse/csr records, which are
// densified. Input is untrusted: truncated, corrupt or hostile bytes give DataLoss
// (truncation, bad magic, inconsistent sparse indices) or InvalidArgument (bad dtype, shape,
// context or storage type), each message naming the byte offset; nothing is allocated for a
// dense record whose data the remaining input cannot hold.
//
// Thread-safety: the functions are thread-safe; each call uses its Sink/Source exclusively.
#ifndef MXGRID_LIBS_TENSOR_FORMAT_NDARRAY_FORMAT_H_
#define MXGRID_LIBS_TENSOR_FORMAT_NDARRAY_FORMAT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "libs/base/context.h"
#include "libs/base/dtype.h"
#include "libs/base/shape.h"
#include "libs/tensor/format/byte_io.h"

namespace mxgrid::tensor::format {

// Magic numbers of the format.
inline constexpr uint64_t kListMagic = 0x112;
inline constexpr uint32_t kRecordV1Magic = 0xF993FAC8;
inline constexpr uint32_t kRecordV2Magic = 0xF993FAC9;
inline constexpr uint32_t kRecordV3Magic = 0xF993FACA;

// One dense array to write. `data` points at shape.Size() * DTypeSize(dtype) bytes in C
// order (it may be null when that is 0); it is not owned and only read during the call.
struct ArrayView {
  DType dtype = DType::kFloat32;
  Shape shape;
  Context ctx;
  const void* data = nullptr;
};

// The header of a loaded record, as the array is after loading (sparse records densified).
// is_none: MXNet's empty "none" array (V1/V2/legacy ndim 0, or an unknown shape such as V3
// ndim -1); it has no data, and dtype/shape/ctx are left at their defaults.
// ctx keeps the saved device; MXNet's cpu_shared (device type 5) loads as cpu.
struct RecordHeader {
  DType dtype = DType::kFloat32;
  Shape shape;
  Context ctx;
  bool is_none = false;
};

// Called once for each non-none record, with its dense header, before any of its data is
// stored. Returns a writable buffer of exactly shape.Size() * DTypeSize(dtype) bytes (may be
// null when that is 0), owned by the caller; the reader fills it with the C-order values.
// A failed status aborts the read and is returned as is (e.g. ResourceExhausted).
// For a dense record the size has been checked against the bytes left in the input; for a
// sparse record only the stored values are, and the dense size is the allocator's to refuse.
using AllocateFn = std::function<absl::StatusOr<void*>(const RecordHeader&)>;

// Writes one record with no list header: the single-record form of MXNDArraySaveRawBytes
// and NDArray pickles. V2, dense. InvalidArgument for a scalar (ndim 0 means "none" in V2),
// an invalid dtype or shape, or null data for a non-empty array. Big payloads are passed to
// the sink without a copy.
absl::Status WriteRecord(const ArrayView& array, Sink* sink);

// Writes a file as mx.nd.save does: a list when `names` is empty, else a dict whose key i is
// names[i] (then names.size() must equal arrays.size(), else InvalidArgument). Every array
// is validated as in WriteRecord before the first byte is written.
absl::Status WriteList(absl::Span<const ArrayView> arrays, absl::Span<const std::string> names,
                       Sink* sink);

// Reads one record (any version) at the source's position into the buffer `allocate`
// returns, and describes it in *header. REQUIRES: header != nullptr.
absl::Status ReadRecord(Source* source, const AllocateFn& allocate, RecordHeader* header);

// What a list file held: one header per record, in file order, and the names (empty for a
// list; else names[i] belongs to headers[i]).
struct ListContents {
  std::vector<RecordHeader> headers;
  std::vector<std::string> names;
};

// Reads a whole mx.nd.save file (list header 0x112, records, names). Bytes after the names
// are ignored, as MXNet does.
absl::StatusOr<ListContents> ReadList(Source* source, const AllocateFn& allocate);

}  // namespace mxgrid::tensor::format

#endif  // MXGRID_LIBS_TENSOR_FORMAT_NDARRAY_FORMAT_H_

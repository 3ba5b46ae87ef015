// Saving and loading NDArrays in MXNet's formats: `mx.nd.save` / `mx.nd.load` files
// (`.params`) and the single-record bytes of a pickled NDArray. Byte-compatible with
// MXNet 1.x in both directions (format/ndarray_format.h has the layout).
//
//   MXGRID_RETURN_IF_ERROR(Save("mydata.bin", {a, b}));                 // a list
//   MXGRID_RETURN_IF_ERROR(Save("mydata.bin", {a, b}, {"a", "b"}));     // a dict
//   MXGRID_ASSIGN_OR_RETURN(LoadedArrays c, Load("mydata.bin"));        // c.arrays[0] ...
//
// Saving waits for pending writes to the arrays (as mx.nd.save does). Loaded arrays live on
// cpu(0): this build has no GPUs, as MXNet keeps arrays on CPU when it has none.
// Thread-safety: thread-safe; concurrent saves to one path race like any file writes.
#ifndef MXGRID_LIBS_TENSOR_NDARRAY_IO_H_
#define MXGRID_LIBS_TENSOR_NDARRAY_IO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::tensor {

// What a file held: the arrays in file order and, for a dict, their names (names[i] is the
// key of arrays[i]); names is empty for a list. An MXNet "none" array loads as a none NDArray.
struct LoadedArrays {
  std::vector<NDArray> arrays;
  std::vector<std::string> names;
};

// Writes `arrays` as a list (names empty) or a dict (one name per array, else
// InvalidArgument). A none array or a 0-d scalar cannot be stored in MXNet 1.x's V2 records:
// InvalidArgument. I/O errors keep their errno-derived code and name the path.
absl::Status Save(const std::string& path, absl::Span<const NDArray> arrays,
                  absl::Span<const std::string> names = {});
// Reads a file written by mx.nd.save (any MXNet 1.x version) or by Save. DataLoss or
// InvalidArgument, naming the byte offset, for a truncated, corrupt or hostile file.
absl::StatusOr<LoadedArrays> Load(const std::string& path);

// The single-record form (MXNDArraySaveRawBytes; what NDArray pickles hold).
absl::StatusOr<std::string> SaveToBytes(const NDArray& array);
absl::StatusOr<NDArray> LoadFromBytes(absl::Span<const uint8_t> bytes);

}  // namespace mxgrid::tensor

#endif  // MXGRID_LIBS_TENSOR_NDARRAY_IO_H_

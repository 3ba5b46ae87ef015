#include "libs/tensor/ndarray_io.h"

#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "libs/base/status.h"
#include "libs/base/status_macros.h"
#include "libs/tensor/format/ndarray_format.h"

namespace mxgrid::tensor {
namespace {

// Waits for each array and describes its memory for the writer; arrays on a GPU are read
// from host copies kept in `staged` (the record still names their GPU context, as MXNet's).
absl::StatusOr<std::vector<format::ArrayView>> Views(absl::Span<const NDArray> arrays,
                                                     std::vector<NDArray>* staged) {
  std::vector<format::ArrayView> views;
  views.reserve(arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    const NDArray& a = arrays[i];
    if (a.is_none()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "save: array ", i, " is empty (none); MXNet files cannot store none arrays"));
    }
    MXGRID_RETURN_IF_ERROR(Annotate(a.WaitToRead(), absl::StrCat("save: array ", i)));
    if (a.context().is_gpu()) {
      MXGRID_ASSIGN_OR_RETURN(NDArray host, a.CopyTo(Context::Cpu()));
      MXGRID_RETURN_IF_ERROR(Annotate(host.WaitToRead(), absl::StrCat("save: array ", i)));
      staged->push_back(host);
      views.push_back({a.dtype(), a.shape(), a.context(), host.data()});
      continue;
    }
    views.push_back({a.dtype(), a.shape(), a.context(), a.data()});
  }
  return views;
}

// The largest array a load may create: half the machine's memory. Dense records are
// already bounded by the file's size; this bounds sparse records, whose dense shape a tiny
// hostile file could declare as huge.
uint64_t MaxLoadBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return uint64_t{1} << 34;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) / 2;
}

// Loads each record into a new cpu(0) array; the array is private until returned, so the
// reader may fill its memory directly.
class ArrayLoader {
 public:
  format::AllocateFn Fn() {
    return [this](const format::RecordHeader& header) -> absl::StatusOr<void*> {
      const uint64_t bytes =
          static_cast<uint64_t>(header.shape.Size()) * DTypeSize(header.dtype);
      static const uint64_t kMaxBytes = MaxLoadBytes();
      if (bytes > kMaxBytes) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "load: array of shape ", header.shape.ToString(), " needs ", bytes,
            " bytes, more than half of this machine's memory"));
      }
      MXGRID_ASSIGN_OR_RETURN(NDArray a,
                              NDArray::Empty(header.shape, Context::Cpu(), header.dtype));
      arrays_.push_back(a);
      return a.data();
    };
  }

  // Pairs the loaded arrays with the headers (none records have no array).
  absl::StatusOr<std::vector<NDArray>> Take(absl::Span<const format::RecordHeader> headers) {
    std::vector<NDArray> out;
    out.reserve(headers.size());
    size_t next = 0;
    for (const format::RecordHeader& h : headers) {
      if (h.is_none) {
        out.emplace_back();
      } else {
        if (next >= arrays_.size()) {
          return absl::InternalError("load: reader reported more arrays than it allocated");
        }
        out.push_back(arrays_[next++]);
      }
    }
    return out;
  }

 private:
  std::vector<NDArray> arrays_;
};

}  // namespace

absl::Status Save(const std::string& path, absl::Span<const NDArray> arrays,
                  absl::Span<const std::string> names) {
  std::vector<NDArray> staged;
  MXGRID_ASSIGN_OR_RETURN(std::vector<format::ArrayView> views, Views(arrays, &staged));
  MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<format::Sink> sink, format::OpenFileSink(path));
  MXGRID_RETURN_IF_ERROR(format::WriteList(views, names, sink.get()));
  return sink->Flush();
}

absl::StatusOr<LoadedArrays> Load(const std::string& path) {
  MXGRID_ASSIGN_OR_RETURN(std::unique_ptr<format::Source> source,
                          format::OpenFileSource(path));
  ArrayLoader loader;
  absl::StatusOr<format::ListContents> contents = format::ReadList(source.get(), loader.Fn());
  if (!contents.ok()) return Annotate(contents.status(), absl::StrCat("load ", path));
  LoadedArrays loaded;
  MXGRID_ASSIGN_OR_RETURN(loaded.arrays, loader.Take(contents->headers));
  loaded.names = std::move(contents->names);
  return loaded;
}

absl::StatusOr<std::string> SaveToBytes(const NDArray& array) {
  std::vector<NDArray> staged;
  MXGRID_ASSIGN_OR_RETURN(std::vector<format::ArrayView> views, Views({&array, 1}, &staged));
  format::StringSink sink;
  MXGRID_RETURN_IF_ERROR(format::WriteRecord(views[0], &sink));
  return sink.Release();
}

absl::StatusOr<NDArray> LoadFromBytes(absl::Span<const uint8_t> bytes) {
  format::MemorySource source(bytes);
  ArrayLoader loader;
  format::RecordHeader header;
  MXGRID_RETURN_IF_ERROR(format::ReadRecord(&source, loader.Fn(), &header));
  MXGRID_ASSIGN_OR_RETURN(std::vector<NDArray> arrays, loader.Take({&header, 1}));
  return arrays[0];
}

}  // namespace mxgrid::tensor

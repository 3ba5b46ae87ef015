// Snapshot format: encoding (two passes: size, then bytes with a running CRC32C) and a
// bounds-checked decoder.
#include "libs/kvstore/snapshot.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"

namespace mxgrid::kvstore {
namespace {

using tensor::NDArray;

constexpr char kMagic[8] = {'M', 'X', 'K', 'V', 'S', 'N', 'A', 'P'};
// 2 added the optimizer's per-key multipliers; version 1 files are still read.
constexpr uint32_t kVersion = 2;
constexpr uint32_t kOldestVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 8;
constexpr size_t kMaxDims = 32;

std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

// Appends fields little-endian to a sink, or only counts them (sink == nullptr).
class Encoder {
 public:
  explicit Encoder(SnapshotSink* sink) : sink_(sink) {}

  absl::Status Bytes(absl::string_view b) {
    bytes_ += static_cast<int64_t>(b.size());
    if (sink_ == nullptr) return absl::OkStatus();
    crc_ = Crc32c(crc_, b);
    return sink_->Append(b);
  }
  template <typename T>
  absl::Status Int(T v) {
    char buf[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) {
      buf[i] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
    }
    return Bytes(absl::string_view(buf, sizeof(T)));
  }
  absl::Status Str(absl::string_view s) {
    MXGRID_RETURN_IF_ERROR(Int<uint32_t>(static_cast<uint32_t>(s.size())));
    return Bytes(s);
  }
  absl::Status Double(double v) {
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(bits));
    return Int<uint64_t>(bits);
  }
  // u32 count, then (str key, f64 multiplier) per entry.
  absl::Status Mults(const std::map<std::string, double>& m) {
    MXGRID_RETURN_IF_ERROR(Int<uint32_t>(static_cast<uint32_t>(m.size())));
    for (const auto& [k, v] : m) {
      MXGRID_RETURN_IF_ERROR(Str(k));
      MXGRID_RETURN_IF_ERROR(Double(v));
    }
    return absl::OkStatus();
  }
  // dtype, ndim, dims, bytes, data. REQUIRES: `a` is a waited-for CPU array.
  absl::Status Array(const NDArray& a) {
    MXGRID_RETURN_IF_ERROR(Int<int32_t>(static_cast<int32_t>(a.dtype())));
    MXGRID_RETURN_IF_ERROR(Int<uint32_t>(static_cast<uint32_t>(a.shape().ndim())));
    for (int64_t d : a.shape().dims()) MXGRID_RETURN_IF_ERROR(Int<int64_t>(d));
    MXGRID_RETURN_IF_ERROR(Int<uint64_t>(a.nbytes()));
    if (sink_ == nullptr) {
      bytes_ += static_cast<int64_t>(a.nbytes());
      return absl::OkStatus();
    }
    return Bytes(absl::string_view(static_cast<const char*>(a.data()), a.nbytes()));
  }
  int64_t bytes() const { return bytes_; }
  uint32_t crc() const { return crc_; }

 private:
  SnapshotSink* sink_;
  int64_t bytes_ = 0;
  uint32_t crc_ = 0;
};

absl::Status EncodePayload(absl::Span<const JobSnapshot> jobs, Encoder* e) {
  MXGRID_RETURN_IF_ERROR(e->Int<uint32_t>(static_cast<uint32_t>(jobs.size())));
  for (const JobSnapshot& job : jobs) {
    MXGRID_RETURN_IF_ERROR(e->Str(job.name));
    MXGRID_RETURN_IF_ERROR(e->Int<int32_t>(job.num_workers));
    MXGRID_RETURN_IF_ERROR(e->Int<uint8_t>(job.sync ? 1 : 0));
    MXGRID_RETURN_IF_ERROR(e->Int<int64_t>(job.heartbeat_timeout_ms));
    MXGRID_RETURN_IF_ERROR(e->Int<uint32_t>(static_cast<uint32_t>(job.keys.size())));
    for (const KeySnapshot& key : job.keys) {
      MXGRID_RETURN_IF_ERROR(e->Str(key.key));
      MXGRID_RETURN_IF_ERROR(e->Int<int32_t>(key.part));
      MXGRID_RETURN_IF_ERROR(e->Int<int32_t>(key.index));
      MXGRID_RETURN_IF_ERROR(e->Int<int64_t>(key.applied_rounds));
      MXGRID_RETURN_IF_ERROR(e->Array(key.value));
    }
    MXGRID_RETURN_IF_ERROR(e->Int<uint8_t>(job.has_optimizer ? 1 : 0));
    if (!job.has_optimizer) continue;
    MXGRID_RETURN_IF_ERROR(e->Str(job.optimizer_name));
    MXGRID_RETURN_IF_ERROR(e->Int<uint32_t>(static_cast<uint32_t>(job.optimizer_params.size())));
    for (const auto& [k, v] : job.optimizer_params) {
      MXGRID_RETURN_IF_ERROR(e->Str(k));
      MXGRID_RETURN_IF_ERROR(e->Str(v));
    }
    MXGRID_RETURN_IF_ERROR(e->Mults(job.optimizer_mults.lr));
    MXGRID_RETURN_IF_ERROR(e->Mults(job.optimizer_mults.wd));
    MXGRID_RETURN_IF_ERROR(e->Int<uint32_t>(static_cast<uint32_t>(job.optimizer_states.size())));
    for (const OptimizerIndexState& s : job.optimizer_states) {
      MXGRID_RETURN_IF_ERROR(e->Int<int32_t>(s.index));
      MXGRID_RETURN_IF_ERROR(e->Int<int64_t>(s.update_count));
      MXGRID_RETURN_IF_ERROR(e->Int<uint32_t>(static_cast<uint32_t>(s.arrays.size())));
      for (const NDArray& a : s.arrays) MXGRID_RETURN_IF_ERROR(e->Array(a));
    }
  }
  return absl::OkStatus();
}

// Reads fields little-endian from a payload, failing with DataLoss past its end.
class Decoder {
 public:
  explicit Decoder(absl::string_view in) : in_(in) {}

  absl::Status Bytes(size_t n, absl::string_view* out) {
    if (n > in_.size()) {
      return absl::DataLossError(absl::StrCat("snapshot payload ends early (", n,
                                              " bytes wanted, ", in_.size(), " left)"));
    }
    *out = in_.substr(0, n);
    in_.remove_prefix(n);
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status Int(T* v) {
    absl::string_view b;
    MXGRID_RETURN_IF_ERROR(Bytes(sizeof(T), &b));
    uint64_t x = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      x |= static_cast<uint64_t>(static_cast<unsigned char>(b[i])) << (8 * i);
    }
    *v = static_cast<T>(x);
    return absl::OkStatus();
  }
  absl::Status Str(std::string* s) {
    uint32_t n = 0;
    MXGRID_RETURN_IF_ERROR(Int(&n));
    absl::string_view b;
    MXGRID_RETURN_IF_ERROR(Bytes(n, &b));
    s->assign(b.data(), b.size());
    return absl::OkStatus();
  }
  // A count of items each at least `min_item_bytes` long: refuses counts the rest cannot hold.
  absl::Status Count(uint32_t* n, size_t min_item_bytes) {
    MXGRID_RETURN_IF_ERROR(Int(n));
    if (static_cast<uint64_t>(*n) * min_item_bytes > in_.size()) {
      return absl::DataLossError(absl::StrCat("snapshot payload: a count of ", *n,
                                              " items cannot fit in the ", in_.size(),
                                              " bytes left"));
    }
    return absl::OkStatus();
  }
  absl::Status Array(NDArray* a) {
    int32_t dtype = 0;
    uint32_t ndim = 0;
    MXGRID_RETURN_IF_ERROR(Int(&dtype));
    MXGRID_RETURN_IF_ERROR(Int(&ndim));
    if (ndim > kMaxDims) return absl::DataLossError(absl::StrCat("snapshot: ndim ", ndim));
    std::vector<int64_t> dims(ndim);
    for (int64_t& d : dims) MXGRID_RETURN_IF_ERROR(Int(&d));
    absl::StatusOr<DType> dt = DTypeFromFlag(dtype);
    if (!dt.ok()) return absl::DataLossError(absl::StrCat("snapshot: dtype ", dtype));
    absl::StatusOr<Shape> shape = Shape::Make(dims);
    if (!shape.ok()) return absl::DataLossError(absl::StrCat("snapshot: ", shape.status().message()));
    uint64_t nbytes = 0;
    MXGRID_RETURN_IF_ERROR(Int(&nbytes));
    const uint64_t want = static_cast<uint64_t>(shape->Size()) * DTypeSize(*dt);
    if (nbytes != want) {
      return absl::DataLossError(absl::StrCat("snapshot: an array of ", shape->ToString(), " ",
                                              DTypeName(*dt), " holds ", nbytes, " bytes"));
    }
    absl::string_view data;
    MXGRID_RETURN_IF_ERROR(Bytes(nbytes, &data));
    MXGRID_ASSIGN_OR_RETURN(*a, NewHostArray(*shape, *dt));
    return a->CopyFromHost(data.data(), data.size());
  }
  bool empty() const { return in_.empty(); }

 private:
  absl::string_view in_;
};

absl::Status DecodeMults(Decoder* d, std::map<std::string, double>* m) {
  uint32_t n = 0;
  MXGRID_RETURN_IF_ERROR(d->Count(&n, 4 + 8));
  for (uint32_t i = 0; i < n; ++i) {
    std::string key;
    uint64_t bits = 0;
    MXGRID_RETURN_IF_ERROR(d->Str(&key));
    MXGRID_RETURN_IF_ERROR(d->Int(&bits));
    double v = 0;
    std::memcpy(&v, &bits, sizeof(v));
    (*m)[key] = v;
  }
  return absl::OkStatus();
}

absl::Status DecodePayload(absl::string_view payload, uint32_t version,
                           std::vector<JobSnapshot>* jobs) {
  Decoder d(payload);
  uint32_t njobs = 0;
  MXGRID_RETURN_IF_ERROR(d.Count(&njobs, 4 + 4 + 1 + 8 + 4 + 1));
  for (uint32_t j = 0; j < njobs; ++j) {
    JobSnapshot job;
    uint8_t sync = 0, has_optimizer = 0;
    uint32_t nkeys = 0;
    MXGRID_RETURN_IF_ERROR(d.Str(&job.name));
    MXGRID_RETURN_IF_ERROR(d.Int(&job.num_workers));
    MXGRID_RETURN_IF_ERROR(d.Int(&sync));
    MXGRID_RETURN_IF_ERROR(d.Int(&job.heartbeat_timeout_ms));
    MXGRID_RETURN_IF_ERROR(d.Count(&nkeys, 4 + 4 + 4 + 8 + 4 + 4 + 8));
    job.sync = sync != 0;
    for (uint32_t k = 0; k < nkeys; ++k) {
      KeySnapshot key;
      MXGRID_RETURN_IF_ERROR(d.Str(&key.key));
      MXGRID_RETURN_IF_ERROR(d.Int(&key.part));
      MXGRID_RETURN_IF_ERROR(d.Int(&key.index));
      MXGRID_RETURN_IF_ERROR(d.Int(&key.applied_rounds));
      MXGRID_RETURN_IF_ERROR(d.Array(&key.value));
      job.keys.push_back(std::move(key));
    }
    MXGRID_RETURN_IF_ERROR(d.Int(&has_optimizer));
    job.has_optimizer = has_optimizer != 0;
    if (job.has_optimizer) {
      uint32_t nparams = 0, nstates = 0;
      MXGRID_RETURN_IF_ERROR(d.Str(&job.optimizer_name));
      MXGRID_RETURN_IF_ERROR(d.Count(&nparams, 8));
      for (uint32_t p = 0; p < nparams; ++p) {
        std::string k, v;
        MXGRID_RETURN_IF_ERROR(d.Str(&k));
        MXGRID_RETURN_IF_ERROR(d.Str(&v));
        job.optimizer_params[k] = v;
      }
      if (version >= 2) {
        MXGRID_RETURN_IF_ERROR(DecodeMults(&d, &job.optimizer_mults.lr));
        MXGRID_RETURN_IF_ERROR(DecodeMults(&d, &job.optimizer_mults.wd));
      }
      MXGRID_RETURN_IF_ERROR(d.Count(&nstates, 4 + 8 + 4));
      for (uint32_t s = 0; s < nstates; ++s) {
        OptimizerIndexState state;
        uint32_t narrays = 0;
        MXGRID_RETURN_IF_ERROR(d.Int(&state.index));
        MXGRID_RETURN_IF_ERROR(d.Int(&state.update_count));
        MXGRID_RETURN_IF_ERROR(d.Count(&narrays, 4 + 4 + 8));
        for (uint32_t a = 0; a < narrays; ++a) {
          NDArray array;
          MXGRID_RETURN_IF_ERROR(d.Array(&array));
          state.arrays.push_back(std::move(array));
        }
        job.optimizer_states.push_back(std::move(state));
      }
    }
    jobs->push_back(std::move(job));
  }
  if (!d.empty()) return absl::DataLossError("snapshot payload has trailing bytes");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NDArray> NewHostArray(const Shape& shape, DType dtype) {
  MXGRID_ASSIGN_OR_RETURN(Shape checked, Shape::Make(shape.dims()));
  const size_t bytes = static_cast<size_t>(checked.Size()) * DTypeSize(dtype);
  constexpr size_t kAlign = 64;
  const size_t rounded = std::max<size_t>(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
  void* data = std::aligned_alloc(kAlign, rounded);
  if (data == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("kvstore snapshot: cannot allocate ", bytes, " bytes"));
  }
  absl::StatusOr<NDArray> array =
      NDArray::WrapHost(data, checked, dtype, Context::Cpu(), [data] { std::free(data); });
  if (!array.ok()) std::free(data);
  return array;
}

uint32_t Crc32c(uint32_t crc, absl::string_view data) {
  static const std::array<uint32_t, 256> table = MakeTable();
  crc = ~crc;
  for (unsigned char c : data) crc = table[(crc ^ c) & 0xff] ^ (crc >> 8);
  return ~crc;
}

int64_t JobSnapshot::Round() const {
  int64_t round = -1;
  for (const KeySnapshot& key : keys) {
    round = round < 0 ? key.applied_rounds : std::min(round, key.applied_rounds);
  }
  return std::max<int64_t>(round, 0);
}

absl::StatusOr<int64_t> WriteSnapshot(absl::Span<const JobSnapshot> jobs, SnapshotSink* sink) {
  Encoder sizer(nullptr);
  MXGRID_RETURN_IF_ERROR(EncodePayload(jobs, &sizer));
  Encoder header(sink);
  MXGRID_RETURN_IF_ERROR(header.Bytes(absl::string_view(kMagic, sizeof(kMagic))));
  MXGRID_RETURN_IF_ERROR(header.Int<uint32_t>(kVersion));
  MXGRID_RETURN_IF_ERROR(header.Int<uint64_t>(static_cast<uint64_t>(sizer.bytes())));
  Encoder payload(sink);
  MXGRID_RETURN_IF_ERROR(EncodePayload(jobs, &payload));
  Encoder trailer(sink);
  MXGRID_RETURN_IF_ERROR(trailer.Int<uint32_t>(payload.crc()));
  return header.bytes() + payload.bytes() + trailer.bytes();
}

absl::StatusOr<std::vector<JobSnapshot>> ReadSnapshot(absl::string_view bytes) {
  if (bytes.size() < kHeaderBytes + 4) {
    return absl::DataLossError(absl::StrCat("snapshot is truncated: ", bytes.size(), " bytes"));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError("not a snapshot (bad magic)");
  }
  Decoder header(bytes.substr(sizeof(kMagic), 12));
  uint32_t version = 0;
  uint64_t payload_bytes = 0;
  MXGRID_RETURN_IF_ERROR(header.Int(&version));
  MXGRID_RETURN_IF_ERROR(header.Int(&payload_bytes));
  if (version < kOldestVersion || version > kVersion) {
    return absl::DataLossError(absl::StrCat("snapshot version ", version, " is unknown (want ",
                                            kOldestVersion, " to ", kVersion, ")"));
  }
  if (payload_bytes != bytes.size() - kHeaderBytes - 4) {
    return absl::DataLossError(absl::StrCat("snapshot is truncated or padded: header says ",
                                            payload_bytes, " payload bytes, the file has ",
                                            bytes.size() - kHeaderBytes - 4));
  }
  const absl::string_view payload = bytes.substr(kHeaderBytes, payload_bytes);
  Decoder trailer(bytes.substr(kHeaderBytes + payload_bytes));
  uint32_t want_crc = 0;
  MXGRID_RETURN_IF_ERROR(trailer.Int(&want_crc));
  const uint32_t crc = Crc32c(0, payload);
  if (crc != want_crc) {
    return absl::DataLossError(absl::StrCat("snapshot checksum mismatch (crc32c ", crc,
                                            ", stored ", want_crc, ")"));
  }
  std::vector<JobSnapshot> jobs;
  MXGRID_RETURN_IF_ERROR(DecodePayload(payload, version, &jobs));
  return jobs;
}

}  // namespace mxgrid::kvstore

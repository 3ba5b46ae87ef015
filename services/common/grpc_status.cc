#include "services/common/grpc_status.h"

#include "absl/strings/str_cat.h"
#include "libs/base/check.h"
#include "libs/base/quote.h"

namespace mxgrid::services {
namespace {

// Bytes `c` takes in grpc-message (gRPC percent-encodes all but printable ASCII, and '%').
size_t EncodedSize(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return u >= 0x20 && u <= 0x7E && u != '%' ? 1 : 3;
}

// Room kept for the note; it is ASCII but for the ellipsis (3 bytes, 9 encoded).
constexpr size_t kNoteBytes = 64;

}  // namespace

std::string ClipGrpcMessage(absl::string_view message, size_t max_encoded_bytes) {
  MXGRID_CHECK(max_encoded_bytes >= 4 * kNoteBytes)
      << "ClipGrpcMessage needs room for its note, got " << max_encoded_bytes;
  size_t encoded = 0;
  size_t fits = 0;  // bytes of `message` whose encoding fits max_encoded_bytes - kNoteBytes
  for (size_t i = 0; i < message.size() && encoded <= max_encoded_bytes; ++i) {
    encoded += EncodedSize(message[i]);
    if (encoded <= max_encoded_bytes - kNoteBytes) fits = i + 1;
  }
  if (encoded <= max_encoded_bytes) return std::string(message);
  return absl::StrCat(Utf8Prefix(message, fits), "\xE2\x80\xA6 [message cut: ", message.size(),
                      " bytes in all]");
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), ClipGrpcMessage(s.message()));
}

}  // namespace mxgrid::services

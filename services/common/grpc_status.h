// absl::Status -> grpc::Status for service handlers (the two share their code numbers).
//
// The message travels as the grpc-message header, percent-encoded (every byte outside
// printable ASCII, and '%', takes 3 bytes). A header past the channel's metadata limit
// (8 KiB by default) fails the call with RESOURCE_EXHAUSTED and loses the real code, so
// ToGrpc cuts any message whose encoding would exceed kMaxGrpcMessageBytes, at a UTF-8
// boundary, and says so at its end. This is the safety net; the libraries keep messages short
// in the first place by quoting client input through Quoted() (libs/base/quote.h).
//
// Thread-safety: pure functions.
#ifndef MXGRID_SERVICES_COMMON_GRPC_STATUS_H_
#define MXGRID_SERVICES_COMMON_GRPC_STATUS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace mxgrid::services {

// The most bytes a status message takes once percent-encoded, the note included.
inline constexpr size_t kMaxGrpcMessageBytes = 4096;

// The same code and message; the message cut as ClipGrpcMessage does.
grpc::Status ToGrpc(const absl::Status& s);

// `message` when its percent-encoding fits `max_encoded_bytes`; otherwise its longest prefix
// (cut at a UTF-8 boundary) that fits together with the note "… [message cut: N bytes in
// all]". REQUIRES: max_encoded_bytes >= 256 (room for the note).
std::string ClipGrpcMessage(absl::string_view message,
                            size_t max_encoded_bytes = kMaxGrpcMessageBytes);

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_COMMON_GRPC_STATUS_H_

// SchemaIndex: the protocol's .proto files as server reflection serves them — serialized
// FileDescriptorProtos that keep their comments (source code info), so `grpcurl describe`
// shows the documentation written in the .proto files. The descriptors compiled into the
// generated C++ code drop comments, hence this separate copy: protoc writes a descriptor set
// with --include_source_info at build time and the binary embeds it (services/common/BUILD,
// target schema_descriptors).
//
//   const SchemaIndex& schema = SchemaIndex::Embedded();
//   absl::StatusOr<std::vector<std::string>> files =
//       schema.FileContainingSymbol("mxgrid.v1.Worker.Invoke");  // worker.proto, then imports
//
// Thread-safety: immutable after construction; every method is thread-safe.
#ifndef MXGRID_SERVICES_COMMON_INTERNAL_SCHEMA_INDEX_H_
#define MXGRID_SERVICES_COMMON_INTERNAL_SCHEMA_INDEX_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace mxgrid::services::internal {

class SchemaIndex {
 public:
  // Indexes a serialized google.protobuf.FileDescriptorSet whose files come after the files
  // they import (as protoc writes them with --include_imports). InvalidArgument for bytes
  // that do not parse, a file whose imports are missing or a name defined twice.
  static absl::StatusOr<std::unique_ptr<SchemaIndex>> FromDescriptorSet(absl::string_view bytes);

  // The schema embedded in this binary: every mxgrid.v1 proto, grpc.health.v1 and
  // grpc.reflection. Built on first use; aborts if the embedded set is malformed (a build
  // error, not an input one).
  static const SchemaIndex& Embedded();

  // The serialized file named `file` first, then every file it imports directly or not,
  // each once. NotFound for an unknown name.
  absl::StatusOr<std::vector<std::string>> FileWithImports(absl::string_view file) const;
  // As FileWithImports for the file that defines `symbol`: a fully qualified service,
  // method, message, field, enum or enum value name. NotFound for an unknown symbol.
  absl::StatusOr<std::vector<std::string>> FileContainingSymbol(absl::string_view symbol) const;
  // The extension numbers declared for message `type` (none in these protos). NotFound for
  // an unknown message type.
  absl::StatusOr<std::vector<int>> ExtensionNumbers(absl::string_view type) const;

 private:
  SchemaIndex() = default;

  google::protobuf::DescriptorPool pool_;
  // Serialized FileDescriptorProto by file name, as protoc wrote it (comments included).
  absl::flat_hash_map<std::string, std::string> files_;
};

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_COMMON_INTERNAL_SCHEMA_INDEX_H_

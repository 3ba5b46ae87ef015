#include "services/common/internal/schema_index.h"

#include <cstddef>
#include <cstdlib>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.pb.h"
#include "spdlog/spdlog.h"

namespace mxgrid::services::internal {

// Written by the schema_descriptors genrule (services/common/BUILD).
extern const unsigned char kSchemaDescriptorSet[];
extern const size_t kSchemaDescriptorSetSize;

absl::StatusOr<std::unique_ptr<SchemaIndex>> SchemaIndex::FromDescriptorSet(
    absl::string_view bytes) {
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("the descriptor set does not parse");
  }
  std::unique_ptr<SchemaIndex> index(new SchemaIndex());  // private constructor
  for (const google::protobuf::FileDescriptorProto& file : set.file()) {
    if (index->pool_.BuildFile(file) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "descriptor set file ", file.name(),
          " does not build (an import missing or placed after it, or a name defined twice)"));
    }
    index->files_[file.name()] = file.SerializeAsString();
  }
  return index;
}

const SchemaIndex& SchemaIndex::Embedded() {
  static const SchemaIndex* const embedded = [] {
    absl::StatusOr<std::unique_ptr<SchemaIndex>> index = FromDescriptorSet(absl::string_view(
        reinterpret_cast<const char*>(kSchemaDescriptorSet), kSchemaDescriptorSetSize));
    if (!index.ok()) {
      spdlog::critical("embedded protocol schema: {}", index.status().ToString());
      std::abort();
    }
    return index->release();
  }();
  return *embedded;
}

absl::StatusOr<std::vector<std::string>> SchemaIndex::FileWithImports(
    absl::string_view file) const {
  const google::protobuf::FileDescriptor* root = pool_.FindFileByName(std::string(file));
  if (root == nullptr) return absl::NotFoundError(absl::StrCat("no proto file named ", file));
  // Depth-first over the imports; each file once.
  std::vector<std::string> out;
  absl::flat_hash_set<const google::protobuf::FileDescriptor*> seen = {root};
  std::vector<const google::protobuf::FileDescriptor*> todo = {root};
  while (!todo.empty()) {
    const google::protobuf::FileDescriptor* f = todo.back();
    todo.pop_back();
    out.push_back(files_.at(f->name()));
    for (int i = 0; i < f->dependency_count(); ++i) {
      if (seen.insert(f->dependency(i)).second) todo.push_back(f->dependency(i));
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> SchemaIndex::FileContainingSymbol(
    absl::string_view symbol) const {
  const google::protobuf::FileDescriptor* file =
      pool_.FindFileContainingSymbol(std::string(symbol));
  if (file == nullptr) return absl::NotFoundError(absl::StrCat("no symbol named ", symbol));
  return FileWithImports(file->name());
}

absl::StatusOr<std::vector<int>> SchemaIndex::ExtensionNumbers(absl::string_view type) const {
  const google::protobuf::Descriptor* message = pool_.FindMessageTypeByName(std::string(type));
  if (message == nullptr) return absl::NotFoundError(absl::StrCat("no message type named ", type));
  std::vector<const google::protobuf::FieldDescriptor*> extensions;
  pool_.FindAllExtensions(message, &extensions);
  std::vector<int> numbers;
  numbers.reserve(extensions.size());
  for (const google::protobuf::FieldDescriptor* e : extensions) numbers.push_back(e->number());
  return numbers;
}

}  // namespace mxgrid::services::internal

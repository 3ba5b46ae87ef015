#include "services/common/internal/schema_index.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mxgrid::services::internal {
namespace {

using ::testing::HasSubstr;

google::protobuf::FileDescriptorProto Parse(const std::string& bytes) {
  google::protobuf::FileDescriptorProto file;
  EXPECT_TRUE(file.ParseFromString(bytes));
  return file;
}

// The comments of `file`'s source info, joined.
std::string Comments(const google::protobuf::FileDescriptorProto& file) {
  std::string all;
  for (const auto& location : file.source_code_info().location()) {
    all += location.leading_comments();
  }
  return all;
}

TEST(SchemaIndexTest, MethodResolvesToItsFileWithCommentsAndImports) {
  absl::StatusOr<std::vector<std::string>> files =
      SchemaIndex::Embedded().FileContainingSymbol("mxgrid.v1.Worker.Invoke");
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_GE(files->size(), 3u);
  const google::protobuf::FileDescriptorProto worker = Parse((*files)[0]);
  EXPECT_EQ(worker.name(), "proto/mxgrid/v1/worker.proto");
  EXPECT_THAT(Comments(worker), HasSubstr("operator"));
  std::vector<std::string> names;
  for (const std::string& f : *files) names.push_back(Parse(f).name());
  EXPECT_THAT(names, ::testing::Contains("proto/mxgrid/v1/tensor.proto"));
  EXPECT_THAT(names, ::testing::Contains("proto/mxgrid/v1/graph.proto"));
}

TEST(SchemaIndexTest, HealthAndReflectionAreDescribed) {
  for (const char* symbol : {"grpc.health.v1.Health", "grpc.health.v1.HealthCheckResponse",
                             "grpc.reflection.v1.ServerReflection",
                             "grpc.reflection.v1alpha.ServerReflectionRequest",
                             "mxgrid.v1.Compiler", "mxgrid.v1.KVStore", "mxgrid.v1.FLOAT32"}) {
    EXPECT_TRUE(SchemaIndex::Embedded().FileContainingSymbol(symbol).ok()) << symbol;
  }
}

TEST(SchemaIndexTest, EachFileOnceEvenWhenImportedTwice) {
  // worker.proto imports graph.proto and tensor.proto; graph.proto imports tensor.proto.
  absl::StatusOr<std::vector<std::string>> files =
      SchemaIndex::Embedded().FileWithImports("proto/mxgrid/v1/worker.proto");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->size(), 3u);
}

TEST(SchemaIndexTest, UnknownNamesAreNotFound) {
  const SchemaIndex& schema = SchemaIndex::Embedded();
  EXPECT_EQ(schema.FileContainingSymbol("mxgrid.v1.NoSuchThing").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(schema.FileWithImports("no/such.proto").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(schema.ExtensionNumbers("mxgrid.v1.NoSuchMessage").status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<std::vector<int>> none = schema.ExtensionNumbers("mxgrid.v1.Tensor");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

TEST(SchemaIndexTest, MalformedSetsAreRejected) {
  EXPECT_EQ(SchemaIndex::FromDescriptorSet("\xff\xff not a descriptor set").status().code(),
            absl::StatusCode::kInvalidArgument);
  google::protobuf::FileDescriptorSet set;
  google::protobuf::FileDescriptorProto* file = set.add_file();
  file->set_name("a.proto");
  file->add_dependency("missing.proto");
  absl::StatusOr<std::unique_ptr<SchemaIndex>> index =
      SchemaIndex::FromDescriptorSet(set.SerializeAsString());
  EXPECT_EQ(index.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(index.status().message(), HasSubstr("a.proto"));
}

}  // namespace
}  // namespace mxgrid::services::internal

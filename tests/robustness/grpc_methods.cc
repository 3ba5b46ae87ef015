#include "tests/robustness/grpc_methods.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/client_context.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "tests/integration/process.h"

namespace mxgrid::robustness {
namespace {

namespace pb = google::protobuf;

constexpr char kReflectionService[] = "grpc.reflection.v1alpha.ServerReflection";

// grpc/health/v1/health.proto as gRPC publishes it.
constexpr char kHealthProto[] = R"pb(
  name: "grpc/health/v1/health.proto"
  package: "grpc.health.v1"
  syntax: "proto3"
  message_type {
    name: "HealthCheckRequest"
    field { name: "service" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  }
  message_type {
    name: "HealthCheckResponse"
    field {
      name: "status"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_ENUM
      type_name: ".grpc.health.v1.HealthCheckResponse.ServingStatus"
    }
    enum_type {
      name: "ServingStatus"
      value { name: "UNKNOWN" number: 0 }
      value { name: "SERVING" number: 1 }
      value { name: "NOT_SERVING" number: 2 }
      value { name: "SERVICE_UNKNOWN" number: 3 }
    }
  }
  service {
    name: "Health"
    method {
      name: "Check"
      input_type: ".grpc.health.v1.HealthCheckRequest"
      output_type: ".grpc.health.v1.HealthCheckResponse"
    }
    method {
      name: "Watch"
      input_type: ".grpc.health.v1.HealthCheckRequest"
      output_type: ".grpc.health.v1.HealthCheckResponse"
      server_streaming: true
    }
  }
)pb";

std::string ToString(const grpc::ByteBuffer& buffer) {
  grpc::Slice slice;
  if (!buffer.DumpToSingleSlice(&slice).ok()) return "";
  return std::string(reinterpret_cast<const char*>(slice.begin()), slice.size());
}

// The length-delimited fields numbered `number` of a serialized message.
std::vector<std::string> Fields(const std::string& bytes, int number) {
  pb::UnknownFieldSet fields;
  std::vector<std::string> out;
  if (!fields.ParseFromString(bytes)) return out;
  for (int i = 0; i < fields.field_count(); ++i) {
    const pb::UnknownField& f = fields.field(i);
    if (f.number() == number && f.type() == pb::UnknownField::TYPE_LENGTH_DELIMITED) {
      out.push_back(f.length_delimited());
    }
  }
  return out;
}

// The serialized FileDescriptorProtos the server's reflection returns for `symbol` (the
// file defining it and the files that one imports).
absl::StatusOr<std::vector<std::string>> FilesContainingSymbol(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& symbol) {
  const std::string path = absl::StrCat("/", kReflectionService, "/ServerReflectionInfo");
  // ServerReflectionRequest{file_containing_symbol (4): symbol}.
  pb::UnknownFieldSet request;
  request.AddLengthDelimited(4, symbol);
  std::string bytes;
  request.SerializeToString(&bytes);
  std::vector<std::string> files;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  const grpc::internal::RpcMethod method(path.c_str(),
                                         grpc::internal::RpcMethod::BIDI_STREAMING);
  auto stream = std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>>(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel.get(), method, &context));
  grpc::Slice slice(bytes);
  stream->Write(grpc::ByteBuffer(&slice, 1));
  stream->WritesDone();
  grpc::ByteBuffer reply;
  while (stream->Read(&reply)) {
    // ServerReflectionResponse.file_descriptor_response (4).file_descriptor_proto (1).
    for (const std::string& response : Fields(ToString(reply), 4)) {
      for (const std::string& file : Fields(response, 1)) files.push_back(file);
    }
  }
  const grpc::Status status = stream->Finish();
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("reflection: ", status.error_message()));
  }
  if (files.empty()) return absl::NotFoundError(absl::StrCat("reflection cannot describe ", symbol));
  return files;
}

}  // namespace

MethodCatalog::MethodCatalog() {
  pb::FileDescriptorProto health;
  const bool parsed = pb::TextFormat::ParseFromString(kHealthProto, &health);
  if (!parsed || pool_.BuildFile(health) == nullptr) std::abort();  // a typo above
}

absl::StatusOr<std::vector<Method>> MethodCatalog::MethodsOf(
    const std::shared_ptr<grpc::Channel>& channel) {
  absl::StatusOr<std::vector<std::string>> services =
      integration::ReflectionListServices(channel);
  if (!services.ok()) return services.status();
  std::vector<Method> methods;
  for (const std::string& name : *services) {
    const pb::ServiceDescriptor* service =
        pb::DescriptorPool::generated_pool()->FindServiceByName(name);
    if (service == nullptr) service = pool_.FindServiceByName(name);
    if (service == nullptr) {
      absl::StatusOr<std::vector<std::string>> files = FilesContainingSymbol(channel, name);
      if (!files.ok()) return files.status();
      // Imports come after the file that needs them: build in reverse order.
      for (auto it = files->rbegin(); it != files->rend(); ++it) {
        pb::FileDescriptorProto file;
        if (!file.ParseFromString(*it)) return absl::DataLossError("bad FileDescriptorProto");
        if (pool_.FindFileByName(file.name()) == nullptr) pool_.BuildFile(file);
      }
      service = pool_.FindServiceByName(name);
    }
    if (service == nullptr) {
      return absl::NotFoundError(absl::StrCat("no descriptor for service ", name));
    }
    for (int i = 0; i < service->method_count(); ++i) {
      methods.push_back(
          {absl::StrCat("/", service->full_name(), "/", service->method(i)->name()),
           service->method(i)});
    }
  }
  return methods;
}

CallResult CallRaw(const std::shared_ptr<grpc::Channel>& channel, const Method& method,
                   const std::vector<std::string>& requests, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  const grpc::internal::RpcMethod rpc(method.path.c_str(),
                                      grpc::internal::RpcMethod::BIDI_STREAMING);
  auto stream = std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>>(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel.get(), rpc, &context));
  for (const std::string& request : requests) {
    grpc::Slice slice(request);
    if (!stream->Write(grpc::ByteBuffer(&slice, 1))) break;  // the call has ended
  }
  stream->WritesDone();
  CallResult result;
  grpc::ByteBuffer reply;
  while (stream->Read(&reply)) ++result.responses;
  result.status = stream->Finish();
  return result;
}

}  // namespace mxgrid::robustness

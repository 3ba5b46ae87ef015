#include "services/common/internal/reflection_service.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace mxgrid::services::internal {
namespace {

template <typename Response>
void SetError(const absl::Status& status, Response* response) {
  auto* error = response->mutable_error_response();
  error->set_error_code(static_cast<int>(status.code()));
  error->set_error_message(std::string(status.message()));
}

template <typename Response>
void SetFiles(const absl::StatusOr<std::vector<std::string>>& files, Response* response) {
  if (!files.ok()) return SetError(files.status(), response);
  auto* out = response->mutable_file_descriptor_response();
  for (const std::string& file : *files) out->add_file_descriptor_proto(file);
}

}  // namespace

template <typename Base, typename Request, typename Response>
grpc::Status ReflectionService<Base, Request, Response>::ServerReflectionInfo(
    grpc::ServerContext* context, grpc::ServerReaderWriter<Response, Request>* stream) {
  Request request;
  while (!context->IsCancelled() && stream->Read(&request)) {
    Response response;
    Answer(request, &response);
    if (!stream->Write(response)) break;  // the client went away
  }
  return grpc::Status::OK;
}

template <typename Base, typename Request, typename Response>
void ReflectionService<Base, Request, Response>::Answer(const Request& request,
                                                        Response* response) const {
  response->set_valid_host(request.host());
  *response->mutable_original_request() = request;
  switch (request.message_request_case()) {
    case Request::kFileByFilename:
      return SetFiles(schema_->FileWithImports(request.file_by_filename()), response);
    case Request::kFileContainingSymbol:
      return SetFiles(schema_->FileContainingSymbol(request.file_containing_symbol()),
                      response);
    case Request::kFileContainingExtension: {
      const auto& asked = request.file_containing_extension();
      return SetError(absl::NotFoundError(absl::StrCat(
                          "no extension ", asked.extension_number(), " of ",
                          asked.containing_type(), " (the protocol declares no extensions)")),
                      response);
    }
    case Request::kAllExtensionNumbersOfType: {
      absl::StatusOr<std::vector<int>> numbers =
          schema_->ExtensionNumbers(request.all_extension_numbers_of_type());
      if (!numbers.ok()) return SetError(numbers.status(), response);
      auto* out = response->mutable_all_extension_numbers_response();
      out->set_base_type_name(request.all_extension_numbers_of_type());
      for (int n : *numbers) out->add_extension_number(n);
      return;
    }
    case Request::kListServices: {
      auto* out = response->mutable_list_services_response();
      for (const std::string& name : *services_) out->add_service()->set_name(name);
      return;
    }
    default:
      return SetError(absl::InvalidArgumentError("the reflection request asks nothing"),
                      response);
  }
}

template class ReflectionService<grpc::reflection::v1::ServerReflection::Service,
                                 grpc::reflection::v1::ServerReflectionRequest,
                                 grpc::reflection::v1::ServerReflectionResponse>;
template class ReflectionService<grpc::reflection::v1alpha::ServerReflection::Service,
                                 grpc::reflection::v1alpha::ServerReflectionRequest,
                                 grpc::reflection::v1alpha::ServerReflectionResponse>;

}  // namespace mxgrid::services::internal

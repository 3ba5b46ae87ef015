#include "services/common/internal/token_auth.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace mxgrid::services::internal {
namespace {

constexpr absl::string_view kAuthorization = "authorization";
constexpr absl::string_view kBearer = "Bearer ";

absl::string_view View(grpc::string_ref s) { return absl::string_view(s.data(), s.size()); }

class TokenPlugin final : public grpc::MetadataCredentialsPlugin {
 public:
  explicit TokenPlugin(std::shared_ptr<TokenFile> tokens) : tokens_(std::move(tokens)) {}
  bool IsBlocking() const override { return false; }
  const char* GetType() const override { return "mxgrid-bearer-token"; }
  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                           std::multimap<grpc::string, grpc::string>* metadata) override {
    metadata->emplace(std::string(kAuthorization), std::string(kBearer) + tokens_->First());
    return grpc::Status::OK;
  }
  grpc::string DebugString() override { return "mxgrid bearer token from a token file"; }

 private:
  const std::shared_ptr<TokenFile> tokens_;
};

}  // namespace

grpc::Status TokenAuthProcessor::Process(const InputMetadata& metadata, grpc::AuthContext*,
                                         OutputMetadata* consumed, OutputMetadata*) {
  absl::string_view path;
  if (auto it = metadata.find(":path"); it != metadata.end()) path = View(it->second);
  if (absl::StartsWith(path, "/grpc.health.v1.Health/")) return grpc::Status::OK;
  if (public_reflection_ && absl::StartsWith(path, "/grpc.reflection.")) {
    return grpc::Status::OK;
  }
  auto it = metadata.find(grpc::string_ref(kAuthorization.data(), kAuthorization.size()));
  if (it == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this server needs a bearer token: send the metadata "
                        "'authorization: Bearer <token>' (MXGRID_TOKEN_FILE for the Python "
                        "client, -H for grpcurl)");
  }
  const absl::string_view value = View(it->second);
  if (value.size() < kBearer.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "the authorization metadata is not 'Bearer <token>'");
  }
  if (!tokens_->Accepts(value.substr(kBearer.size()))) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the bearer token is not accepted");
  }
  consumed->emplace(std::string(kAuthorization), std::string(value));
  return grpc::Status::OK;
}

std::shared_ptr<grpc::CallCredentials> TokenCallCredentials(std::shared_ptr<TokenFile> tokens) {
  return grpc::MetadataCredentialsFromPlugin(std::make_unique<TokenPlugin>(std::move(tokens)));
}

}  // namespace mxgrid::services::internal

#include "services/common/internal/service_names.h"

#include <algorithm>
#include <utility>

#include "grpcpp/impl/server_initializer.h"

namespace mxgrid::services::internal {
namespace {

constexpr char kHealthService[] = "grpc.health.v1.Health";

// Copies the server's service list when the server is initialized (after every service is
// registered, before it starts).
class ServiceNamesPlugin final : public grpc::ServerBuilderPlugin {
 public:
  explicit ServiceNamesPlugin(std::shared_ptr<std::vector<std::string>> names)
      : names_(std::move(names)) {}
  std::string name() override { return "mxgrid_service_names"; }
  void InitServer(grpc::ServerInitializer* initializer) override {
    if (const std::vector<std::string>* list = initializer->GetServiceList()) *names_ = *list;
    // gRPC adds its health service when the server starts, after this; every mxgrid server
    // enables it (server.cc), so list it now, while nothing reads the names yet.
    if (std::find(names_->begin(), names_->end(), kHealthService) == names_->end()) {
      names_->push_back(kHealthService);
    }
  }
  void Finish(grpc::ServerInitializer*) override {}
  void ChangeArguments(const std::string&, void*) override {}

 private:
  std::shared_ptr<std::vector<std::string>> names_;
};

}  // namespace

void ServiceNamesOption::UpdatePlugins(
    std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) {
  plugins->push_back(std::make_unique<ServiceNamesPlugin>(names_));
}

}  // namespace mxgrid::services::internal

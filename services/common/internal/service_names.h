// ServiceNamesOption: learns the full names of the services a grpc::Server serves
// ("mxgrid.v1.Worker", "grpc.health.v1.Health", ...), as server reflection lists them, so
// that the server can report health per service name.
//
//   auto names = std::make_shared<std::vector<std::string>>();
//   builder.SetOption(std::make_unique<ServiceNamesOption>(names));
//   auto server = builder.BuildAndStart();   // fills *names
//
// Thread-safety: the names are written while BuildAndStart runs, on its thread; read them
// after it returns.
#ifndef MXGRID_SERVICES_COMMON_INTERNAL_SERVICE_NAMES_H_
#define MXGRID_SERVICES_COMMON_INTERNAL_SERVICE_NAMES_H_

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/impl/server_builder_plugin.h"

namespace mxgrid::services::internal {

class ServiceNamesOption final : public grpc::ServerBuilderOption {
 public:
  explicit ServiceNamesOption(std::shared_ptr<std::vector<std::string>> names)
      : names_(std::move(names)) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override;

 private:
  std::shared_ptr<std::vector<std::string>> names_;
};

}  // namespace mxgrid::services::internal

#endif  // MXGRID_SERVICES_COMMON_INTERNAL_SERVICE_NAMES_H_

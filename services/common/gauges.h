// SampledGauges: Prometheus gauges whose values are read when /metrics is scraped (memory
// in use, open sessions, stored keys), so nothing has to update them on every change.
//
//   auto gauges = std::make_shared<SampledGauges>();
//   gauges->Add("mxgrid_worker_sessions", "Open sessions.", [&] {
//     return SampledGauges::Sample{{{}, double(table.size())}};
//   });
//   server->AddCollectable(gauges);
//
// Thread-safety: thread-safe. Sample functions run on the metrics server's threads and must
// be thread-safe themselves.
#ifndef MXGRID_SERVICES_COMMON_GAUGES_H_
#define MXGRID_SERVICES_COMMON_GAUGES_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "libs/base/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/labels.h"
#include "prometheus/metric_family.h"

namespace mxgrid::services {

class SampledGauges : public prometheus::Collectable {
 public:
  // One value per label set.
  using Sample = std::vector<std::pair<prometheus::Labels, double>>;

  void Add(std::string name, std::string help, std::function<Sample()> sample)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<prometheus::MetricFamily> Collect() const override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Gauge {
    std::string name, help;
    std::function<Sample()> sample;
  };
  mutable base::Mutex mu_;
  std::vector<Gauge> gauges_ ABSL_GUARDED_BY(mu_);
};

// Gauges every server exports: `mxgrid_memory_bytes_in_use{device="cpu(0)"}`, the bytes the
// process's array allocators have handed out, per device.
void AddMemoryGauges(SampledGauges* gauges);

}  // namespace mxgrid::services

#endif  // MXGRID_SERVICES_COMMON_GAUGES_H_

#include "services/common/gauges.h"

#include "libs/base/context.h"
#include "libs/tensor/allocator.h"

namespace mxgrid::services {

void SampledGauges::Add(std::string name, std::string help, std::function<Sample()> sample) {
  base::MutexLock lock(&mu_);
  gauges_.push_back({std::move(name), std::move(help), std::move(sample)});
}

std::vector<prometheus::MetricFamily> SampledGauges::Collect() const {
  std::vector<Gauge> gauges;
  {
    base::MutexLock lock(&mu_);
    gauges = gauges_;
  }
  std::vector<prometheus::MetricFamily> out;
  for (const Gauge& g : gauges) {
    prometheus::MetricFamily family;
    family.name = g.name;
    family.help = g.help;
    family.type = prometheus::MetricType::Gauge;
    for (const auto& [labels, value] : g.sample()) {
      prometheus::ClientMetric m;
      for (const auto& [k, v] : labels) m.label.push_back({k, v});
      m.gauge.value = value;
      family.metric.push_back(std::move(m));
    }
    out.push_back(std::move(family));
  }
  return out;
}

void AddMemoryGauges(SampledGauges* gauges) {
  gauges->Add("mxgrid_memory_bytes_in_use",
              "Bytes of array memory handed out by this process's allocators, per device.",
              [] {
                SampledGauges::Sample sample;
                for (Context ctx : {Context::Cpu(), Context::Gpu(0)}) {
                  absl::StatusOr<tensor::Allocator*> a = tensor::AllocatorFor(ctx);
                  if (!a.ok()) continue;  // no such device in this build or machine
                  sample.push_back({{{"device", ctx.ToString()}},
                                    static_cast<double>((*a)->bytes_in_use())});
                }
                return sample;
              });
}

}  // namespace mxgrid::services

#include "services/common/gauges.h"

#include "libs/base/context.h"
#include "libs/gpu/gpu.h"
#include "libs/ops/gpu_fallback.h"
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
                std::vector<Context> devices = {Context::Cpu()};
                for (int id = 0; id < gpu::DeviceCount(); ++id) devices.push_back(Context::Gpu(id));
                for (Context ctx : devices) {
                  absl::StatusOr<tensor::Allocator*> a = tensor::AllocatorFor(ctx);
                  if (!a.ok()) continue;
                  sample.push_back({{{"device", ctx.ToString()}},
                                    static_cast<double>((*a)->bytes_in_use())});
                }
                return sample;
              });
  // Per GPU: the pooled allocator's cache and limit, and cudaMalloc calls (a steady-state
  // training loop makes none).
  auto per_gpu = [](int64_t tensor::GpuMemoryStats::*field) {
    return [field] {
      SampledGauges::Sample sample;
      for (int id = 0; id < gpu::DeviceCount(); ++id) {
        const tensor::GpuMemoryStats stats = tensor::GpuMemoryStatsFor(id);
        sample.push_back({{{"device", Context::Gpu(id).ToString()}},
                          static_cast<double>(stats.*field)});
      }
      return sample;
    };
  };
  gauges->Add("mxgrid_gpu_memory_cached_bytes",
              "Device memory freed by arrays and kept by the GPU pool for reuse.",
              per_gpu(&tensor::GpuMemoryStats::cached_bytes));
  gauges->Add("mxgrid_gpu_memory_limit_bytes",
              "The GPU pool's limit: MXGRID_GPU_MEMORY_LIMIT_MB, else the device's memory.",
              per_gpu(&tensor::GpuMemoryStats::limit_bytes));
  gauges->Add("mxgrid_gpu_malloc_calls",
              "cudaMalloc calls made by the GPU pool so far (constant in steady-state training).",
              per_gpu(&tensor::GpuMemoryStats::malloc_calls));
  gauges->Add("mxgrid_gpu_healthy", "1 while the GPU is healthy, 0 after a sticky CUDA error.",
              [] {
                SampledGauges::Sample sample;
                for (int id = 0; id < gpu::DeviceCount(); ++id) {
                  sample.push_back({{{"device", Context::Gpu(id).ToString()}},
                                    gpu::Healthy(id) ? 1.0 : 0.0});
                }
                return sample;
              });
  gauges->Add("mxgrid_gpu_host_fallback_calls",
              "GPU operator calls that ran their CPU kernel on host copies (no CUDA kernel).",
              [] {
                return SampledGauges::Sample{{{}, static_cast<double>(ops::GpuFallbackCalls())}};
              });
}

}  // namespace mxgrid::services

#include "services/common/gauges.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace mxgrid::services {
namespace {

using ::testing::HasSubstr;

TEST(SampledGaugesTest, ValuesAreSampledAtCollection) {
  SampledGauges gauges;
  double value = 1;
  gauges.Add("test_gauge", "A test gauge.", [&] {
    return SampledGauges::Sample{{{{"device", "cpu(0)"}}, value}};
  });
  AddMemoryGauges(&gauges);
  value = 42;
  const std::string text = prometheus::TextSerializer().Serialize(gauges.Collect());
  EXPECT_THAT(text, HasSubstr("test_gauge{device=\"cpu(0)\"} 42"));
  EXPECT_THAT(text, HasSubstr("mxgrid_memory_bytes_in_use{device=\"cpu(0)\"}"));
}

}  // namespace
}  // namespace mxgrid::services

// NDArray::ToString: values formatted as NumPy prints them (what the tutorial shows after
// `print(a.asnumpy())`): nested brackets, a shared width per array, floats as "1." when
// integral, 8 significant digits otherwise, and "..." past 1000 elements.
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/tensor/ndarray.h"

namespace mxgrid::tensor {
namespace {

constexpr int64_t kSummarizeThreshold = 1000;  // NumPy's default `threshold`.
constexpr int64_t kEdgeItems = 3;              // NumPy's default `edgeitems`.

// Formats every element; `floating` chooses NumPy's float style for the whole array.
class ElementFormatter {
 public:
  ElementFormatter(const std::vector<double>& values, DType dtype)
      : dtype_(dtype), floating_(IsFloatingPoint(dtype)) {
    if (!floating_) return;
    bool all_integral = true;
    double max_abs = 0, min_abs_nonzero = INFINITY;
    for (double v : values) {
      if (!std::isfinite(v)) continue;
      all_integral = all_integral && v == std::floor(v);
      max_abs = std::max(max_abs, std::fabs(v));
      if (v != 0) min_abs_nonzero = std::min(min_abs_nonzero, std::fabs(v));
    }
    scientific_ = max_abs >= 1e16 || (min_abs_nonzero < 1e-4 && !all_integral) ||
                  (max_abs / min_abs_nonzero > 1e3 && !all_integral && min_abs_nonzero < 1e-3);
    if (all_integral || scientific_) return;
    // Fewest fractional digits (<= 8) that show every value exactly at 8 decimals.
    for (double v : values) {
      if (!std::isfinite(v)) continue;
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.8f", v);
      std::string s(buf);
      int digits = 8;
      while (digits > 0 && s[s.size() - 1 - (8 - digits)] == '0') --digits;
      fraction_digits_ = std::max(fraction_digits_, digits);
    }
  }

  std::string Format(double v) const {
    if (dtype_ == DType::kBool) return v != 0 ? " True" : "False";
    if (!floating_) return absl::StrCat(static_cast<int64_t>(v));
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    if (scientific_) {
      std::snprintf(buf, sizeof(buf), "%.8e", v);
    } else if (fraction_digits_ == 0) {
      std::snprintf(buf, sizeof(buf), "%.0f.", v);
    } else {
      std::snprintf(buf, sizeof(buf), "%.*f", fraction_digits_, v);
    }
    return buf;
  }

 private:
  DType dtype_;
  bool floating_;
  bool scientific_ = false;
  int fraction_digits_ = 0;
};

// Recursively prints axis `axis` of the block starting at element `offset`.
void PrintAxis(const Shape& shape, const std::vector<std::string>& cells, size_t width,
               int axis, int64_t offset, bool summarize, std::string* out) {
  const int ndim = shape.ndim();
  const int64_t n = shape[axis];
  const int64_t stride = shape.ProdRange(axis + 1, ndim);
  out->push_back('[');
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      out->append(axis == ndim - 1 ? "..." : "...");
      i = n - kEdgeItems;
      out->append(axis == ndim - 1 ? " " : "\n" + std::string(axis + 1, ' '));
    }
    if (axis == ndim - 1) {
      const std::string& cell = cells[offset + i];
      out->append(width - cell.size(), ' ');
      out->append(cell);
      if (i + 1 < n) out->push_back(' ');
    } else {
      PrintAxis(shape, cells, width, axis + 1, offset + i * stride, summarize, out);
      if (i + 1 < n) {
        // NumPy separates sub-blocks with one newline per remaining depth.
        out->append(std::string(ndim - axis - 1, '\n'));
        out->append(std::string(axis + 1, ' '));
      }
    }
  }
  out->push_back(']');
}

}  // namespace

absl::StatusOr<std::string> NDArray::ToString() const {
  MXGRID_ASSIGN_OR_RETURN(std::vector<double> values, ToVector<double>());
  const bool summarize = size() > kSummarizeThreshold;
  ElementFormatter formatter(values, dtype_);
  std::vector<std::string> cells(values.size());
  size_t width = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    cells[i] = formatter.Format(values[i]);
    width = std::max(width, cells[i].size());
  }
  if (shape_.ndim() == 0) return cells.empty() ? std::string("[]") : cells[0];
  std::string out;
  PrintAxis(shape_, cells, width, 0, 0, summarize, &out);
  return out;
}

}  // namespace mxgrid::tensor

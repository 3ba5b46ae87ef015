// NDArray::ToString: values formatted as NumPy prints them (what the tutorial shows after
// `print(a.asnumpy())`): nested brackets, a shared width per array, floats as "1." when
// integral, 8 significant digits otherwise, and "..." past 1000 elements.
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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
    // NumPy's rule for switching to exponent notation.
    scientific_ = max_abs > 0 && (max_abs >= 1e8 || min_abs_nonzero < 1e-4 ||
                                  max_abs / min_abs_nonzero > 1e3);
    if (all_integral && !scientific_) return;
    // Fewest digits after the point (at most 8, NumPy's precision) that print every value
    // so that it reads back as the same value of this dtype — NumPy's shortest repr.
    for (double v : values) {
      if (!std::isfinite(v)) continue;
      int digits = 0;
      while (digits < 8 && !RoundTrips(v, digits)) ++digits;
      fraction_digits_ = std::max(fraction_digits_, digits);
    }
  }

  // Whether cells should be padded on the right to align their decimal points (NumPy pads
  // fractions with spaces, e.g. "[-1.5  10.    0.25]").
  bool align_fractions() const { return floating_ && !scientific_; }

  std::string Format(double v) const {
    if (dtype_ == DType::kBool) return v != 0 ? " True" : "False";
    if (!floating_) return absl::StrCat(static_cast<int64_t>(v));
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    if (scientific_) {
      std::snprintf(buf, sizeof(buf), "%.*e", fraction_digits_, v);
      std::string text(buf);
      if (fraction_digits_ == 0) text.insert(text.find('e'), ".");  // "1.e-05"
      return text;
    }
    std::snprintf(buf, sizeof(buf), "%.*f", fraction_digits_, v);
    std::string text(buf);
    // Drop this value's trailing zeros; the caller re-aligns the points.
    if (fraction_digits_ > 0) {
      while (text.back() == '0') text.pop_back();
    }
    if (fraction_digits_ == 0) text.push_back('.');
    return text;
  }

 private:
  // Whether `v` printed with `digits` digits after the point reads back as the same value
  // once stored in dtype_.
  bool RoundTrips(double v, int digits) const {
    char buf[64];
    std::snprintf(buf, sizeof(buf), scientific_ ? "%.*e" : "%.*f", digits, v);
    const double back = std::strtod(buf, nullptr);
    switch (dtype_) {
      case DType::kFloat32: return static_cast<float>(back) == static_cast<float>(v);
      case DType::kFloat16:
        return FloatToHalf(static_cast<float>(back)).bits ==
               FloatToHalf(static_cast<float>(v)).bits;
      case DType::kBFloat16:
        return FloatToBFloat16(static_cast<float>(back)).bits ==
               FloatToBFloat16(static_cast<float>(v)).bits;
      default: return back == v;
    }
  }

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
  size_t fraction_width = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    cells[i] = formatter.Format(values[i]);
    const size_t point = cells[i].find('.');
    if (point != std::string::npos) {
      fraction_width = std::max(fraction_width, cells[i].size() - point - 1);
    }
  }
  for (std::string& cell : cells) {
    const size_t point = cell.find('.');
    if (formatter.align_fractions() && point != std::string::npos) {
      cell.append(fraction_width - (cell.size() - point - 1), ' ');
    }
    width = std::max(width, cell.size());
  }
  if (shape_.ndim() == 0) return cells.empty() ? std::string("[]") : cells[0];
  std::string out;
  PrintAxis(shape_, cells, width, 0, 0, summarize, &out);
  return out;
}

}  // namespace mxgrid::tensor

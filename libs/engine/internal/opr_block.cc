#include "libs/engine/internal/opr_block.h"

#include <algorithm>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

#include "libs/base/check.h"

namespace mxgrid::engine::internal {

absl::Status CopyStatus(const absl::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status copy(status.code(), std::string(status.message()));
  status.ForEachPayload([&copy](absl::string_view type_url, const absl::Cord& payload) {
    copy.SetPayload(type_url, absl::Cord(std::string(payload)));
  });
  return copy;
}

void BuildEntries(absl::Span<const VarHandle> reads, absl::Span<const VarHandle> writes,
                  OprBlock* opr, absl::InlinedVector<VarEntry, 2>* entries) {
  entries->resize(0);
  for (VarHandle v : writes) {
    MXGRID_CHECK(v != nullptr) << "null variable handle in the write list of '"
                               << (opr != nullptr ? opr->name : "op") << "'";
    entries->push_back(VarEntry{nullptr, opr, v, true});
  }
  for (VarHandle v : reads) {
    MXGRID_CHECK(v != nullptr) << "null variable handle in the read list of '"
                               << (opr != nullptr ? opr->name : "op") << "'";
    entries->push_back(VarEntry{nullptr, opr, v, false});
  }
  if (entries->size() < 2) return;
  // By address, writes before reads of the same variable; then keep the first of each.
  std::sort(entries->begin(), entries->end(), [](const VarEntry& a, const VarEntry& b) {
    return a.var != b.var ? std::less<Var*>()(a.var, b.var) : a.write > b.write;
  });
  auto last = std::unique(entries->begin(), entries->end(),
                          [](const VarEntry& a, const VarEntry& b) { return a.var == b.var; });
  entries->resize(static_cast<size_t>(last - entries->begin()));
}

}  // namespace mxgrid::engine::internal

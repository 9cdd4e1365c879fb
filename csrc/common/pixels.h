#pragma once
#include <cstdint>

#include "macros.h"

namespace sgz {

// 8-bit pixels as the published pipeline sees them: read as byte / 255 in float32, written as
// torchvision's save_image writes them (clamp to [0, 1], times 255, plus 0.5, truncated).
SGZ_HD float unit_from_byte(uint8_t b) { return static_cast<float>(b) / 255.0f; }

SGZ_HD uint8_t byte_from_unit(float v) {
  v = v > 0.0f ? v : 0.0f;  // also maps NaN to 0
  v = v < 1.0f ? v : 1.0f;
  return static_cast<uint8_t>(static_cast<int32_t>(v * 255.0f + 0.5f));
}

}  // namespace sgz

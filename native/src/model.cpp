// ModelSpec checks and weight packing.
#include "fraudscore/model.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "packed.h"

namespace fraudscore {

namespace {
bool allFinite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}
}  // namespace

std::string ModelSpec::validate() const {
  if (features <= 0) return "features must be > 0";
  const size_t d = static_cast<size_t>(features);
  if (transform.size() != d)
    return "transform has " + std::to_string(transform.size()) + " entries, expected " +
           std::to_string(d);
  if (mean.size() != d)
    return "mean has " + std::to_string(mean.size()) + " entries, expected " + std::to_string(d);
  if (scale.size() != d)
    return "scale has " + std::to_string(scale.size()) + " entries, expected " + std::to_string(d);
  for (size_t j = 0; j < d; ++j) {
    if (!std::isfinite(mean[j])) return "mean[" + std::to_string(j) + "] is not finite";
    if (!std::isfinite(scale[j]) || !(scale[j] > 0.f))
      return "scale[" + std::to_string(j) + "] must be finite and > 0";
    if (transform[j] != Transform::kNone && transform[j] != Transform::kLog1p)
      return "transform[" + std::to_string(j) + "] is unknown";
  }
  if (layers.empty()) return "layers is empty";
  int prev = features;
  for (size_t l = 0; l < layers.size(); ++l) {
    const DenseLayer& L = layers[l];
    const std::string name = "layers[" + std::to_string(l) + "]";
    if (L.in != prev)
      return name + ".in is " + std::to_string(L.in) + ", expected " + std::to_string(prev);
    if (L.out <= 0) return name + ".out must be > 0";
    if (L.weight.size() != static_cast<size_t>(L.in) * L.out)
      return name + ".weight has " + std::to_string(L.weight.size()) + " values, expected " +
             std::to_string(static_cast<size_t>(L.in) * L.out);
    if (L.bias.size() != static_cast<size_t>(L.out))
      return name + ".bias has " + std::to_string(L.bias.size()) + " values, expected " +
             std::to_string(L.out);
    if (!allFinite(L.weight)) return name + ".weight holds a non-finite value";
    if (!allFinite(L.bias)) return name + ".bias holds a non-finite value";
    prev = L.out;
  }
  if (prev != features)
    return "the last layer outputs " + std::to_string(prev) + " values, expected " +
           std::to_string(features) + " (an autoencoder reconstructs its input)";
  return "";
}

double ModelSpec::flopsPerRow() const {
  double f = 0;
  for (const DenseLayer& L : layers) f += 2.0 * L.in * L.out;
  return f;
}

PackedModel packModel(const ModelSpec& spec, int width) {
  PackedModel P;
  const TileShape shape = tileShapeFor(width);
  P.features = spec.features;
  P.width = width;
  P.featPad = roundUp(spec.features, width);
  P.maxPad = P.featPad;
  P.blockRows = shape.rowVecs * width;
  P.log1p.resize(spec.features);
  P.mean = allocAligned(P.featPad);
  P.invScale = allocAligned(P.featPad);
  P.log1pLane.assign(P.featPad, 0);
  P.log1pChunk.assign(P.featPad / width, 0);
  for (int j = 0; j < P.featPad; ++j) {
    const bool real = j < spec.features;
    const bool lg = real && spec.transform[j] == Transform::kLog1p;
    if (real) P.log1p[j] = lg ? 1 : 0;
    P.log1pLane[j] = lg ? -1 : 0;
    if (lg) P.log1pChunk[j / width] = 1;
    P.mean[j] = real ? spec.mean[j] : 0.f;
    P.invScale[j] = real ? static_cast<float>(1.0 / static_cast<double>(spec.scale[j])) : 0.f;
  }
  for (size_t l = 0; l < spec.layers.size(); ++l) {
    const DenseLayer& L = spec.layers[l];
    PackedLayer pl;
    pl.in = L.in;
    pl.out = L.out;
    pl.outPad = roundUp(L.out, width);
    pl.relu = l + 1 < spec.layers.size();
    pl.wt = allocAligned(static_cast<size_t>(L.in) * pl.outPad);
    pl.wg = allocAligned(static_cast<size_t>(L.in) * L.out);
    pl.bias = allocAligned(pl.outPad);
    for (int i = 0; i < L.in; ++i)
      for (int o = 0; o < pl.outPad; ++o)
        pl.wt[static_cast<size_t>(i) * pl.outPad + o] =
            o < L.out ? L.weight[static_cast<size_t>(o) * L.in + i] : 0.f;
    for (int o0 = 0; o0 < L.out; o0 += shape.out) {
      const int n = std::min(shape.out, L.out - o0);
      float* tile = pl.wg.get() + static_cast<size_t>(o0) * L.in;
      for (int i = 0; i < L.in; ++i)
        for (int k = 0; k < n; ++k)
          tile[static_cast<size_t>(i) * n + k] = L.weight[static_cast<size_t>(o0 + k) * L.in + i];
    }
    for (int o = 0; o < pl.outPad; ++o) pl.bias[o] = o < L.out ? L.bias[o] : 0.f;
    P.bytes += (static_cast<size_t>(L.in) * (pl.outPad + L.out) + pl.outPad) * sizeof(float);
    if (pl.outPad > P.maxPad) P.maxPad = pl.outPad;
    P.layers.push_back(std::move(pl));
  }
  // Group path: block inputs [featPad][blockRows], two activation buffers [maxPad][blockRows], a
  // staging copy of a partial block's raw rows. Row path: five row-sized buffers.
  const size_t block = static_cast<size_t>(P.blockRows);
  P.scratchFloats = (static_cast<size_t>(P.featPad) + 2 * static_cast<size_t>(P.maxPad)) * block +
                    block * P.features + 5 * static_cast<size_t>(P.maxPad) + 4 * width;
  return P;
}

}  // namespace fraudscore

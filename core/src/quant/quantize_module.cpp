// Quantizes one module as its ModuleAllocation says: resolves the fp16 activation-outlier
// columns and the channel classes from the statistics, lays the columns out, runs the chosen
// quantizer, and, for CMPQ's quantization-based outliers, runs it twice: the weights with the
// largest |W' - Q(W')| after the first pass are kept in fp16 and the rest quantized again
// without them (CMPQ section 3.2.2). Then packs the result.
#include <cstdio>
#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

#include "bitscape/error.h"
#include "quant/internal.h"

namespace bitscape {

namespace {

std::vector<float> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous().cpu();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

void require(const at::Tensor& t, int64_t n, const std::string& name, const std::string& what,
             const std::string& why) {
  if (!t.defined())
    throw InputError("", "module " + name + ": " + why + " needs the " + what +
                             " from calibration (give a project or calibration data)");
  if (t.numel() != n)
    throw InputError("", "module " + name + ": calibration " + what + " has " +
                             std::to_string(t.numel()) + " values, expected " + std::to_string(n));
}

// Indices of `candidates` ordered by decreasing statistic (ties by index).
std::vector<int64_t> by_decreasing(const std::vector<int64_t>& candidates,
                                   const std::vector<float>& stat) {
  std::vector<int64_t> v = candidates;
  std::stable_sort(v.begin(), v.end(), [&](int64_t a, int64_t b) {
    return stat[static_cast<size_t>(a)] > stat[static_cast<size_t>(b)];
  });
  return v;
}

}  // namespace

ChannelResolution resolve_channels(const at::Tensor& W_in, const ModuleAllocation& m,
                                   const ModuleCalibration& calib, const std::string& name) {
  const at::Tensor W = W_in.to(at::kFloat);
  const int64_t O = W.size(0), I = W.size(1);
  const ModuleShape shape{name, O, I};
  ChannelResolution res;
  res.axis = m.channels.axis;
  res.has_classes = !m.channels.empty();

  // Input channels listed by index classes are not candidates for the fp16 outlier columns.
  std::vector<char> listed(static_cast<size_t>(I), 0);
  if (res.has_classes && res.axis == ChannelAxis::kIn)
    for (const ChannelClass& c : m.channels.classes)
      if (c.select == ChannelSelect::kIndices)
        for (int64_t i : c.indices) listed[static_cast<size_t>(i)] = 1;
  const int64_t k = activation_outlier_columns(m, shape);
  if (k > 0) {
    require(calib.act_l2, I, name, "activation norms", "keeping activation outliers");
    const std::vector<float> a = to_vector(calib.act_l2);
    std::vector<int64_t> cand;
    for (int64_t c = 0; c < I; ++c)
      if (!listed[static_cast<size_t>(c)]) cand.push_back(c);
    std::vector<int64_t> top = by_decreasing(cand, a);
    top.resize(static_cast<size_t>(std::min<int64_t>(k, static_cast<int64_t>(top.size()))));
    std::sort(top.begin(), top.end());
    res.fp16_columns = top;
  }
  if (!res.has_classes) return res;

  // Channels along the axis: the non-fp16 columns (original order) or the rows.
  std::vector<int64_t> channel;  // position -> original index
  if (res.axis == ChannelAxis::kIn) {
    std::vector<char> is16(static_cast<size_t>(I), 0);
    for (int64_t c : res.fp16_columns) is16[static_cast<size_t>(c)] = 1;
    for (int64_t c = 0; c < I; ++c)
      if (!is16[static_cast<size_t>(c)]) channel.push_back(c);
  } else {
    channel.resize(static_cast<size_t>(O));
    std::iota(channel.begin(), channel.end(), 0);
  }
  const int64_t n = static_cast<int64_t>(channel.size());
  std::vector<int64_t> pos_of(static_cast<size_t>(res.axis == ChannelAxis::kIn ? I : O), -1);
  for (int64_t p = 0; p < n; ++p) pos_of[static_cast<size_t>(channel[static_cast<size_t>(p)])] = p;

  const std::vector<std::pair<int, int64_t>> counts = channel_class_counts(m, shape);
  std::vector<int> bits(static_cast<size_t>(n), -1);
  // Index classes first.
  for (const ChannelClass& c : m.channels.classes) {
    if (c.select != ChannelSelect::kIndices) continue;
    for (int64_t i : c.indices) {
      const int64_t p = pos_of[static_cast<size_t>(i)];
      if (p >= 0 && bits[static_cast<size_t>(p)] < 0) bits[static_cast<size_t>(p)] = c.bits;
    }
  }
  // Statistics along the axis, by position.
  auto statistic = [&](ChannelStatistic by) {
    std::vector<float> full;
    if (by == ChannelStatistic::kWeight) {
      full = to_vector(W.norm(2, res.axis == ChannelAxis::kIn ? 0 : 1));
    } else if (res.axis == ChannelAxis::kIn) {
      require(calib.act_l2, I, name, "activation norms", "a channel class by activation");
      full = to_vector(calib.act_l2);
    } else {
      require(calib.out_abs_mean, O, name, "output activation means",
              "a channel class by activation");
      full = to_vector(calib.out_abs_mean);
    }
    std::vector<float> s(static_cast<size_t>(n));
    for (int64_t p = 0; p < n; ++p) s[static_cast<size_t>(p)] = full[static_cast<size_t>(channel[static_cast<size_t>(p)])];
    return s;
  };
  for (size_t ci = 0; ci < m.channels.classes.size(); ++ci) {
    const ChannelClass& c = m.channels.classes[ci];
    if (c.select == ChannelSelect::kIndices) continue;
    const int64_t count = ci < counts.size() ? counts[ci].second : 0;
    if (count <= 0) continue;
    const std::vector<float> stat = statistic(c.by);
    std::vector<int64_t> free;
    for (int64_t p = 0; p < n; ++p)
      if (bits[static_cast<size_t>(p)] < 0) free.push_back(p);
    const std::vector<int64_t> desc = by_decreasing(free, stat);
    int64_t top = 0, low = 0;
    if (c.select == ChannelSelect::kTop) top = count;
    if (c.select == ChannelSelect::kLow) low = count;
    if (c.select == ChannelSelect::kTopAndLow) {
      top = count - count / 2;
      low = count / 2;
    }
    top = std::min<int64_t>(top, static_cast<int64_t>(desc.size()));
    low = std::min<int64_t>(low, static_cast<int64_t>(desc.size()) - top);
    for (int64_t j = 0; j < top; ++j) bits[static_cast<size_t>(desc[static_cast<size_t>(j)])] = c.bits;
    for (int64_t j = 0; j < low; ++j)
      bits[static_cast<size_t>(desc[desc.size() - 1 - static_cast<size_t>(j)])] = c.bits;
  }
  res.class_channels = channel;
  res.class_bits.resize(static_cast<size_t>(n));
  for (int64_t p = 0; p < n; ++p)
    res.class_bits[static_cast<size_t>(p)] =
        static_cast<uint8_t>(bits[static_cast<size_t>(p)] < 0 ? m.bits : bits[static_cast<size_t>(p)]);
  return res;
}

QuantizedModule quantize_module(const at::Tensor& W_in, const ModuleAllocation& m,
                                const ModuleCalibration& calib, const std::string& name) {
  if (W_in.dim() != 2) throw InputError("", "module " + name + ": weight is not a matrix");
  const at::Tensor W = W_in.to(at::kFloat).contiguous().cpu();
  const int64_t O = W.size(0), I = W.size(1);
  const ModuleShape shape{name, O, I};
  if (std::string problem = check_module_allocation(m, shape); !problem.empty())
    throw InputError("", "module " + name + ": " + problem);

  const QuantizerKind kind = m.quantizer;
  if (m.quantized()) {
    if (kind == QuantizerKind::kGptq) require(calib.hessian, I * I, name, "Hessian", "GPTQ");
    if (kind == QuantizerKind::kAwq) {
      require(calib.hessian, I * I, name, "Hessian", "AWQ");
      if (!calib.awq_scale.defined())
        require(calib.act_abs_mean, I, name, "activation means", "AWQ");
    }
    if (kind == QuantizerKind::kKmeans && m.codebook_axis == ChannelAxis::kOut &&
        !calib.hessian_diag.defined() && !calib.hessian.defined() && !calib.fisher.defined())
      require(calib.hessian_diag, I, name, "Hessian diagonal", "sensitivity-weighted k-means");
  }

  const ChannelResolution res = resolve_channels(W, m, calib, name);
  const detail::Layout L =
      detail::make_layout(O, I, m, res.fp16_columns, res.class_bits, res.has_classes, res.axis);
  const at::Tensor cols = at::tensor(L.storage_columns, at::kLong);
  const at::Tensor Ws = W.index_select(1, cols);
  const int64_t Is = L.stored_columns();

  at::Tensor H, Hdiag;
  if (calib.hessian.defined()) H = calib.hessian.to(at::kFloat).cpu().reshape({I, I});
  if (calib.hessian_diag.defined())
    Hdiag = calib.hessian_diag.to(at::kFloat).cpu().reshape({I});
  else if (H.defined())
    Hdiag = H.diagonal().clone();

  // AWQ's per-input-channel scale (shared with the modules reading the same input when given).
  at::Tensor awq_s;
  if (kind == QuantizerKind::kAwq && m.quantized())
    awq_s = calib.awq_scale.defined()
                ? detail::to_half_precision(calib.awq_scale.to(at::kFloat).cpu().reshape({I}))
                : awq_search_scales({W}, {m}, H, calib.act_abs_mean);

  at::Tensor fp16_vals;
  std::vector<int64_t> column_order;
  auto run = [&](const at::Tensor& exclude) -> detail::StoredResult {
    switch (kind) {
      case QuantizerKind::kRtn:
        return detail::quantize_rtn(Ws, L, m.symmetric, m.clip_search, exclude);
      case QuantizerKind::kHqq:
        return detail::quantize_hqq(Ws, L, exclude);
      case QuantizerKind::kKmeans: {
        at::Tensor weights;
        if (m.codebook_axis == ChannelAxis::kOut && calib.fisher.defined())
          weights = calib.fisher.to(at::kFloat).cpu().reshape({O, I}).index_select(1, cols).clone();
        else if (m.codebook_axis == ChannelAxis::kOut)
          weights = Hdiag.index_select(0, cols).unsqueeze(0).expand({O, Is}).clone();
        else
          weights = at::ones({O, Is}, W.options());
        if (exclude.defined()) weights.masked_fill_(exclude, 0.0);
        return detail::quantize_kmeans(Ws, L, m.codebook_axis, weights);
      }
      case QuantizerKind::kAwq: {
        const at::Tensor s = awq_s.index_select(0, cols);
        at::Tensor scaled = Ws * s;
        if (calib.awq_clip) {
          const at::Tensor Hs = H.index_select(0, cols).index_select(1, cols) /
                                (s.unsqueeze(1) * s.unsqueeze(0));
          scaled = detail::awq_clip(scaled, Hs, L, /*symmetric=*/false);
        }
        // Dequantized values stay in the scaled domain here; divided by s below. AWQ's grid
        // always has a zero-point.
        return detail::quantize_rtn(scaled, L, /*symmetric=*/false, false, exclude);
      }
      case QuantizerKind::kGptq:
        return detail::quantize_gptq(W, H, L, m, exclude, &fp16_vals, &column_order, name);
    }
    throw std::logic_error("unknown quantizer");
  };
  const at::Tensor awq_cols = awq_s.defined() ? awq_s.index_select(0, cols) : at::Tensor();
  // The stored columns' dequantized values in the weight's own domain.
  auto unscaled = [&](const detail::StoredResult& res) {
    return awq_cols.defined() ? res.deq / awq_cols : res.deq;
  };

  detail::StoredResult r;
  at::Tensor outlier_mask;  // [O, I] in original columns
  const int64_t q = m.quantized() || res.has_classes ? quantization_outlier_count(m, shape) : 0;
  if (q > 0) {
    // First pass, then the q largest |W' - Q(W')| are kept in fp16 and excluded.
    const detail::StoredResult first = run({});
    const at::Tensor resid = (Ws - unscaled(first)).abs().reshape({-1});
    const at::Tensor top = std::get<1>(resid.topk(std::min<int64_t>(q, resid.numel())));
    at::Tensor exclude = at::zeros({O * Is}, W.options().dtype(at::kBool));
    exclude.index_fill_(0, top, true);
    exclude = exclude.view({O, Is});
    r = run(exclude);
    outlier_mask = at::zeros({O, I}, exclude.options());
    outlier_mask.index_copy_(1, cols, exclude);
  } else if (m.quantized() || res.has_classes || !res.fp16_columns.empty()) {
    r = run({});
  } else {
    // An unquantized module: every weight in fp16 (one segment of 16 bits).
    r.deq = detail::to_half_precision(Ws);
    r.codes = at::zeros({O, Is}, W.options().dtype(at::kLong));
  }

  // The full dequantized weight in original column order.
  at::Tensor deq = at::empty({O, I}, W.options());
  if (!column_order.empty())
    deq.index_copy_(1, at::tensor(column_order, at::kLong), r.deq);
  else
    deq.index_copy_(1, cols, unscaled(r));
  if (!res.fp16_columns.empty()) {
    const at::Tensor fc = at::tensor(res.fp16_columns, at::kLong);
    if (!fp16_vals.defined()) fp16_vals = detail::to_half_precision(W.index_select(1, fc));
    deq.index_copy_(1, fc, fp16_vals);
  }
  if (outlier_mask.defined() && kind != QuantizerKind::kGptq) {
    // Outliers keep their own value (GPTQ kept its updated value already).
    deq = at::where(outlier_mask, detail::to_half_precision(W), deq);
  }
  if (!at::isfinite(deq).all().item<bool>()) {
    char largest[32];
    std::snprintf(largest, sizeof largest, "%.3g", W.abs().max().item<double>());
    throw InputError("", "module " + name + ": quantizing it gives non-finite weights (its largest "
                         "|weight| is " + std::string(largest) +
                         "; fp16 scales and codebooks hold at most 65504)");
  }
  QuantizedModule out;
  out.packed = detail::build_packed(L, m, r, fp16_vals, column_order, outlier_mask, deq);
  if (awq_s.defined()) out.packed.input_scale = awq_s.to(at::kHalf);
  out.weight = deq;
  return out;
}

}  // namespace bitscape

// The packed form of a quantized module (quantizer.h): building it from a quantizer's result,
// counting its storage, dequantizing it, and its safetensors representation.
#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "bitscape/error.h"
#include "bitscape/json_input.h"
#include "quant/internal.h"

namespace bitscape {

namespace {

bool stores_zero(const std::string& quantizer, bool symmetric) {
  if (quantizer == "kmeans") return false;
  if (quantizer == "hqq" || quantizer == "awq") return true;
  return !symmetric;
}

bool uniform_grid(const std::string& quantizer) { return quantizer != "kmeans"; }

std::string axis_name(ChannelAxis a) { return a == ChannelAxis::kIn ? "in" : "out"; }
ChannelAxis parse_axis(const std::string& s) { return s == "in" ? ChannelAxis::kIn : ChannelAxis::kOut; }

std::vector<int64_t> to_int64(const at::Tensor& t) {
  if (!t.defined()) return {};
  const at::Tensor c = t.to(at::kLong).contiguous().cpu();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

at::Tensor int32_tensor(const std::vector<int64_t>& v) {
  return at::tensor(v, at::kLong).to(at::kInt);
}

// The layout a packed module describes.
detail::Layout layout_of(const PackedModule& p) {
  ModuleAllocation m;
  m.bits = p.bits;
  m.group_size = p.group_size;
  std::vector<uint8_t> class_bits;
  if (p.has_classes && p.class_bits.defined()) {
    const at::Tensor c = p.class_bits.to(at::kByte).contiguous().cpu();
    class_bits.assign(c.data_ptr<uint8_t>(), c.data_ptr<uint8_t>() + c.numel());
  }
  return detail::make_layout(p.out_features, p.in_features, m, to_int64(p.fp16_column_index),
                             class_bits, p.has_classes, p.class_axis);
}

// The bit-width of every stored code, row by row in storage order (16-bit entries skipped).
std::vector<uint8_t> code_widths(const detail::Layout& L) {
  std::vector<uint8_t> w;
  w.reserve(static_cast<size_t>(L.O * L.stored_columns()));
  for (int64_t r = 0; r < L.O; ++r)
    for (const detail::Segment& s : L.segments) {
      const int b = L.bits_at(r, s);
      if (b >= kUnquantizedBits) continue;
      w.insert(w.end(), static_cast<size_t>(s.size()), static_cast<uint8_t>(b));
    }
  return w;
}

struct Counts {
  int64_t codes_bits = 0, fp16_values = 0, groups = 0, centroids = 0;
};

Counts expected_counts(const detail::Layout& L, const std::string& quantizer,
                       ChannelAxis codebook_axis) {
  Counts c;
  for (int64_t r = 0; r < L.O; ++r)
    for (const detail::Segment& s : L.segments) {
      const int b = L.bits_at(r, s);
      if (b >= kUnquantizedBits) {
        c.fp16_values += s.size();
        continue;
      }
      c.codes_bits += b * s.size();
      if (uniform_grid(quantizer)) c.groups += L.groups_in(s);
    }
  if (!uniform_grid(quantizer)) {
    if (codebook_axis == ChannelAxis::kOut) {
      for (int64_t r = 0; r < L.O; ++r) {
        const int b = L.bits_at(r, L.segments.front());
        if (b < kUnquantizedBits) c.centroids += int64_t(1) << b;
      }
    } else {
      for (const detail::Segment& s : L.segments)
        if (s.bits < kUnquantizedBits) c.centroids += s.size() * (int64_t(1) << s.bits);
    }
  }
  return c;
}

int64_t count_of(const at::Tensor& t) { return t.defined() ? t.numel() : 0; }

}  // namespace

at::Tensor pack_codes(const std::vector<uint8_t>& codes, const std::vector<uint8_t>& bits) {
  int64_t total = 0;
  for (uint8_t b : bits) total += b;
  at::Tensor out = at::zeros({(total + 7) / 8}, at::kByte);
  uint8_t* p = out.data_ptr<uint8_t>();
  uint64_t acc = 0;
  int filled = 0;
  int64_t byte = 0;
  for (size_t i = 0; i < codes.size(); ++i) {
    acc |= static_cast<uint64_t>(codes[i] & ((1u << bits[i]) - 1)) << filled;
    filled += bits[i];
    while (filled >= 8) {
      p[byte++] = static_cast<uint8_t>(acc & 0xff);
      acc >>= 8;
      filled -= 8;
    }
  }
  if (filled > 0) p[byte] = static_cast<uint8_t>(acc & 0xff);
  return out;
}

std::vector<uint8_t> unpack_codes(const at::Tensor& stream, const std::vector<uint8_t>& bits) {
  const at::Tensor s = stream.to(at::kByte).contiguous().cpu();
  const uint8_t* p = s.data_ptr<uint8_t>();
  const int64_t n = s.numel();
  std::vector<uint8_t> out(bits.size());
  uint64_t acc = 0;
  int filled = 0;
  int64_t byte = 0;
  for (size_t i = 0; i < bits.size(); ++i) {
    while (filled < bits[i]) {
      const uint64_t next = byte < n ? p[byte] : 0;
      ++byte;
      acc |= next << filled;
      filled += 8;
    }
    out[i] = static_cast<uint8_t>(acc & ((1u << bits[i]) - 1));
    acc >>= bits[i];
    filled -= bits[i];
  }
  return out;
}

namespace detail {

PackedModule build_packed(const Layout& L, const ModuleAllocation& m, const StoredResult& r,
                          const at::Tensor& fp16_column_values,
                          const std::vector<int64_t>& column_order, const at::Tensor& outlier_mask,
                          const at::Tensor& outlier_values) {
  PackedModule P;
  P.quantizer = quantizer_name(m.quantizer);
  P.out_features = L.O;
  P.in_features = L.I;
  P.bits = m.bits;
  P.group_size = m.group_size;
  P.symmetric = (m.quantizer == QuantizerKind::kRtn || m.quantizer == QuantizerKind::kGptq) && m.symmetric;
  P.class_axis = L.class_axis;
  P.codebook_axis = m.codebook_axis;
  P.has_classes = L.has_classes;
  if (L.has_classes) P.class_bits = at::tensor(std::vector<int64_t>(L.class_bits.begin(), L.class_bits.end()), at::kLong).to(at::kByte);
  if (!L.fp16_columns.empty()) {
    P.fp16_column_index = int32_tensor(L.fp16_columns);
    P.fp16_columns = fp16_column_values.to(at::kHalf).contiguous();
  }
  if (!column_order.empty()) P.column_order = int32_tensor(column_order);

  const int64_t O = L.O, Is = L.stored_columns();
  const at::Tensor codes = r.codes.defined() ? r.codes.to(at::kByte).contiguous().cpu()
                                             : at::zeros({O, Is}, at::kByte);
  const at::Tensor deq = r.deq.to(at::kFloat).contiguous().cpu();
  const uint8_t* cp = codes.data_ptr<uint8_t>();
  const float* dp = deq.data_ptr<float>();
  std::vector<uint8_t> code_values, widths;
  std::vector<float> fp16_values;
  code_values.reserve(static_cast<size_t>(O * Is));
  widths.reserve(static_cast<size_t>(O * Is));
  for (int64_t row = 0; row < O; ++row)
    for (const Segment& s : L.segments) {
      const int b = L.bits_at(row, s);
      if (b >= kUnquantizedBits) {
        fp16_values.insert(fp16_values.end(), dp + row * Is + s.begin, dp + row * Is + s.end);
      } else {
        code_values.insert(code_values.end(), cp + row * Is + s.begin, cp + row * Is + s.end);
        widths.insert(widths.end(), static_cast<size_t>(s.size()), static_cast<uint8_t>(b));
      }
    }
  P.codes = pack_codes(code_values, widths);
  if (!fp16_values.empty()) P.fp16_values = at::tensor(fp16_values, at::kFloat).to(at::kHalf);

  if (uniform_grid(P.quantizer) && r.scales.defined()) {
    const std::vector<int64_t> goff = segment_group_offsets(L);
    const at::Tensor sc = r.scales.to(at::kFloat).contiguous().cpu();
    const at::Tensor zc = r.zeros.to(at::kFloat).contiguous().cpu();
    const float* sp = sc.data_ptr<float>();
    const float* zp = zc.data_ptr<float>();
    const int64_t G = sc.size(1);
    std::vector<float> scales, zeros;
    const bool with_zero = stores_zero(P.quantizer, P.symmetric);
    for (int64_t row = 0; row < O; ++row)
      for (size_t si = 0; si < L.segments.size(); ++si) {
        const Segment& s = L.segments[si];
        if (L.groups_in(s) == 0 || L.bits_at(row, s) >= kUnquantizedBits) continue;
        for (int64_t g = 0; g < L.groups_in(s); ++g) {
          scales.push_back(sp[row * G + goff[si] + g]);
          if (with_zero) zeros.push_back(zp[row * G + goff[si] + g]);
        }
      }
    if (!scales.empty()) P.scales = at::tensor(scales, at::kFloat).to(at::kHalf);
    if (!zeros.empty()) P.zeros = at::tensor(zeros, at::kFloat).to(at::kHalf);
  } else if (!uniform_grid(P.quantizer) && r.codebook.defined()) {
    const at::Tensor book = r.codebook.contiguous().cpu();
    std::vector<float> centroids;
    const int64_t K = book.size(1);
    const float* bp = book.data_ptr<float>();
    if (m.codebook_axis == ChannelAxis::kOut) {
      for (int64_t row = 0; row < O; ++row) {
        const int b = L.bits_at(row, L.segments.front());
        if (b >= kUnquantizedBits) continue;
        centroids.insert(centroids.end(), bp + row * K, bp + row * K + (int64_t(1) << b));
      }
    } else {
      for (const Segment& s : L.segments)
        for (int64_t c = s.begin; c < s.end; ++c)
          if (s.bits < kUnquantizedBits)
            centroids.insert(centroids.end(), bp + c * K, bp + c * K + (int64_t(1) << s.bits));
    }
    if (!centroids.empty()) P.codebook = at::tensor(centroids, at::kFloat).to(at::kHalf);
  }

  if (outlier_mask.defined() && outlier_mask.any().item<bool>()) {
    const at::Tensor mask = outlier_mask.contiguous().cpu();
    const at::Tensor vals = outlier_values.to(at::kFloat).contiguous().cpu();
    const bool* mp = mask.data_ptr<bool>();
    const float* vp = vals.data_ptr<float>();
    std::vector<int64_t> row_ptr{0}, col;
    std::vector<float> val;
    for (int64_t row = 0; row < O; ++row) {
      for (int64_t c = 0; c < L.I; ++c)
        if (mp[row * L.I + c]) {
          col.push_back(c);
          val.push_back(vp[row * L.I + c]);
        }
      row_ptr.push_back(static_cast<int64_t>(col.size()));
    }
    P.outlier_row_ptr = int32_tensor(row_ptr);
    P.outlier_col = int32_tensor(col);
    P.outlier_val = at::tensor(val, at::kFloat).to(at::kHalf);
  }
  return P;
}

}  // namespace detail

int64_t PackedModule::storage_bits() const {
  const detail::Layout L = layout_of(*this);
  int64_t code_bits = 0;
  for (uint8_t w : code_widths(L)) code_bits += w;
  int64_t bits = code_bits;
  bits += 16 * (count_of(fp16_values) + count_of(fp16_columns) + count_of(scales) + count_of(zeros) +
                count_of(codebook) + count_of(outlier_val));
  if (count_of(outlier_val) > 0) bits += 32 * (count_of(outlier_col) + count_of(outlier_row_ptr));
  bits += 32 * (count_of(fp16_column_index) + count_of(column_order));
  if (has_classes) bits += 8 * count_of(class_bits);
  return bits;
}

at::Tensor PackedModule::dequantize() const {
  const detail::Layout L = layout_of(*this);
  const int64_t O = out_features, I = in_features, Is = L.stored_columns();
  std::vector<int64_t> order = column_order.defined() ? to_int64(column_order) : L.storage_columns;
  const std::vector<uint8_t> widths = code_widths(L);
  const std::vector<uint8_t> code = unpack_codes(codes, widths);
  at::Tensor W = at::zeros({O, I}, at::kFloat);
  float* w = W.data_ptr<float>();
  const at::Tensor f16 = fp16_values.defined() ? fp16_values.to(at::kFloat).contiguous() : at::Tensor();
  const at::Tensor sc = scales.defined() ? scales.to(at::kFloat).contiguous() : at::Tensor();
  const at::Tensor zc = zeros.defined() ? zeros.to(at::kFloat).contiguous() : at::Tensor();
  const at::Tensor bc = codebook.defined() ? codebook.to(at::kFloat).contiguous() : at::Tensor();
  const at::Tensor is = input_scale.defined() ? input_scale.to(at::kFloat).contiguous() : at::Tensor();
  const bool with_zero = stores_zero(quantizer, symmetric);
  const bool uniform = uniform_grid(quantizer);
  // Codebook offsets for per-column codebooks (storage positions).
  std::vector<int64_t> col_book(static_cast<size_t>(Is), 0);
  if (!uniform && codebook_axis == ChannelAxis::kIn) {
    int64_t off = 0;
    for (const detail::Segment& s : L.segments)
      for (int64_t c = s.begin; c < s.end; ++c) {
        col_book[static_cast<size_t>(c)] = off;
        if (s.bits < kUnquantizedBits) off += int64_t(1) << s.bits;
      }
  }
  size_t ci = 0, fi = 0;
  int64_t gi = 0, bi = 0;
  for (int64_t r = 0; r < O; ++r) {
    for (const detail::Segment& s : L.segments) {
      const int b = L.bits_at(r, s);
      if (b >= kUnquantizedBits) {
        for (int64_t c = s.begin; c < s.end; ++c)
          w[r * I + order[static_cast<size_t>(c)]] = f16.data_ptr<float>()[fi++];
        continue;
      }
      const float maxq = static_cast<float>((1 << b) - 1);
      if (uniform) {
        const int64_t width = group_size == kPerChannel ? s.size() : group_size;
        for (int64_t c = s.begin; c < s.end; ++c) {
          const int64_t g = gi + (c - s.begin) / width;
          const float scale = sc.data_ptr<float>()[g];
          const float zero = with_zero ? zc.data_ptr<float>()[g] : (maxq + 1) / 2;
          w[r * I + order[static_cast<size_t>(c)]] =
              (static_cast<float>(code[ci++]) - zero) * scale;
        }
        gi += L.groups_in(s);
      } else {
        const float* book = bc.data_ptr<float>();
        for (int64_t c = s.begin; c < s.end; ++c) {
          const int64_t base = codebook_axis == ChannelAxis::kOut ? bi : col_book[static_cast<size_t>(c)];
          w[r * I + order[static_cast<size_t>(c)]] = book[base + code[ci++]];
        }
        if (codebook_axis == ChannelAxis::kOut) bi += int64_t(1) << b;
      }
    }
  }
  if (is.defined()) {
    // AWQ: the stored columns were quantized in the scaled domain W diag(s).
    const at::Tensor cols = at::tensor(order, at::kLong);
    W.index_copy_(1, cols, W.index_select(1, cols) / is.index_select(0, cols));
  }
  if (fp16_column_index.defined() && fp16_column_index.numel() > 0)
    W.index_copy_(1, fp16_column_index.to(at::kLong), fp16_columns.to(at::kFloat));
  if (outlier_val.defined() && outlier_val.numel() > 0) {
    const std::vector<int64_t> rp = to_int64(outlier_row_ptr), cc = to_int64(outlier_col);
    const at::Tensor v = outlier_val.to(at::kFloat).contiguous();
    for (int64_t r = 0; r < O; ++r)
      for (int64_t k = rp[static_cast<size_t>(r)]; k < rp[static_cast<size_t>(r) + 1]; ++k)
        w[r * I + cc[static_cast<size_t>(k)]] = v.data_ptr<float>()[k];
  }
  return W;
}

std::vector<std::pair<std::string, at::Tensor>> PackedModule::tensors(const std::string& prefix) const {
  std::vector<std::pair<std::string, at::Tensor>> t;
  auto add = [&](const char* name, const at::Tensor& x) {
    if (x.defined() && x.numel() > 0) t.emplace_back(prefix + "." + name, x.contiguous());
  };
  add("codes", codes);
  add("fp16_values", fp16_values);
  add("scales", scales);
  add("zeros", zeros);
  add("codebook", codebook);
  if (has_classes) add("class_bits", class_bits);
  add("fp16_column_index", fp16_column_index);
  add("fp16_columns", fp16_columns);
  add("column_order", column_order);
  add("outlier_row_ptr", outlier_row_ptr);
  add("outlier_col", outlier_col);
  add("outlier_val", outlier_val);
  add("input_scale", input_scale);
  return t;
}

std::string PackedModule::metadata_json() const {
  nlohmann::json j = {{"quantizer", quantizer},          {"out_features", out_features},
                      {"in_features", in_features},      {"bits", bits},
                      {"group_size", group_size},        {"symmetric", symmetric},
                      {"class_axis", axis_name(class_axis)}, {"codebook_axis", axis_name(codebook_axis)},
                      {"has_classes", has_classes}};
  return j.dump();
}

PackedModule PackedModule::from_tensors(const std::map<std::string, at::Tensor>& tensors,
                                        const std::string& prefix, const std::string& metadata,
                                        const std::string& source) {
  auto fail = [&](const std::string& problem) {
    return InputError(source, "packed module " + prefix + ": " + problem);
  };
  PackedModule p;
  try {
    const nlohmann::json j = parse_json(metadata, source, "metadata of " + prefix);
    p.quantizer = j.at("quantizer").get<std::string>();
    p.out_features = j.at("out_features").get<int64_t>();
    p.in_features = j.at("in_features").get<int64_t>();
    p.bits = j.at("bits").get<int>();
    p.group_size = j.at("group_size").get<int>();
    p.symmetric = j.at("symmetric").get<bool>();
    p.class_axis = parse_axis(j.at("class_axis").get<std::string>());
    p.codebook_axis = parse_axis(j.at("codebook_axis").get<std::string>());
    p.has_classes = j.at("has_classes").get<bool>();
  } catch (const std::exception& e) {
    throw fail(std::string("bad metadata: ") + e.what());
  }
  if (!parse_quantizer(p.quantizer)) throw fail("unknown quantizer '" + p.quantizer + "'");
  auto get = [&](const char* name) -> at::Tensor {
    auto it = tensors.find(prefix + "." + name);
    return it == tensors.end() ? at::Tensor() : it->second;
  };
  p.codes = get("codes");
  p.fp16_values = get("fp16_values");
  p.scales = get("scales");
  p.zeros = get("zeros");
  p.codebook = get("codebook");
  p.class_bits = get("class_bits");
  p.fp16_column_index = get("fp16_column_index");
  p.fp16_columns = get("fp16_columns");
  p.column_order = get("column_order");
  p.outlier_row_ptr = get("outlier_row_ptr");
  p.outlier_col = get("outlier_col");
  p.outlier_val = get("outlier_val");
  p.input_scale = get("input_scale");
  if (!p.codes.defined()) p.codes = at::zeros({0}, at::kByte);

  const int64_t k = count_of(p.fp16_column_index);
  if (k > 0 && count_of(p.fp16_columns) != p.out_features * k) throw fail("fp16_columns has the wrong size");
  if (p.has_classes) {
    const int64_t n_axis = p.class_axis == ChannelAxis::kIn ? p.in_features - k : p.out_features;
    if (count_of(p.class_bits) != n_axis) throw fail("class_bits has the wrong size");
  }
  detail::Layout L;
  try {
    L = layout_of(p);
  } catch (const std::exception& e) {
    throw fail(e.what());
  }
  const Counts c = expected_counts(L, p.quantizer, p.codebook_axis);
  if (count_of(p.codes) != (c.codes_bits + 7) / 8) throw fail("codes has the wrong size");
  if (count_of(p.fp16_values) != c.fp16_values) throw fail("fp16_values has the wrong size");
  if (uniform_grid(p.quantizer)) {
    if (count_of(p.scales) != c.groups) throw fail("scales has the wrong size");
    if (count_of(p.zeros) != (stores_zero(p.quantizer, p.symmetric) ? c.groups : 0))
      throw fail("zeros has the wrong size");
  } else if (count_of(p.codebook) != c.centroids) {
    throw fail("codebook has the wrong size");
  }
  if (count_of(p.column_order) != 0 && count_of(p.column_order) != L.stored_columns())
    throw fail("column_order has the wrong size");
  if (count_of(p.outlier_val) > 0 &&
      (count_of(p.outlier_row_ptr) != p.out_features + 1 || count_of(p.outlier_col) != count_of(p.outlier_val)))
    throw fail("outlier arrays are inconsistent");
  if (count_of(p.input_scale) != 0 && count_of(p.input_scale) != p.in_features)
    throw fail("input_scale has the wrong size");
  return p;
}

}  // namespace bitscape

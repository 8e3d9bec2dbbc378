// Sequential block-by-block calibration (see calibration.h). The Hessian proxy follows GPTQ's
// GPTQ.add_batch (H += x x^T accumulated in float32 over every token of every window) with one
// difference of normalisation: GPTQ divides by the number of windows, we divide by the number of
// tokens, H = 2/N sum x x^T, so that H does not depend on the window length. Every use of H in
// GPTQ and AWQ is invariant to its scale (GPTQ's dampening is relative to mean(diag(H))).
#include "bitscape/calibration.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "bitscape/error.h"
#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/safetensors.h"
#include "util/sha256.h"

namespace bitscape {

namespace {

std::vector<float> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous().cpu();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

at::Tensor from_vector(const std::vector<float>& v) {
  if (v.empty()) return {};
  return at::tensor(v, at::kFloat);
}

// Running sums over the tokens that reach one input (shared by the modules that read it).
struct InputAccumulator {
  at::Tensor xtx;       // [in, in] sum x x^T (full mode)
  at::Tensor sq_sum;    // [in] sum x^2
  at::Tensor abs_sum;   // [in] sum |x|
  at::Tensor abs_max;   // [in] max |x|
  int64_t tokens = 0;
};

struct OutputAccumulator {
  at::Tensor abs_sum, abs_max, sum, sq_sum;  // [out], float64 sums
};

}  // namespace

CalibrationWindows draw_calibration_windows(const std::vector<int32_t>& tokens, int64_t samples,
                                            int64_t seqlen, uint64_t seed,
                                            const std::string& source) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (samples <= 0) throw InputError("", "--samples must be positive");
  if (seqlen < 2) throw InputError("", "--seqlen must be at least 2");
  // 2^28 tokens (2 GiB of ids) is hundreds of times what any calibration uses.
  if (samples > (int64_t(1) << 28) / seqlen)
    throw InputError("", std::to_string(samples) + " windows of " + std::to_string(seqlen) +
                             " tokens are more than the 268M tokens a calibration may have");
  if (n <= seqlen)
    throw InputError(source, "corpus has " + std::to_string(n) +
                                 " tokens, not longer than one calibration window of " +
                                 std::to_string(seqlen));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> start(0, n - seqlen);
  CalibrationWindows w;
  w.ids = at::empty({samples, seqlen}, at::kLong);
  int64_t* p = w.ids.data_ptr<int64_t>();
  for (int64_t s = 0; s < samples; ++s) {
    const int64_t i = start(rng);
    w.starts.push_back(i);
    for (int64_t t = 0; t < seqlen; ++t) p[s * seqlen + t] = tokens[static_cast<size_t>(i + t)];
  }
  return w;
}

at::Tensor project_calibration_windows(const Model& model, const CalibrationSettings& s,
                                       const std::string& project, int64_t max_windows) {
  if (s.corpus.empty() || s.window_starts.empty())
    throw InputError(project, "records no calibration windows");
  if (!s.corpus_sha256.empty() && file_sha256(s.corpus) != s.corpus_sha256)
    throw InputError(s.corpus, "has changed since the project was calibrated on it (its SHA-256 "
                               "differs), so its calibration windows cannot be rebuilt");
  const std::vector<int32_t> tokens = tokenize_eval_corpus(model.dir(), s.corpus);
  int64_t n = static_cast<int64_t>(s.window_starts.size());
  if (max_windows > 0) n = std::min(n, max_windows);
  at::Tensor ids = at::empty({n, s.seqlen}, at::kLong);
  int64_t* p = ids.data_ptr<int64_t>();
  for (int64_t w = 0; w < n; ++w) {
    const int64_t start = s.window_starts[static_cast<size_t>(w)];
    if (start < 0 || start + s.seqlen > static_cast<int64_t>(tokens.size()))
      throw InputError(project, "calibration window " + std::to_string(w) +
                                    " lies outside the corpus " + s.corpus);
    for (int64_t t = 0; t < s.seqlen; ++t)
      p[w * s.seqlen + t] = tokens[static_cast<size_t>(start + t)];
  }
  return ids;
}

std::string context_warning(const ModelConfig& config, int64_t seqlen) {
  const int64_t context = config.max_position_embeddings;
  if (context <= 0 || seqlen <= context) return "";
  return "warning: windows of " + std::to_string(seqlen) + " tokens are longer than the " +
         std::to_string(context) +
         " positions the model was trained on (max_position_embeddings); its predictions there "
         "are not what the model does in use, and attention costs grow with the square of the "
         "window length";
}

int64_t default_seqlen(const Model& model, int64_t requested) {
  if (requested > 0) return requested;
  const int64_t max_pos = model.config().max_position_embeddings;
  return max_pos > 0 ? std::min<int64_t>(2048, max_pos) : 2048;
}

std::vector<InputGroup> block_input_groups(const Model& model, int64_t block) {
  const std::string p = "model.layers." + std::to_string(block) + ".";
  return {{p + "self_attn.q_proj+k_proj+v_proj",
           {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"}},
          {p + "self_attn.o_proj", {p + "self_attn.o_proj"}},
          {p + "mlp.gate_proj+up_proj", {p + "mlp.gate_proj", p + "mlp.up_proj"}},
          {p + "mlp.down_proj", {p + "mlp.down_proj"}}};
}

std::vector<ModuleShape> module_shapes(const Model& model) {
  std::vector<ModuleShape> shapes;
  for (const std::string& name : model.linear_modules()) {
    const at::Tensor& w = model.parameter(name + ".weight");
    shapes.push_back({name, w.size(0), w.size(1)});
  }
  return shapes;
}

int64_t other_parameter_count(const Model& model) {
  int64_t total = 0, linear = 0;
  for (const auto& [name, t] : model.parameters()) total += t.numel();
  for (const ModuleShape& s : module_shapes(model)) linear += s.numel();
  return total - linear;
}

std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot read");
  detail::Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return h.hex();
}

ProjectModelInfo project_model_info(const Model& model) {
  namespace fs = std::filesystem;
  ProjectModelInfo info;
  info.path = model.dir();
  info.modules = module_shapes(model);
  info.other_params = other_parameter_count(model);
  info.config_json = model.config().to_json().dump(2);
  if (!model.dir().empty()) {
    // config.json and the safetensors headers with their sizes: cheap, yet any change of the
    // weights' layout or of the files shows.
    detail::Sha256 h;
    const fs::path dir(model.dir());
    std::ifstream cfg(dir / "config.json", std::ios::binary);
    h.update(std::string(std::istreambuf_iterator<char>(cfg), {}));
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".safetensors") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      std::ifstream in(f, std::ios::binary);
      uint64_t n = 0;
      in.read(reinterpret_cast<char*>(&n), 8);
      std::string header(static_cast<size_t>(std::min<uint64_t>(n, uint64_t(1) << 28)), '\0');
      in.read(header.data(), static_cast<std::streamsize>(header.size()));
      h.update(f.filename().string());
      h.update(std::to_string(fs::file_size(f)));
      h.update(header);
    }
    info.fingerprint = h.hex();
  }
  return info;
}

ModuleCalibration module_calibration(const ModuleStatistics& s, const at::Tensor& hessian) {
  ModuleCalibration c;
  c.hessian = hessian;
  c.act_abs_mean = from_vector(s.act_abs_mean);
  c.act_l2 = from_vector(s.act_l2);
  c.out_abs_mean = from_vector(s.out_abs_mean);
  if (hessian.defined()) c.hessian_diag = hessian.diagonal().clone();
  return c;
}

void run_calibration(Model& model, const at::Tensor& windows, bool full_hessians,
                     const BlockCallback& on_block, ProgressSink& progress,
                     const CancelToken& cancel) {
  c10::InferenceMode guard;
  const int64_t N = windows.size(0), L = windows.size(1);
  const int64_t batch = std::max<int64_t>(1, 2048 / L);
  const at::Device device = model.device();
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);

  progress.stage("calibrate", model.num_blocks());
  at::Tensor hidden;
  for (int64_t b0 = 0; b0 < N; b0 += batch) {
    cancel.throw_if_cancelled();
    const at::Tensor h = model.embed(windows.slice(0, b0, std::min(N, b0 + batch)));
    if (!hidden.defined()) hidden = at::empty({N, L, h.size(2)}, h.options());
    hidden.slice(0, b0, b0 + h.size(0)).copy_(h);
  }

  for (int64_t block = 0; block < model.num_blocks(); ++block) {
    model.stage_block(block);  // mapped bf16 weights: converted once per block, not per batch
    const std::vector<InputGroup> groups = block_input_groups(model, block);
    std::map<std::string, size_t> group_of;
    for (size_t g = 0; g < groups.size(); ++g)
      for (const std::string& m : groups[g].modules) group_of[m] = g;
    std::vector<InputAccumulator> in(groups.size());
    std::map<std::string, OutputAccumulator> out;
    std::map<std::string, at::Tensor> weights, biases;
    for (const InputGroup& g : groups)
      for (const std::string& m : g.modules) {
        weights[m] = model.weight(m + ".weight");
        if (model.parameters().count(m + ".bias")) biases[m] = model.weight(m + ".bias");
      }

    const LinearInputHook hook = [&](const std::string& name, const at::Tensor& x_in) {
      auto it = group_of.find(name);
      if (it == group_of.end()) return;
      const InputGroup& g = groups[it->second];
      const at::Tensor x = x_in.reshape({-1, x_in.size(-1)}).to(at::kFloat);
      if (name == g.modules.front()) {  // the input is shared: accumulate it once
        InputAccumulator& a = in[it->second];
        const int64_t n = x.size(1);
        if (!a.abs_sum.defined()) {
          a.sq_sum = at::zeros({n}, f32);
          a.abs_sum = at::zeros({n}, f32);
          a.abs_max = at::zeros({n}, f32);
          if (full_hessians) a.xtx = at::zeros({n, n}, f32);
        }
        if (full_hessians) a.xtx.addmm_(x.t(), x);
        a.sq_sum += (x * x).sum(0);
        const at::Tensor ax = x.abs();
        a.abs_sum += ax.sum(0);
        a.abs_max = at::maximum(a.abs_max, std::get<0>(ax.max(0)));
        a.tokens += x.size(0);
      }
      // The module's output activations y = x W^T + b.
      const at::Tensor w = weights.at(name);
      at::Tensor y = at::linear(x_in, w, biases.count(name) ? biases.at(name) : at::Tensor());
      y = y.reshape({-1, y.size(-1)}).to(at::kFloat);
      OutputAccumulator& o = out[name];
      const at::Tensor ay = y.abs();
      if (!o.sum.defined()) {
        o.abs_sum = at::zeros({y.size(1)}, f32.dtype(at::kDouble));
        o.abs_max = at::zeros({y.size(1)}, f32);
        o.sum = at::zeros({y.size(1)}, f32.dtype(at::kDouble));
        o.sq_sum = at::zeros({y.size(1)}, f32.dtype(at::kDouble));
      }
      o.abs_sum += ay.sum(0).to(at::kDouble);
      o.abs_max = at::maximum(o.abs_max, std::get<0>(ay.max(0)));
      o.sum += y.sum(0).to(at::kDouble);
      o.sq_sum += (y * y).sum(0).to(at::kDouble);
    };

    at::Tensor next = at::empty_like(hidden);
    for (int64_t b0 = 0; b0 < N; b0 += batch) {
      cancel.throw_if_cancelled();
      const int64_t b1 = std::min(N, b0 + batch);
      next.slice(0, b0, b1).copy_(model.run_block(block, hidden.slice(0, b0, b1), hook));
    }

    // Statistics enter the project here: refuse NaN or infinity (weights that overflow float32,
    // a broken model) with the module named, instead of storing them.
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      const InputAccumulator& a = in[gi];
      bool finite = at::isfinite(a.sq_sum).all().item<bool>() &&
                    (!a.xtx.defined() || at::isfinite(a.xtx).all().item<bool>());
      for (const std::string& m : groups[gi].modules)
        finite = finite && at::isfinite(out.at(m).sq_sum).all().item<bool>();
      if (finite) continue;
      std::string why;
      for (int64_t w = 0; w < std::min<int64_t>(N, 8) && why.empty(); ++w)
        why = explain_non_finite(model, windows.slice(0, w, w + 1));
      throw InputError(model.dir(), "the calibration statistics of " + groups[gi].key +
                                        " are not finite" + (why.empty() ? "" : ": " + why));
    }

    BlockCalibration bc;
    bc.block = block;
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      const InputGroup& g = groups[gi];
      InputAccumulator& a = in[gi];
      const double tokens = static_cast<double>(std::max<int64_t>(1, a.tokens));
      HessianData h;
      h.key = g.key;
      h.modules = g.modules;
      h.n = a.sq_sum.size(0);
      h.tokens = a.tokens;
      h.diag = to_vector(a.sq_sum * (2.0 / tokens));
      at::Tensor H;
      if (full_hessians) {
        H = a.xtx.mul_(2.0 / tokens).cpu().contiguous();  // in place: no second copy
        a.xtx.reset();
        h.upper = HessianData::pack_upper(H.data_ptr<float>(), h.n);
      }
      bc.hessians.push_back(std::move(h));
      const at::Tensor act_abs_mean = a.abs_sum / tokens;
      const at::Tensor act_l2 = a.sq_sum.sqrt();
      for (const std::string& m : g.modules) {
        ModuleStatistics s;
        s.name = m;
        const at::Tensor w = weights.at(m).to(at::kFloat);
        s.out_features = w.size(0);
        s.in_features = w.size(1);
        s.hessian = g.key;
        s.tokens = a.tokens;
        s.act_abs_mean = to_vector(act_abs_mean);
        s.act_abs_max = to_vector(a.abs_max);
        s.act_l2 = to_vector(act_l2);
        const OutputAccumulator& o = out.at(m);
        const at::Tensor mean = o.sum / tokens;
        s.out_abs_mean = to_vector(o.abs_sum / tokens);
        s.out_abs_max = to_vector(o.abs_max);
        s.out_mean = to_vector(mean);
        s.out_std = to_vector((o.sq_sum / tokens - mean * mean).clamp_min(0.0).sqrt());
        s.weight_row_norm = to_vector(w.norm(2, 1));
        s.weight_row_abs_max = to_vector(std::get<0>(w.abs().max(1)));
        s.weight_col_norm = to_vector(w.norm(2, 0));
        const at::Tensor wd = w.to(at::kDouble);
        s.weight_mean = wd.mean().item<double>();
        s.weight_std = wd.std(/*unbiased=*/false).item<double>();
        s.weight_abs_max = wd.abs().max().item<double>();
        const double var = s.weight_std * s.weight_std;
        s.weight_kurtosis =
            var > 0 ? ((wd - s.weight_mean).pow(4).mean().item<double>() / (var * var)) : 0.0;
        bc.modules.push_back(std::move(s));
        if (H.defined()) bc.hessian_of[m] = H;
      }
    }
    in.clear();
    out.clear();

    std::map<std::string, at::Tensor> replaced;
    if (on_block) replaced = on_block(bc);
    if (!replaced.empty()) {
      for (const auto& [name, w] : replaced) model.set_parameter(name + ".weight", w);
      // GPTQ's sequential mode: the next block sees this block's quantized outputs.
      for (int64_t b0 = 0; b0 < N; b0 += batch) {
        cancel.throw_if_cancelled();
        const int64_t b1 = std::min(N, b0 + batch);
        next.slice(0, b0, b1).copy_(model.run_block(block, hidden.slice(0, b0, b1)));
      }
    }
    hidden = next;
    model.unstage();
    progress.advance(block + 1);
  }
}

}  // namespace bitscape

// GPTQ and HQQ against fixtures made by reference Python implementations on the same inputs
// (tests/fixtures/quant/: GPTQ as the authors' fasterquant runs it, HQQ by the hqq library
// itself; the scripts and their README are beside the files).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "bitscape/quantizer.h"
#include "bitscape/safetensors.h"

namespace bitscape {
namespace {

const std::string kDir = std::string(BITSCAPE_FIXTURE_DIR) + "/quant/";

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(GptqReferenceTest, MatchesTheAuthorsAlgorithmOnEveryCase) {
  const nlohmann::json j = read_json(kDir + "gptq_reference.json");
  const auto f = SafetensorsFile::open(kDir + "gptq_reference.safetensors");
  ASSERT_GE(j["cases"].size(), 10u);
  for (const auto& c : j["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const at::Tensor W = f->tensor(c["W"]).to(at::kFloat);
    ModuleCalibration calib;
    calib.hessian = f->tensor(c["H"]).to(at::kFloat);
    ModuleAllocation m;
    m.quantizer = QuantizerKind::kGptq;
    m.bits = c["bits"];
    m.group_size = c["group_size"];
    m.symmetric = c["sym"];
    m.act_order = c["act_order"];
    m.static_groups = c["static_groups"];
    m.clip_search = c["mse"];
    m.damp = c["percdamp"];
    const QuantizedModule q = quantize_module(W, m, calib, "m");
    const at::Tensor Qref = f->tensor(c["tensors"]["Q"]).to(at::kFloat);
    EXPECT_LE((q.weight - Qref).abs().max().item<double>(), 1e-4);
    // The objective GPTQ minimises, against the reference's and against RTN's.
    const double ours = layer_objective(W, q.weight, calib.hessian);
    EXPECT_NEAR(ours, c["objective_gptq"].get<double>(), 1e-4 * c["objective_gptq"].get<double>());
    EXPECT_LT(ours, c["objective_rtn"].get<double>());
  }
}

TEST(HqqReferenceTest, MatchesTheHqqLibraryOnEveryCase) {
  const nlohmann::json j = read_json(kDir + "hqq_reference.json");
  const auto f = SafetensorsFile::open(kDir + "hqq_reference.safetensors");
  ASSERT_GE(j["cases"].size(), 12u);
  for (const auto& c : j["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const at::Tensor W = f->tensor(c["W"]).to(at::kFloat);
    ModuleAllocation m;
    m.quantizer = QuantizerKind::kHqq;
    m.bits = c["bits"];
    m.group_size = c["group_size"];
    const QuantizedModule q = quantize_module(W, m, {}, "m");
    // Same codes; scales and zeros equal up to their float16 storage.
    const at::Tensor codes_ref = f->tensor(c["tensors"]["codes"]).to(at::kLong);
    const std::vector<uint8_t> widths(static_cast<size_t>(W.numel()), static_cast<uint8_t>(m.bits));
    const std::vector<uint8_t> codes = unpack_codes(q.packed.codes, widths);
    const at::Tensor ours = at::tensor(std::vector<int64_t>(codes.begin(), codes.end())).view(W.sizes());
    EXPECT_EQ((ours != codes_ref).sum().item<int64_t>(), 0);
    const at::Tensor scale_ref = f->tensor(c["tensors"]["scale"]).to(at::kFloat).reshape({-1});
    const at::Tensor zero_ref = f->tensor(c["tensors"]["zero"]).to(at::kFloat).reshape({-1});
    EXPECT_TRUE(at::allclose(q.packed.scales.to(at::kFloat), scale_ref, 1e-3, 0));
    EXPECT_TRUE(at::allclose(q.packed.zeros.to(at::kFloat), zero_ref, 1e-3, 1e-3));
    const at::Tensor Wref = f->tensor(c["tensors"]["Wdeq"]).to(at::kFloat);
    EXPECT_LE((q.weight - Wref).abs().max().item<double>(), 2e-3 * W.abs().max().item<double>());
    // HQQ lowers the mean absolute error of min-max RTN.
    const double err = (q.weight - W).abs().mean().item<double>();
    EXPECT_NEAR(err, c["mean_abs_error_hqq"].get<double>(), 1e-3 * err);
    EXPECT_LT(err, c["mean_abs_error_rtn"].get<double>());
  }
}

}  // namespace
}  // namespace bitscape

// The quantize job on the sample model: statistics from a project and from an inline
// calibration on the same windows give the same model; only the modules an allocation
// quantizes change; missing calibration is an input error.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "bitscape/calibration.h"
#include "bitscape/error.h"
#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/project.h"
#include "bitscape/quantize_job.h"
#include "test_util.h"

namespace bitscape {
namespace {

const std::string kModel = std::string(BITSCAPE_SAMPLE_DIR) + "/model";
const std::string kText = std::string(BITSCAPE_SAMPLE_DIR) + "/validation.txt";

ModuleAllocation setting(QuantizerKind q, int bits) {
  ModuleAllocation m;
  m.quantizer = q;
  m.bits = bits;
  return m;
}

// Calibrates the sample model into a project with the same windows an inline run would draw.
std::string write_project(const CalibrationOptions& o, const std::string& dir,
                          bool diagonals_only = false) {
  c10::InferenceMode guard;
  const std::string path = dir + (diagonals_only ? "/diag.bsproj.h5" : "/p.bsproj.h5");
  Model model = Model::load(kModel);
  const CalibrationWindows w = draw_calibration_windows(tokenize_eval_corpus(kModel, kText),
                                                        o.samples, o.seqlen, o.seed, kText);
  ProjectWriter writer = ProjectWriter::create(path);
  writer.write_model(project_model_info(model));
  CalibrationSettings s;
  s.corpus = kText;
  s.samples = o.samples;
  s.seqlen = o.seqlen;
  s.seed = o.seed;
  s.window_starts = w.starts;
  s.corpus_sha256 = file_sha256(kText);
  s.hessians = diagonals_only ? "diag" : "full";
  writer.begin_calibration(s);
  NullProgress progress;
  run_calibration(model, w.ids, true, [&](BlockCalibration& bc) -> std::map<std::string, at::Tensor> {
    for (HessianData h : bc.hessians) {
      if (diagonals_only) h.upper.clear();
      writer.write_hessian(h);
    }
    for (const ModuleStatistics& m : bc.modules) writer.write_module_statistics(m);
    return {};
  }, progress, CancelToken());
  writer.commit();
  return path;
}

TEST(QuantizeJobTest, ProjectAndInlineCalibrationOnTheSameWindowsGiveTheSameModel) {
  if (!project_support_available()) GTEST_SKIP() << "built without HDF5";
  c10::InferenceMode guard;
  CalibrationOptions o;
  o.samples = 8;
  o.seqlen = 64;
  o.seed = 3;
  const std::string project = write_project(o, test::scratch_dir());
  Allocation alloc;
  alloc.default_module = setting(QuantizerKind::kGptq, 3);
  alloc.modules["model.layers.2.mlp.down_proj"] = setting(QuantizerKind::kAwq, 4);
  alloc.modules["model.layers.3.self_attn.q_proj"] = setting(QuantizerKind::kKmeans, 2);
  NullProgress progress;

  Model a = Model::load(kModel);
  QuantizeJobOptions from_project;
  from_project.project = project;
  const QuantizeReport ra = quantize_model(a, alloc, from_project, progress, CancelToken());
  Model b = Model::load(kModel);
  QuantizeJobOptions inline_fp;
  inline_fp.calib_data = kText;
  inline_fp.calib = o;
  inline_fp.sequential = false;  // the project was measured on full-precision inputs
  const QuantizeReport rb = quantize_model(b, alloc, inline_fp, progress, CancelToken());
  EXPECT_EQ(ra.modules.size(), 42u);
  for (const std::string& name : a.linear_modules())
    EXPECT_TRUE(at::allclose(a.parameter(name + ".weight"), b.parameter(name + ".weight"), 1e-5, 1e-6))
        << name;
  EXPECT_EQ(ra.cost.total_bits, rb.cost.total_bits);
  // GPTQ's sequential mode measures later blocks on quantized inputs: a different model.
  Model c = Model::load(kModel);
  QuantizeJobOptions sequential = inline_fp;
  sequential.sequential = true;
  quantize_model(c, alloc, sequential, progress, CancelToken());
  EXPECT_TRUE(at::equal(c.parameter("model.layers.0.mlp.up_proj.weight"),
                        b.parameter("model.layers.0.mlp.up_proj.weight")));
  EXPECT_FALSE(at::equal(c.parameter("model.layers.5.mlp.up_proj.weight"),
                         b.parameter("model.layers.5.mlp.up_proj.weight")));
}

TEST(QuantizeJobTest, HessiansMissingFromAProjectAreRecomputedOnItsWindows) {
  if (!project_support_available()) GTEST_SKIP() << "built without HDF5";
  c10::InferenceMode guard;
  CalibrationOptions o;
  o.samples = 6;
  o.seqlen = 48;
  o.seed = 11;
  const std::string dir = test::scratch_dir();
  const std::string full = write_project(o, dir), diag = write_project(o, dir, true);
  EXPECT_FALSE(ProjectReader::open(diag).hessian("model.layers.0.mlp.down_proj").has_full());
  const Allocation alloc = Allocation::uniform(module_shapes(Model::load(kModel)),
                                               setting(QuantizerKind::kGptq, 3));
  NullProgress progress;
  Model a = Model::load(kModel), b = Model::load(kModel);
  QuantizeJobOptions from_full, from_diag;
  from_full.project = full;
  from_diag.project = diag;
  quantize_model(a, alloc, from_full, progress, CancelToken());
  const QuantizeReport r = quantize_model(b, alloc, from_diag, progress, CancelToken());
  EXPECT_NE(r.calibration.find("recomputed"), std::string::npos) << r.calibration;
  for (const std::string& name : a.linear_modules())
    EXPECT_TRUE(at::allclose(a.parameter(name + ".weight"), b.parameter(name + ".weight"), 1e-5, 1e-6))
        << name;
}

TEST(QuantizeJobTest, KmeansCanBeWeightedByTheFisherInformationAsSqueezeLlm) {
  // Loaded outside InferenceMode: the Fisher information needs differentiable weights.
  ModuleAllocation km = setting(QuantizerKind::kKmeans, 3);
  Allocation alloc;
  alloc.modules["model.layers.2.mlp.up_proj"] = km;
  QuantizeJobOptions o;
  o.calib_data = kText;
  o.calib.samples = 4;
  o.calib.seqlen = 64;
  o.sequential = false;
  NullProgress progress;
  Model a = Model::load(kModel), b = Model::load(kModel);
  quantize_model(a, alloc, o, progress, CancelToken());
  o.kmeans_fisher = true;
  quantize_model(b, alloc, o, progress, CancelToken());
  const at::Tensor wa = a.parameter("model.layers.2.mlp.up_proj.weight");
  const at::Tensor wb = b.parameter("model.layers.2.mlp.up_proj.weight");
  EXPECT_FALSE(at::equal(wa, wb));
  // Still 8 centroids per row.
  for (int64_t r = 0; r < 4; ++r) EXPECT_LE(std::get<0>(at::_unique(wb[r])).numel(), 8);
}

TEST(QuantizeJobTest, OnlyTheModulesTheAllocationQuantizesChange) {
  c10::InferenceMode guard;
  Model model = Model::load(kModel);
  const Model original = Model::load(kModel);
  Allocation alloc;  // no default: everything else stays unquantized
  alloc.modules["model.layers.1.mlp.gate_proj"] = setting(QuantizerKind::kHqq, 2);
  NullProgress progress;
  const QuantizeReport r = quantize_model(model, alloc, {}, progress, CancelToken());
  EXPECT_EQ(r.calibration, "none");
  for (const std::string& name : model.linear_modules()) {
    const at::Tensor w = model.parameter(name + ".weight"), o = original.parameter(name + ".weight");
    if (name == "model.layers.1.mlp.gate_proj")
      EXPECT_GT((w - o).abs().max().item<double>(), 1e-3);
    else  // left as they were
      EXPECT_TRUE(at::equal(w, o)) << name;
  }
  EXPECT_TRUE(at::equal(model.parameter("model.embed_tokens.weight"),
                        original.parameter("model.embed_tokens.weight")));
}

TEST(QuantizeJobTest, CalibrationNeededButNotGivenIsAnInputError) {
  Model model = Model::load(kModel);
  const Allocation alloc = Allocation::uniform(module_shapes(model), setting(QuantizerKind::kGptq, 4));
  NullProgress progress;
  test::expect_error<InputError>(
      [&] { quantize_model(model, alloc, {}, progress, CancelToken()); },
      {"needs calibration", "--project", "--calib-data"});
}

TEST(QuantizeJobTest, ProjectOfAnotherModelIsRejected) {
  if (!project_support_available()) GTEST_SKIP() << "built without HDF5";
  CalibrationOptions o;
  o.samples = 2;
  o.seqlen = 32;
  const std::string scratch = test::scratch_dir();
  const std::string project = write_project(o, scratch);
  // A copy of the sample model with one weight changed in shape metadata: another model.
  ModelConfig c = ModelConfig::from_json_file(kModel + "/config.json");
  c.num_hidden_layers = 2;
  Model other = Model::random(c, 0);
  const std::string dir = scratch + "/other";
  other.save(dir);
  Model reloaded = Model::load(dir);
  const Allocation alloc =
      Allocation::uniform(module_shapes(reloaded), setting(QuantizerKind::kGptq, 4));
  QuantizeJobOptions opts;
  opts.project = project;
  NullProgress progress;
  test::expect_error<InputError>(
      [&] { quantize_model(reloaded, alloc, opts, progress, CancelToken()); },
      {project, "another model"});
}

}  // namespace
}  // namespace bitscape

#include "quant_args.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "bitscape/error.h"

namespace bitscape::cli {

std::vector<OptionSpec> allocation_options() {
  return {{"alloc", "FILE", "allocation (*.alloc.json) to quantize with"},
          {"bits", "B", "quantize every module uniformly with B bits (2..8)"},
          {"group", "G", "group size for --bits (32, 64, 128, ...; -1 = per channel)", "128"},
          {"method", "M", "rtn, gptq, hqq, awq or kmeans (with --alloc: overrides its quantizers)"},
          {"sym", "", "symmetric grid (rtn, gptq; with --bits)"},
          {"act-order", "", "GPTQ act-order (with --bits)"},
          {"clip", "", "MSE clipping search (rtn, gptq; with --bits)"},
          {"cmpq", "B", "CMPQ's channel-wise allocation (Algorithm 1) for B code bits (2..4): "
                        "k-means per input channel, 2/3/4 bits by activation norm, fp16 outliers"}};
}

std::vector<OptionSpec> runtime_options() {
  return {{"device", "DEV", "cpu, cuda or cuda:N", "cpu"},
          {"dtype", "T", "fp32, bf16 or fp16", "fp32"},
          {"gpu-memory", "GIB", "CUDA: keep weights up to GIB GiB on the device; a larger model "
                                "streams its blocks from host memory", "2"},
          {"threads", "T", "CPU threads (0 = one per core)", "0"},
          {"json", "", "print one JSON object on stdout"},
          {"quiet", "", "no progress on stderr"}};
}

std::vector<OptionSpec> calibration_source_options() {
  return {{"project", "FILE", "read calibration statistics from this project (*.bsproj.h5)"},
          {"calib-data", "FILE", "calibrate on this corpus instead (text or JSONL)"},
          {"samples", "N", "calibration windows (with --calib-data)", "128"},
          {"calib-seqlen", "L", "calibration window length (0 = min(2048, model context))", "0"},
          {"seed", "S", "seed for drawing the calibration windows", "0"},
          {"no-sequential", "", "calibrate each block on full-precision inputs (default: on the "
                                "outputs of the already-quantized blocks, as GPTQ)"},
          {"kmeans-fisher", "", "k-means per row weighted by the Fisher information, as SqueezeLLM "
                                "(a backward pass per calibration window; default: diag(H))"},
          {"fisher-windows", "N", "with --kmeans-fisher: calibration windows used (0 = all)", "0"}};
}

DeviceOptions device_options_from_args(const Args& args) {
  DeviceOptions d;
  d.device = args.get("device");
  d.dtype = args.get("dtype");
  d.gpu_memory_gib = args.get_double("gpu-memory");
  return d;
}

bool wants_quantization(const Args& args) {
  return args.has("alloc") || args.has("bits") || args.has("cmpq");
}

Allocation allocation_from_args(const Args& args, const std::vector<ModuleShape>& shapes) {
  if (args.has("alloc") + args.has("bits") + args.has("cmpq") > 1)
    throw UsageError("give one of --alloc, --bits and --cmpq");
  if (args.has("cmpq")) {
    Allocation a = Allocation::uniform(shapes, cmpq_module_allocation(args.get_double("cmpq")));
    a.name = "CMPQ " + args.get("cmpq") + " bits";
    return a;
  }
  std::optional<QuantizerKind> method;
  if (args.has("method")) {
    method = parse_quantizer(args.get("method"));
    if (!method)
      throw UsageError("unknown --method '" + args.get("method") +
                       "' (use rtn, gptq, hqq, awq or kmeans)");
  }
  if (args.has("alloc")) {
    Allocation a = Allocation::load(args.get("alloc"), shapes);
    if (method) {
      for (auto& [name, m] : a.modules)
        if (m.quantized()) m.quantizer = *method;
      if (a.default_module && a.default_module->quantized()) a.default_module->quantizer = *method;
      a.validate(shapes, args.get("alloc") + " (with --method " + args.get("method") + ")");
    }
    return a;
  }
  if (!args.has("bits")) throw UsageError("give --alloc FILE, --bits B or --cmpq B");
  ModuleAllocation m;
  m.bits = static_cast<int>(args.get_int("bits"));
  m.group_size = static_cast<int>(args.get_int("group"));
  m.quantizer = method.value_or(QuantizerKind::kRtn);
  m.symmetric = args.flag("sym");
  m.act_order = args.flag("act-order");
  m.clip_search = args.flag("clip");
  if (m.bits < 2 || (m.bits > 8 && m.bits != kUnquantizedBits))
    throw UsageError("--bits must be between 2 and 8 (or 16), got " + args.get("bits"));
  Allocation a = Allocation::uniform(shapes, m);
  a.name = "uniform " + std::to_string(m.bits) + "-bit " + quantizer_name(m.quantizer);
  a.validate(shapes, "--bits/--group/--method");
  return a;
}

QuantizeJobOptions job_options_from_args(const Args& args) {
  QuantizeJobOptions o;
  o.project = args.get("project");
  o.calib_data = args.get("calib-data");
  if (!o.project.empty() && !o.calib_data.empty())
    throw UsageError("give either --project or --calib-data, not both");
  o.calib.samples = args.get_int("samples");
  o.calib.seqlen = args.get_int("calib-seqlen");
  const int64_t seed = args.get_int("seed");
  if (seed < 0) throw UsageError("--seed must not be negative");
  o.calib.seed = static_cast<uint64_t>(seed);
  if (o.calib.samples <= 0) throw UsageError("--samples must be positive");
  o.sequential = !args.flag("no-sequential");
  o.kmeans_fisher = args.flag("kmeans-fisher");
  o.fisher_windows = args.get_int("fisher-windows");
  return o;
}

void print_quantize_summary(const QuantizeReport& r) {
  const AllocationCost& c = r.cost;
  std::printf("average bits  %.4f with overhead (%.4f code bits) over %lld weights\n",
              c.average_bits, c.average_code_bits, static_cast<long long>(c.weights));
  std::printf("model size    %.2f MB (quantized modules %.2f MB, the rest %.2f MB at %d bits)\n",
              c.total_bytes() / 1e6, c.module_bytes() / 1e6, c.other_bytes() / 1e6, c.other_bits);
  std::printf("calibration   %s\n", r.calibration.c_str());
  std::printf("quantized     %zu modules in %.2f s\n", r.modules.size(), r.seconds);
}

nlohmann::json quantize_report_json(const QuantizeReport& r) {
  const AllocationCost& c = r.cost;
  nlohmann::json j = {{"average_bits", c.average_bits},
                      {"average_code_bits", c.average_code_bits},
                      {"weights", c.weights},
                      {"total_bytes", c.total_bytes()},
                      {"module_bytes", c.module_bytes()},
                      {"other_bytes", c.other_bytes()},
                      {"calibration", r.calibration},
                      {"seconds", r.seconds}};
  j["modules"] = nlohmann::json::array();
  for (const ModuleQuantReport& m : r.modules) {
    nlohmann::json mj = {{"name", m.name},
                         {"quantizer", m.quantizer},
                         {"bits", m.bits},
                         {"storage_bits", m.storage_bits},
                         {"seconds", m.seconds}};
    if (!std::isnan(m.objective)) mj["objective"] = m.objective;
    j["modules"].push_back(mj);
  }
  return j;
}

}  // namespace bitscape::cli

// Options shared by the commands that quantize (quantize, eval --alloc, calibrate --mode
// quantized): the allocation (a file, or uniform --bits/--group/--method) and where the
// calibration statistics come from (--project, or --calib-data with --samples/--seqlen/--seed).
#pragma once

#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/device.h"
#include "bitscape/quantize_job.h"
#include "cli.h"

namespace bitscape::cli {

// The option specs, appended to a command's own.
std::vector<OptionSpec> allocation_options();
// --device, --dtype, --threads, --json, --quiet.
std::vector<OptionSpec> runtime_options();
// --device, --dtype and --gpu-memory as the jobs take them (checked by the job).
DeviceOptions device_options_from_args(const Args& args);
std::vector<OptionSpec> calibration_source_options();

// True when the command line asks for quantization (--alloc or --bits).
bool wants_quantization(const Args& args);
// The allocation from --alloc (with --method overriding every quantized module's quantizer) or
// from --bits/--group/--method/--sym/--act-order/--clip. Throws UsageError / InputError.
Allocation allocation_from_args(const Args& args, const std::vector<ModuleShape>& shapes);
QuantizeJobOptions job_options_from_args(const Args& args);

// Human summary lines and the JSON object of a quantize report.
void print_quantize_summary(const QuantizeReport& r);
nlohmann::json quantize_report_json(const QuantizeReport& r);

}  // namespace bitscape::cli

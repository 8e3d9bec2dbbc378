// Where and in what precision a job runs the model: plain values that the CLI fills from
// --device/--dtype/--gpu-memory and the workbench from its device setting, so that every job
// (calibration, sensitivity, probing, search, measuring, quantizing, evaluating) runs on any
// device. The jobs turn them into LoadOptions (model.h) and check them before any heavy work:
// an unknown name, or CUDA where it is not available, is one InputError. Plain-value header.
#pragma once

#include <string>

namespace bitscape {

struct DeviceOptions {
  std::string device = "cpu";   // execution device: "cpu", "cuda", "cuda:N"
  std::string dtype = "fp32";   // compute dtype: "fp32"/"float32", "bf16"/"bfloat16", "fp16"/"float16"
  // CUDA: weights up to this many GiB are moved to the device once; a larger model streams its
  // blocks from host memory (raise it to the card's free memory).
  double gpu_memory_gib = 2.0;
};

}  // namespace bitscape

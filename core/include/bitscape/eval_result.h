// Results of evaluation jobs as plain values for the CLI, the GUI and reports.
#pragma once

#include <cstdint>
#include <vector>

namespace bitscape {

struct PerplexityResult {
  double ppl = 0.0;
  double nll = 0.0;       // mean negative log-likelihood per predicted token (nats)
  int64_t tokens = 0;     // predicted tokens (windows * (seqlen - 1))
  int64_t windows = 0;
  int64_t seqlen = 0;
  double seconds = 0.0;
  std::vector<double> window_nll;  // mean NLL of each window
};

}  // namespace bitscape

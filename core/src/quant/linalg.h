// Dense linear algebra shared by GPTQ and the saliency maps: the upper Cholesky factor of the
// inverse of a symmetric positive definite matrix, computed in place with LAPACK. Internal to core.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace bitscape::detail {

// The upper Cholesky factor U of A^-1 (A^-1 = U^T U), computed in the contiguous float32 CPU
// matrix `A`, which is destroyed. Only the upper triangle of the result is meaningful. Throws
// InputError naming `module` when A is not positive definite.
at::Tensor upper_cholesky_of_inverse(at::Tensor A, const std::string& module);

}  // namespace bitscape::detail

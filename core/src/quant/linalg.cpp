// The upper Cholesky factor of a matrix inverse, in place (linalg.h). With J the order reversal
// and L L^T = J A J, A = (J L J)(J L J)^T with J L J upper triangular, so the upper Cholesky
// factor of A^-1 is (J L J)^-1 = J L^-1 J: one Cholesky and one triangular inverse.
#include "quant/linalg.h"

#include <dlfcn.h>

#include <algorithm>

#include "bitscape/error.h"

namespace bitscape::detail {

namespace {

// LAPACK's Cholesky factorisation and triangular inverse, when the BLAS/LAPACK that LibTorch
// loaded exports them (Debian's LibTorch uses the system LAPACK, OpenBLAS here).
using PotrfFn = void (*)(const char*, const int*, float*, const int*, int*);
using TrtriFn = void (*)(const char*, const char*, const int*, float*, const int*, int*);
PotrfFn lapack_spotrf() {
  static PotrfFn fn = reinterpret_cast<PotrfFn>(dlsym(RTLD_DEFAULT, "spotrf_"));
  return fn;
}
TrtriFn lapack_strtri() {
  static TrtriFn fn = reinterpret_cast<TrtriFn>(dlsym(RTLD_DEFAULT, "strtri_"));
  return fn;
}

// Reverses the order of rows and columns of a square row-major matrix in place: element (i, j)
// goes to (n-1-i, n-1-j), which is reversing the flat array.
void reverse_rows_and_columns(at::Tensor& A) {
  float* p = A.data_ptr<float>();
  std::reverse(p, p + A.numel());
}

}  // namespace

at::Tensor upper_cholesky_of_inverse(at::Tensor A, const std::string& name) {
  const int n = static_cast<int>(A.size(0));
  PotrfFn potrf = lapack_spotrf();
  TrtriFn trtri = lapack_strtri();
  reverse_rows_and_columns(A);
  if (potrf && trtri && n > 0) {
    // Row-major A seen column-major is A^T = A; potrf('U') gives A = Uc^T Uc, i.e. the row-major
    // buffer holds L = Uc^T (lower); trtri('U') then leaves Uc^-1, i.e. L^-1 row-major.
    const char uplo = 'U', diag = 'N';
    int info = 0;
    potrf(&uplo, &n, A.data_ptr<float>(), &n, &info);
    if (info != 0)
      throw InputError("", "module " + name +
                               ": the Hessian is not positive definite even after dampening");
    trtri(&uplo, &diag, &n, A.data_ptr<float>(), &n, &info);
    if (info != 0) throw InputError("", "module " + name + ": the Hessian's factor is singular");
  } else {
    auto [L, info] = at::linalg_cholesky_ex(A);
    if (info.item<int64_t>() != 0)
      throw InputError("", "module " + name +
                               ": the Hessian is not positive definite even after dampening");
    A = std::get<0>(at::triangular_solve(at::eye(n, A.options()), L, /*upper=*/false)).contiguous();
  }
  reverse_rows_and_columns(A);
  return A;
}

}  // namespace bitscape::detail

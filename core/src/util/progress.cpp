// The process-wide cancel token (progress.h).
#include "bitscape/progress.h"

namespace bitscape {

const CancelToken& process_cancel_token() {
  static const CancelToken token;
  return token;
}

}  // namespace bitscape

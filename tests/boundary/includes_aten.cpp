// Must not compile in a LibTorch-free target (tests/CMakeLists.txt: BoundaryTest).
#include <ATen/ATen.h>
int main() { return 0; }

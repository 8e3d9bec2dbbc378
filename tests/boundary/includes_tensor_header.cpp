// A tensor-facing core header: must not compile in a LibTorch-free target (BoundaryTest).
#include "bitscape/model.h"
int main() { return 0; }

// Process-wide runtime settings shared by the CLI and the GUI. Plain-value header.
#pragma once

namespace bitscape {

// Sets LibTorch's intra-op thread count; 0 means OMP_NUM_THREADS when set, else one per available
// core (LibTorch's own default counts physical cores and picked 1 on the 2-vCPU development
// machine). Returns the count set.
int configure_threads(int requested);

// LibTorch's OpenMP threads spin-wait between parallel regions by default, and OpenBLAS's
// threads spin too: on a machine with few cores (or busy with other work) the two starve each
// other, and a forward pass ran 15-20x slower here than with OMP_WAIT_POLICY=PASSIVE. The OpenMP
// runtime reads that variable only when it is loaded, so a front end calls this first thing in
// main(): when the variable is unset it sets it and re-executes the program (same argv).
void reexec_with_passive_openmp(char** argv);

// glibc's malloc returns large freed blocks to the kernel (mmap/trim), so every activation
// tensor of a forward pass is page-faulted in anew: elementwise ops on 1-6 MB tensors ran 4-8x
// slower here than with the memory kept. Raises the mmap threshold to its 32 MiB maximum and
// keeps up to 512 MiB of freed heap. The front ends call it first thing in main().
void keep_freed_memory_for_reuse();

}  // namespace bitscape

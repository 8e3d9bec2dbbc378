# The LibTorch-free boundary as a build rule. LibTorch may be installed in a system include
# directory (Debian's libtorch-dev puts ATen/, c10/ and torch/ in /usr/include), where any target
# could include it. bitscape_no_libtorch(target) puts a guard directory first on the target's
# include path: it mirrors every LibTorch header name with a stub that stops the compilation, so
# a source of that target that includes a LibTorch header, directly or through a tensor-facing
# core header, fails to build with a message that names the rule.
set(BITSCAPE_NO_TORCH_DIR ${CMAKE_BINARY_DIR}/no-libtorch/include)

function(bitscape_make_libtorch_guard)
  set(names)
  foreach(dir IN LISTS TORCH_INCLUDE_DIRS)
    foreach(top ATen c10 torch caffe2)
      if(IS_DIRECTORY ${dir}/${top})
        file(GLOB_RECURSE found RELATIVE ${dir} ${dir}/${top}/*.h ${dir}/${top}/*.hpp
             ${dir}/${top}/*.cuh)
        list(APPEND names ${found})
      endif()
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES names)
  list(SORT names)
  string(SHA1 stamp "${names}")
  set(stamp_file ${BITSCAPE_NO_TORCH_DIR}/.stamp)
  if(EXISTS ${stamp_file})
    file(READ ${stamp_file} old)
    if(old STREQUAL stamp)
      return()
    endif()
  endif()
  file(REMOVE_RECURSE ${BITSCAPE_NO_TORCH_DIR})
  list(LENGTH names count)
  foreach(name IN LISTS names)
    file(WRITE ${BITSCAPE_NO_TORCH_DIR}/${name}
         "#error \"LibTorch header <${name}> included in LibTorch-free code (bitscape_base, widgets, the workbench's Qt side): use core's plain-value headers\"\n")
  endforeach()
  file(WRITE ${stamp_file} "${stamp}")
  message(STATUS "Bitscape: LibTorch guard for the LibTorch-free targets (${count} header names)")
endfunction()
bitscape_make_libtorch_guard()

function(bitscape_no_libtorch target)
  target_include_directories(${target} BEFORE PRIVATE ${BITSCAPE_NO_TORCH_DIR})
endfunction()

# The CPU GEMM library (MHC_CPU_BLAS): an INTERFACE target mhc_cpu_blas with its header and libraries, and the
# source file in ops/cpu/blas/ that implements ops::cpu::blas for it. Chosen by measurement: docs/performance.md.
set(MHC_CPU_BLAS "onednn" CACHE STRING
    "CPU GEMM library: onednn (default), openblas-openmp, openblas-pthread, blis-openmp, mkl (MKL_ROOT: a prefix with include/mkl.h, e.g. a venv with PyPI mkl-devel), none")
set_property(CACHE MHC_CPU_BLAS PROPERTY STRINGS onednn openblas-openmp openblas-pthread blis-openmp mkl none)

add_library(mhc_cpu_blas INTERFACE)
set(_arch_lib /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE})
set(_arch_inc /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})

# _mhc_blas_find(header library variant): header dir and library of a Debian multiarch variant, on mhc_cpu_blas.
function(_mhc_blas_find header library variant)
  string(MAKE_C_IDENTIFIER ${variant} _id)  # cache entries per variant: switching MHC_CPU_BLAS re-finds
  find_path(MHC_${_id}_INCLUDE_DIR ${header} PATHS ${_arch_inc}/${variant} NO_DEFAULT_PATH)
  find_library(MHC_${_id}_LIBRARY NAMES ${library} PATHS ${_arch_lib}/${variant} NO_DEFAULT_PATH)
  if(NOT MHC_${_id}_INCLUDE_DIR OR NOT MHC_${_id}_LIBRARY)
    message(FATAL_ERROR "MHC_CPU_BLAS=${MHC_CPU_BLAS}: ${header} or lib${library} not found under "
                        "${_arch_inc}/${variant} and ${_arch_lib}/${variant} (install the Debian package)")
  endif()
  target_include_directories(mhc_cpu_blas INTERFACE ${MHC_${_id}_INCLUDE_DIR})
  target_link_libraries(mhc_cpu_blas INTERFACE ${MHC_${_id}_LIBRARY})
endfunction()

if(MHC_CPU_BLAS STREQUAL "openblas-openmp")
  _mhc_blas_find(cblas.h openblas openblas-openmp)  # libopenblas-openmp-dev
  set(MHC_CPU_BLAS_SOURCE ops/cpu/blas/openblas.cpp)
elseif(MHC_CPU_BLAS STREQUAL "openblas-pthread")
  _mhc_blas_find(cblas.h openblas openblas-pthread)  # libopenblas-pthread-dev
  set(MHC_CPU_BLAS_SOURCE ops/cpu/blas/openblas.cpp)
elseif(MHC_CPU_BLAS STREQUAL "blis-openmp")
  _mhc_blas_find(blis.h blis blis-openmp)  # libblis-openmp-dev
  set(MHC_CPU_BLAS_SOURCE ops/cpu/blas/blis.cpp)
elseif(MHC_CPU_BLAS STREQUAL "mkl")
  # PyPI's mkl-devel ships versioned libraries only (libmkl_core.so.N); link the LP64 interface, the GNU OpenMP
  # threading layer (libgomp, the runtime our own loops use) and the core by file name.
  set(MKL_ROOT "$ENV{MKL_ROOT}" CACHE PATH "prefix holding include/mkl.h and lib/libmkl_core.so*")
  find_path(MHC_MKL_INCLUDE_DIR mkl.h HINTS ${MKL_ROOT} PATH_SUFFIXES include NO_DEFAULT_PATH)
  set(_mkl_libs "")
  foreach(_part intel_lp64 gnu_thread core)
    file(GLOB _found ${MKL_ROOT}/lib/libmkl_${_part}.so ${MKL_ROOT}/lib/libmkl_${_part}.so.?)
    if(NOT _found)
      message(FATAL_ERROR "MHC_CPU_BLAS=mkl: libmkl_${_part}.so* not found in MKL_ROOT/lib (MKL_ROOT='${MKL_ROOT}')")
    endif()
    list(GET _found 0 _lib)
    list(APPEND _mkl_libs ${_lib})
  endforeach()
  if(NOT MHC_MKL_INCLUDE_DIR)
    message(FATAL_ERROR "MHC_CPU_BLAS=mkl: mkl.h not found under MKL_ROOT/include (MKL_ROOT='${MKL_ROOT}')")
  endif()
  target_include_directories(mhc_cpu_blas INTERFACE ${MHC_MKL_INCLUDE_DIR})
  target_link_libraries(mhc_cpu_blas INTERFACE ${_mkl_libs})
  target_link_options(mhc_cpu_blas INTERFACE "LINKER:-rpath,${MKL_ROOT}/lib")
  set(MHC_CPU_BLAS_SOURCE ops/cpu/blas/mkl.cpp)
elseif(MHC_CPU_BLAS STREQUAL "onednn")
  find_path(MHC_ONEDNN_INCLUDE_DIR oneapi/dnnl/dnnl.h)  # libdnnl-dev
  find_library(MHC_ONEDNN_LIBRARY dnnl)
  if(NOT MHC_ONEDNN_INCLUDE_DIR OR NOT MHC_ONEDNN_LIBRARY)
    message(FATAL_ERROR "MHC_CPU_BLAS=onednn: oneapi/dnnl/dnnl.h or libdnnl not found (install libdnnl-dev)")
  endif()
  target_include_directories(mhc_cpu_blas INTERFACE ${MHC_ONEDNN_INCLUDE_DIR})
  target_link_libraries(mhc_cpu_blas INTERFACE ${MHC_ONEDNN_LIBRARY})
  set(MHC_CPU_BLAS_SOURCE ops/cpu/blas/onednn.cpp)
elseif(MHC_CPU_BLAS STREQUAL "none")
  set(MHC_CPU_BLAS_SOURCE ops/cpu/blas/reference.cpp)
  message(WARNING "mhc: MHC_CPU_BLAS=none: the CPU matmul is a slow reference loop")
else()
  message(FATAL_ERROR "MHC_CPU_BLAS='${MHC_CPU_BLAS}' is not one of openblas-openmp, openblas-pthread, blis-openmp, "
                      "mkl, onednn, none")
endif()
message(STATUS "mhc: CPU GEMM library ${MHC_CPU_BLAS} (${MHC_CPU_BLAS_SOURCE})")

# Cross-compiling TriX for aarch64 Linux with Debian's g++-aarch64-linux-gnu.
#
# The target libraries (Highway, GoogleTest) come from the arm64 .debs
# unpacked into a private folder, TRIX_AARCH64_SYSROOT (tests/aarch64/run.sh
# makes one under its build dir): installing libhwy-dev:arm64 next to the
# amd64 package would make dpkg juggle two copies of the same headers on a
# shared machine, and the unpacked folder needs no foreign architecture. The
# C/C++ runtime comes from the cross compiler's own /usr/aarch64-linux-gnu.
#
# Test binaries run through qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR, so
# ctest works as usual); pick the emulated CPU with the QEMU_CPU environment
# variable, e.g. QEMU_CPU=max,sve=off (NEON) or QEMU_CPU=max,sve512=on.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

# TRIX_AARCH64_COMPILER=clang (cache or environment) builds with clang
# --target=aarch64-linux-gnu instead, on the same sysroot and C++ runtime.
if(NOT TRIX_AARCH64_COMPILER AND DEFINED ENV{TRIX_AARCH64_COMPILER})
  set(TRIX_AARCH64_COMPILER "$ENV{TRIX_AARCH64_COMPILER}")
endif()
set(TRIX_AARCH64_COMPILER "${TRIX_AARCH64_COMPILER}" CACHE STRING "gcc (default) or clang")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TRIX_AARCH64_COMPILER)
if(TRIX_AARCH64_COMPILER STREQUAL "clang")
  set(CMAKE_C_COMPILER clang)
  set(CMAKE_CXX_COMPILER clang++)
  set(CMAKE_C_COMPILER_TARGET aarch64-linux-gnu)
  set(CMAKE_CXX_COMPILER_TARGET aarch64-linux-gnu)
else()
  set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
  set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
endif()

if(NOT TRIX_AARCH64_SYSROOT AND DEFINED ENV{TRIX_AARCH64_SYSROOT})
  set(TRIX_AARCH64_SYSROOT "$ENV{TRIX_AARCH64_SYSROOT}")
endif()
set(TRIX_AARCH64_SYSROOT "${TRIX_AARCH64_SYSROOT}" CACHE PATH
    "Folder holding the unpacked arm64 libhwy/libgtest packages (usr/include, usr/lib/aarch64-linux-gnu)")
# try_compile projects re-read this file: hand them the folder too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TRIX_AARCH64_SYSROOT)

set(CMAKE_FIND_ROOT_PATH "${TRIX_AARCH64_SYSROOT}" /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(TRIX_QEMU_AARCH64 qemu-aarch64)
if(TRIX_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${TRIX_QEMU_AARCH64};-L;/usr/aarch64-linux-gnu")
endif()

# Debian's aarch64 g++ 12.2 hits an internal compiler error at -O3
# (vect_transform_reduction, tree-vect-loop.cc:7457) on the double fmax
# reduction of trix::quantize_i2_s; -O2 vectorises with a cheaper cost model
# and compiles it.
set(CMAKE_CXX_FLAGS_RELEASE "-O2 -DNDEBUG" CACHE STRING "Release flags (-O2: see the toolchain file)")

# GCC contracts a * b + c into one fused multiply-add by default in C++
# (-ffp-contract=fast), and every aarch64 CPU has FMA, so the scalar
# references (trix::rope_apply, the K-quant quantizers) would round
# differently from the x86-64 baseline, which has no FMA to contract to.
# The references' contracts are written unfused; fused steps are explicit
# (std::fma, Highway MulAdd) and unaffected.
set(CMAKE_CXX_FLAGS_INIT "-ffp-contract=off")

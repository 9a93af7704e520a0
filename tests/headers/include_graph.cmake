# Include-graph check (cmake -P): no header under include/trix/{io,text,
# convert} may reach a kernel: every file the compiler's dependency output
# (-M, system headers included, so Highway shows) lists for such a header
# must lie outside trix/cpu/, trix/kernels/, trix/cuda/ (hand-written or
# generated) and hwy/. File converters, tokenizers and readers then never
# recompile kernels.
#
# Variables: CXX (compiler), ROOT (repository), INCLUDE_DIRS (;-separated),
# DIRS (;-separated folders under ROOT/include/trix to check, default
# io;text;convert), EXTRA_HEADERS (;-separated more headers to check; the
# test's own self-check passes a bad one and expects failure).
if(NOT DIRS)
  set(DIRS io text convert)
endif()
set(headers ${EXTRA_HEADERS})
foreach(d ${DIRS})
  file(GLOB found ${ROOT}/include/trix/${d}/*.h)
  list(APPEND headers ${found})
endforeach()
list(LENGTH headers n)
if(n EQUAL 0)
  message(FATAL_ERROR "include_graph: no headers found under ${ROOT}/include/trix/{${DIRS}}")
endif()
set(flags -std=c++20 -M -x c++)
foreach(dir ${INCLUDE_DIRS})
  list(APPEND flags -I${dir})
endforeach()
set(bad "")
foreach(h ${headers})
  execute_process(COMMAND ${CXX} ${flags} ${h} OUTPUT_VARIABLE deps ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "include_graph: ${CXX} -M ${h} failed:\n${err}")
  endif()
  string(REGEX REPLACE "[ \t\r\n\\\\]+" ";" deps "${deps}")
  foreach(dep ${deps})
    if(dep MATCHES "/trix/(cpu|kernels|cuda)/|/hwy/")
      string(APPEND bad "  ${h} -> ${dep}\n")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "include_graph: io/, text/ and convert/ headers must not include kernels:\n${bad}")
endif()
message(STATUS "include_graph: ${n} headers, none reaches a kernel")

# trix_add_cpu_library(<target> <implementation.cc> <headers target>)
#
# The static library that compiles TriX's CPU kernels for every Highway
# target once per program (trix/cpu/implementation.h), using <headers
# target> (trix_headers in the build tree, the imported trix::headers in a
# project using the installed package, whose include directories are then
# system ones: the user's warning flags do not apply to our code). Every
# other translation unit sees declarations only; trix::trix links this.
function(trix_add_cpu_library target source headers)
  add_library(${target} STATIC ${source})
  target_link_libraries(${target} PUBLIC ${headers})
endfunction()

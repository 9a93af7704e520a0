# trix_add_cpu_library(<target> <implementation.cc> <headers target>)
#
# The static library that compiles TriX's CPU kernels for every Highway
# target once per program (trix/cpu/implementation.h), with the include
# directories and definitions of <headers target> (trix in the build tree,
# the imported trix::trix in a project using the installed package). Every
# other translation unit sees declarations only; trix::trix links this.
function(trix_add_cpu_library target source headers)
  add_library(${target} STATIC ${source})
  # An installed package's headers are system headers to its user (as they
  # are for every other target using trix::trix): the user's warning flags
  # do not apply to our code.
  get_target_property(imported ${headers} IMPORTED)
  set(system)
  if(imported)
    set(system SYSTEM)
  endif()
  target_include_directories(${target} ${system} PRIVATE
    $<TARGET_PROPERTY:${headers},INTERFACE_INCLUDE_DIRECTORIES>)
  target_compile_definitions(${target} PRIVATE
    $<TARGET_PROPERTY:${headers},INTERFACE_COMPILE_DEFINITIONS>)
  target_compile_features(${target} PRIVATE cxx_std_20)
  target_link_libraries(${target} PUBLIC hwy::hwy)
endfunction()

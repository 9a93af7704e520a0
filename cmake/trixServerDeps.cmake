# Finds what trix-server needs (cpp-httplib through pkg-config, nlohmann-json
# through its CMake package; Debian: libcpp-httplib-dev, nlohmann-json3-dev)
# and sets TRIX_HAVE_SERVER_DEPS. Included once by the top-level CMakeLists,
# before tests/ and examples/, which both read the result.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(TRIX_HTTPLIB QUIET IMPORTED_TARGET GLOBAL cpp-httplib)
endif()
find_package(nlohmann_json 3 QUIET CONFIG GLOBAL)
if(TRIX_HTTPLIB_FOUND AND nlohmann_json_FOUND)
  set(TRIX_HAVE_SERVER_DEPS ON)
else()
  set(TRIX_HAVE_SERVER_DEPS OFF)
  message(STATUS "trix-server: not built (needs libcpp-httplib-dev and nlohmann-json3-dev; "
                 "run cmake/install-deps.sh)")
endif()

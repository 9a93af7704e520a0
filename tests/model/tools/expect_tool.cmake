# Runs a command-line tool and checks how it ends.
#   cmake -DTOOL=<exe> -DARGS=<;-list> [-DEXPECT_RC=nonzero|usage|0]
#         [-DEXPECT_ERR=<substring of the one stderr line>]
#         [-DEXPECT_OUT=<substring of stdout>] [-DENV=<;-list of K=V>]
#         [-DMAKER=<make_bad_gguf> -DKIND=<kind> -DFILE=<path>]
#         [-DFRESH_DIR=<folder emptied first>] [-DMKFIFO=<path made a FIFO first>]
#         [-DEMPTY_LAST_ARG=ON] [-DTIMEOUT=<seconds>] -P expect_tool.cmake
# EXPECT_RC=usage: exit code 2, one 'error: ...' line, then the usage text.
# EMPTY_LAST_ARG passes '' after ARGS (a CMake list cannot carry an empty
# argument). TIMEOUT kills a tool that hangs, which then fails the test.
# With MAKER, the bad file is written first and its expected error text
# (printed by the maker) becomes EXPECT_ERR.
# With -DREQUIRE_SHARED=<path under the shared dir> [-DSHARED_DIR=<default>]
# the test needs ../shared data ($ENV{TRIX_SHARED_DIR} overrides SHARED_DIR,
# as in the tools): when it is missing the script prints
# TRIX_SKIP_MISSING_SHARED_DATA (register the test with that as its
# SKIP_REGULAR_EXPRESSION) and stops, except under CI=true, where it fails.
if(REQUIRE_SHARED)
  if(DEFINED ENV{TRIX_SHARED_DIR} AND NOT "$ENV{TRIX_SHARED_DIR}" STREQUAL "")
    set(SHARED_DIR "$ENV{TRIX_SHARED_DIR}")
  endif()
  if(NOT EXISTS "${SHARED_DIR}/${REQUIRE_SHARED}")
    if("$ENV{CI}" STREQUAL "true")
      message(FATAL_ERROR "missing shared data ${SHARED_DIR}/${REQUIRE_SHARED} (CI must have ../shared)")
    endif()
    message("TRIX_SKIP_MISSING_SHARED_DATA: ${SHARED_DIR}/${REQUIRE_SHARED} not found "
            "(set TRIX_SHARED_DIR to the folder holding models/ and testdata/)")
    return()
  endif()
endif()
if(FRESH_DIR)
  file(REMOVE_RECURSE ${FRESH_DIR})
  file(MAKE_DIRECTORY ${FRESH_DIR})
endif()
if(MKFIFO)
  file(REMOVE ${MKFIFO})
  execute_process(COMMAND mkfifo ${MKFIFO} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "mkfifo ${MKFIFO} failed")
  endif()
endif()
if(MAKER)
  execute_process(COMMAND ${MAKER} ${KIND} ${FILE} RESULT_VARIABLE rc OUTPUT_VARIABLE expect
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "make_bad_gguf ${KIND} failed: ${err}")
  endif()
  string(STRIP "${expect}" EXPECT_ERR)
  set(EXPECT_RC nonzero)
endif()
if(ENV)
  set(run ${CMAKE_COMMAND} -E env ${ENV} ${TOOL} ${ARGS})
else()
  set(run ${TOOL} ${ARGS})
endif()
if(NOT TIMEOUT)
  set(TIMEOUT 1800)
endif()
if(EMPTY_LAST_ARG)
  execute_process(COMMAND ${run} "" TIMEOUT ${TIMEOUT}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
else()
  execute_process(COMMAND ${run} TIMEOUT ${TIMEOUT}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
endif()
if(EXPECT_RC STREQUAL "nonzero")
  if(rc EQUAL 0 OR NOT rc MATCHES "^[0-9]+$")
    message(FATAL_ERROR "expected a non-zero exit code, got '${rc}'\nstdout: ${out}\nstderr: ${err}")
  endif()
  # One line, no crash report: exactly one newline, at the end.
  string(REGEX MATCHALL "\n" newlines "${err}")
  list(LENGTH newlines n_lines)
  if(NOT n_lines EQUAL 1 OR NOT err MATCHES "^error: ")
    message(FATAL_ERROR "expected one 'error: ...' line on stderr, got ${n_lines} lines:\n${err}")
  endif()
elseif(EXPECT_RC STREQUAL "usage")
  if(NOT rc EQUAL 2 OR NOT err MATCHES "^error: [^\n]*\nusage: ")
    message(FATAL_ERROR "expected exit code 2, one 'error: ...' line and the usage, got '${rc}'\n"
                        "stdout: ${out}\nstderr: ${err}")
  endif()
else()
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "expected exit code 0, got '${rc}'\nstdout: ${out}\nstderr: ${err}")
  endif()
endif()
function(expect_contains stream text want)
  string(FIND "${text}" "${want}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${stream} lacks '${want}':\n${text}")
  endif()
endfunction()
if(EXPECT_ERR)
  expect_contains(stderr "${err}" "${EXPECT_ERR}")
endif()
if(EXPECT_OUT)
  expect_contains(stdout "${out}" "${EXPECT_OUT}")
endif()

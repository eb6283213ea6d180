# A listed source that is missing fails the configure, naming the file and
# its list (cmake/rv_require.cmake). Run as
#   cmake -DSRC=<source tree> -DWORK=<scratch dir> -DGEN=<generator> -P configure_missing.cmake
# For each case, copies the tree (without build directories or .git) to
# WORK, removes one listed file and configures the copy (control plane off:
# not needed by these lists): a source of the data plane's library, and a
# unit test source (which the old if(EXISTS) guards skipped silently).
foreach(v SRC WORK GEN)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "configure_missing.cmake: -D${v}=... is required")
  endif()
endforeach()
# <removed file>|<the list naming it>
set(cases "dataplane/tcp_io.c|dataplane/CMakeLists.txt"
          "tests/unit/test_payload.c|tests/unit/CMakeLists.txt")
foreach(c ${cases})
  string(REPLACE "|" ";" c "${c}")
  list(GET c 0 missing)
  list(GET c 1 lists)
  set(tree ${WORK}/tree)

  file(REMOVE_RECURSE ${WORK})
  file(MAKE_DIRECTORY ${tree})
  file(GLOB entries LIST_DIRECTORIES true RELATIVE ${SRC} ${SRC}/*)
  foreach(e ${entries})
    if(e MATCHES "^\\." OR EXISTS ${SRC}/${e}/CMakeCache.txt)
      continue() # .git, build directories
    endif()
    file(COPY ${SRC}/${e} DESTINATION ${tree})
  endforeach()
  if(NOT EXISTS ${tree}/${missing})
    message(FATAL_ERROR "FAIL: ${missing} is not in the tree any more: pick another listed source")
  endif()
  file(REMOVE ${tree}/${missing})

  execute_process(
    COMMAND ${CMAKE_COMMAND} -S ${tree} -B ${WORK}/build -G ${GEN} -DRV_WITH_CONTROL=OFF
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  file(REMOVE_RECURSE ${WORK})
  if(rc EQUAL 0)
    message(FATAL_ERROR "FAIL: configure succeeded without ${missing}:\n${out}${err}")
  endif()
  string(REGEX REPLACE "[ \t\r\n]+" " " flat "${err}") # CMake wraps messages
  if(NOT flat MATCHES "missing file\\(s\\) listed in ${lists}: ${missing}")
    message(FATAL_ERROR "FAIL: configure failed, but not naming ${missing} and its list:\n${err}")
  endif()
  message(STATUS "ok: configure without ${missing} fails, naming it and ${lists}")
endforeach()

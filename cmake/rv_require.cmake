# rv_require_sources(<file>...): stop configuring, naming every missing file
# and the list that names it, when a listed source, test or script does not
# exist. CMake itself would skip a missing test script silently and report a
# missing source only at generate time, without saying which list holds it.
# Relative paths are taken from the calling CMakeLists.txt's directory.
function(rv_require_sources)
  set(missing)
  foreach(f IN LISTS ARGN)
    if(IS_ABSOLUTE "${f}")
      set(p "${f}")
    else()
      set(p "${CMAKE_CURRENT_SOURCE_DIR}/${f}")
    endif()
    if(NOT EXISTS "${p}")
      file(RELATIVE_PATH rel "${PROJECT_SOURCE_DIR}" "${p}")
      list(APPEND missing "${rel}")
    endif()
  endforeach()
  if(missing)
    file(RELATIVE_PATH lists "${PROJECT_SOURCE_DIR}" "${CMAKE_CURRENT_LIST_FILE}")
    list(JOIN missing ", " m)
    message(FATAL_ERROR "missing file(s) listed in ${lists}: ${m}\n"
                        "Restore the file(s) or take them out of the list.")
  endif()
endfunction()

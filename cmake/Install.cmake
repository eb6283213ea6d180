# What `cmake --install` and the .debs (cmake/Package.cmake) install. Every
# program goes to ${CMAKE_INSTALL_BINDIR}; the systemd units are written at
# install time with ExecStart= pointing there, so the units match the
# binaries whatever the prefix (/usr for the .debs, /usr/local by default).
#
# Components = packages: server (control plane, data plane, dpctl),
# client (roomvpn), bench (roomvpn-loadgen).
set(RV_SERVER_PROGRAMS)
if(TARGET roomvpn-control)
  list(APPEND RV_SERVER_PROGRAMS roomvpn-control)
endif()
if(TARGET roomvpn-dataplane)
  list(APPEND RV_SERVER_PROGRAMS roomvpn-dataplane roomvpn-dpctl)
endif()
set(RV_CLIENT_PROGRAMS roomvpn_cli)
set(RV_BENCH_PROGRAMS)
if(TARGET roomvpn-loadgen)
  list(APPEND RV_BENCH_PROGRAMS roomvpn-loadgen)
endif()

foreach(comp server client bench)
  string(TOUPPER ${comp} C)
  if(RV_${C}_PROGRAMS)
    install(TARGETS ${RV_${C}_PROGRAMS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT ${comp})
  endif()
endforeach()

# Man pages: help2man from each program's --help and --version (packaging/man.cmake).
find_program(HELP2MAN help2man)
set(RV_MAN_PAGES)
function(rv_man_page target name summary comp)
  if(NOT HELP2MAN OR NOT TARGET ${target})
    return()
  endif()
  set(out ${PROJECT_BINARY_DIR}/man/${name}.1.gz)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DHELP2MAN=${HELP2MAN} -DPROGRAM=$<TARGET_FILE:${target}>
      -DNAME=${name} -DSUMMARY=${summary} -DOUT=${out} -P ${PROJECT_SOURCE_DIR}/packaging/man.cmake
    DEPENDS ${target} ${PROJECT_SOURCE_DIR}/packaging/man.cmake VERBATIM)
  set_property(GLOBAL APPEND PROPERTY RV_MAN_PAGES ${out})
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT ${comp})
endfunction()
rv_man_page(roomvpn-control roomvpn-control "roomvpn control plane (gRPC over TLS)" server)
rv_man_page(roomvpn-dataplane roomvpn-dataplane "roomvpn data plane (DPDK relay)" server)
rv_man_page(roomvpn-dpctl roomvpn-dpctl "inspect and drive the roomvpn data plane's agent socket" server)
rv_man_page(roomvpn_cli roomvpn "roomvpn client: log in, manage rooms, bring a room's tunnel up" client)
rv_man_page(roomvpn-loadgen roomvpn-loadgen "DPDK load generator for the roomvpn data plane" bench)
get_property(rv_man_outputs GLOBAL PROPERTY RV_MAN_PAGES)
if(HELP2MAN)
  add_custom_target(rv_man ALL DEPENDS ${rv_man_outputs})
else()
  message(STATUS "help2man not found: no man pages (scripts/setup.sh installs it)")
endif()

# systemd units, configured at install time (see the top of this file).
set(RV_UNITS_server roomvpn-control.service roomvpn-dataplane.service)
set(RV_UNITS_client roomvpn@.service)
foreach(comp server client)
  foreach(unit ${RV_UNITS_${comp}})
    install(CODE "
      set(prefix \"\${CMAKE_INSTALL_PREFIX}\")
      set(RV_BINDIR \"\${prefix}/${CMAKE_INSTALL_BINDIR}\")
      if(prefix STREQUAL \"/usr\")
        set(unitdir /lib/systemd/system)
      else()
        set(unitdir \"\${prefix}/lib/systemd/system\")
      endif()
      message(STATUS \"Installing: \$ENV{DESTDIR}\${unitdir}/${unit}\")
      configure_file(\"${PROJECT_SOURCE_DIR}/deploy/systemd/${unit}.in\"
        \"\$ENV{DESTDIR}\${unitdir}/${unit}\" @ONLY)
      file(CHMOD \"\$ENV{DESTDIR}\${unitdir}/${unit}\" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    " COMPONENT ${comp})
  endforeach()
endforeach()

# Documentation: copyright and changelog in every package, example configs
# and the deployment guide with the server.
foreach(comp server client bench)
  set(docdir ${CMAKE_INSTALL_DATAROOTDIR}/doc/roomvpn-${comp})
  install(FILES packaging/copyright DESTINATION ${docdir} COMPONENT ${comp})
  install(FILES ${PROJECT_BINARY_DIR}/packaging/changelog.gz DESTINATION ${docdir} COMPONENT ${comp})
endforeach()
install(FILES deploy/examples/control.conf deploy/examples/dataplane.conf deploy/examples/dataplane.env
  deploy/prometheus/alerts.yml deploy/grafana/roomvpn.json
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/roomvpn-server/examples COMPONENT server)
# Shell completion of the client (bash, zsh).
install(FILES client/completion/roomvpn.bash DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions
  RENAME roomvpn COMPONENT client)
install(FILES client/completion/_roomvpn DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/zsh/vendor-completions
  COMPONENT client)
install(FILES bench/loadgen/results_md.py
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/roomvpn-bench COMPONENT bench
  PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# changelog.gz: packaging/changelog (Debian format), compressed reproducibly.
file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/packaging)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/packaging/changelog.gz
  COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/packaging/changelog > ${PROJECT_BINARY_DIR}/packaging/changelog.gz
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/changelog)
add_custom_target(rv_changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog.gz)

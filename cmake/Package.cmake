# Debian packages with CPack: `cpack -G DEB` in the build directory (or the
# `package` target) writes roomvpn-server, roomvpn-client and roomvpn-bench
# .debs. Installed under /usr with the units in /lib/systemd/system.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME roomvpn)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "roomvpn")
set(CPACK_PACKAGE_CONTACT "roomvpn developers <roomvpn@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server client bench)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://roomvpn.example.org/")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME roomvpn-server)
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_SERVER_PACKAGE_RECOMMENDS "dpdk")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/packaging/server/postinst)
set(CPACK_COMPONENT_SERVER_DESCRIPTION "self-hosted room VPN: control plane and DPDK data plane
roomvpn-control serves accounts, rooms and tunnels over gRPC with TLS;
roomvpn-dataplane relays the rooms' OpenVPN-compatible data channel on
DPDK; roomvpn-dpctl inspects the data plane. Includes systemd units and
example configuration files.")

set(CPACK_DEBIAN_CLIENT_PACKAGE_NAME roomvpn-client)
set(CPACK_COMPONENT_CLIENT_DESCRIPTION "self-hosted room VPN: client
roomvpn logs in to a roomvpn server, manages rooms and brings a room's
tunnel up on this machine; roomvpn@ROOM.service does so at boot.")

set(CPACK_DEBIAN_BENCH_PACKAGE_NAME roomvpn-bench)
set(CPACK_DEBIAN_BENCH_PACKAGE_DEPENDS "python3")
set(CPACK_COMPONENT_BENCH_DESCRIPTION "self-hosted room VPN: load generator
roomvpn-loadgen offers traffic to a roomvpn data plane over DPDK and
reports throughput and loss (NDR/PDR searches); with a script that turns
its JSON results into Markdown tables.")

include(CPack)

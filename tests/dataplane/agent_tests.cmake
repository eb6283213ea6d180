# Agent, TCP fallback and roomvpn-dpctl tests (H6). Included from
# tests/dataplane/CMakeLists.txt. Label: dataplane.
find_package(Threads REQUIRED)
pkg_check_modules(RV_AGENT_URCU REQUIRED IMPORTED_TARGET liburcu-qsbr liburcu-cds)
pkg_check_modules(RV_AGENT_DPDK REQUIRED IMPORTED_TARGET libdpdk)
set(RV_DP_DIR ${PROJECT_SOURCE_DIR}/dataplane)

# The agent against the real session tables, without DPDK's packet path:
# built from sources so that it does not wait for the rest of rvdp.
add_executable(agent_unit agent_unit.c ${RV_DP_DIR}/agent.c ${RV_DP_DIR}/agent_apply.c ${RV_DP_DIR}/agent_trace.c ${RV_DP_DIR}/trace.c
               ${RV_DP_DIR}/session_table.c ${RV_DP_DIR}/room_table.c ${RV_DP_DIR}/session_keys.c ${RV_DP_DIR}/session_read.c ${RV_DP_DIR}/session_index.c ${RV_DP_DIR}/room_routes.c ${RV_DP_DIR}/room_routes6.c ${RV_DP_DIR}/acl.c ${RV_DP_DIR}/stats.c ${RV_DP_DIR}/tcp_fallback.c ${RV_DP_DIR}/tcp_setup.c)
target_link_libraries(agent_unit PRIVATE rvagent rvdpctl PkgConfig::CMOCKA PkgConfig::RV_AGENT_URCU
                      PkgConfig::RV_AGENT_DPDK Threads::Threads)
add_test(NAME agent_unit COMMAND agent_unit)
set_tests_properties(agent_unit PROPERTIES LABELS dataplane TIMEOUT 60)

# The agent's fencing (several control replicas): a process of its own, the
# fence it keeps is never taken back.
add_executable(agent_fence agent_fence.c ${RV_DP_DIR}/agent.c ${RV_DP_DIR}/agent_apply.c ${RV_DP_DIR}/agent_trace.c ${RV_DP_DIR}/trace.c
               ${RV_DP_DIR}/session_table.c ${RV_DP_DIR}/room_table.c ${RV_DP_DIR}/session_keys.c ${RV_DP_DIR}/session_read.c ${RV_DP_DIR}/session_index.c ${RV_DP_DIR}/room_routes.c ${RV_DP_DIR}/room_routes6.c ${RV_DP_DIR}/acl.c ${RV_DP_DIR}/stats.c ${RV_DP_DIR}/tcp_fallback.c ${RV_DP_DIR}/tcp_setup.c)
target_link_libraries(agent_fence PRIVATE rvagent PkgConfig::CMOCKA PkgConfig::RV_AGENT_URCU
                      PkgConfig::RV_AGENT_DPDK Threads::Threads)
target_include_directories(agent_fence PRIVATE ${RV_DP_DIR})
add_test(NAME agent_fence COMMAND agent_fence)
set_tests_properties(agent_fence PROPERTIES LABELS dataplane TIMEOUT 60)

# agent_host: the agent + tables in a plain process, for the dpctl tests.
add_executable(agent_host agent_host.c ${RV_DP_DIR}/agent.c ${RV_DP_DIR}/agent_apply.c ${RV_DP_DIR}/agent_trace.c ${RV_DP_DIR}/trace.c
               ${RV_DP_DIR}/session_table.c ${RV_DP_DIR}/room_table.c ${RV_DP_DIR}/session_keys.c ${RV_DP_DIR}/session_read.c ${RV_DP_DIR}/session_index.c ${RV_DP_DIR}/room_routes.c ${RV_DP_DIR}/room_routes6.c ${RV_DP_DIR}/acl.c ${RV_DP_DIR}/stats.c ${RV_DP_DIR}/tcp_fallback.c ${RV_DP_DIR}/tcp_setup.c)
target_include_directories(agent_host PRIVATE ${RV_DP_DIR})
target_link_libraries(agent_host PRIVATE rvagent PkgConfig::RV_AGENT_URCU PkgConfig::RV_AGENT_DPDK
                      Threads::Threads)

# roomvpn-dpctl end to end against the agent (agent_host, no DPDK).
add_test(NAME dpctl_agent COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/dpctl_agent.sh
         $<TARGET_FILE:roomvpn-dpctl> $<TARGET_FILE:agent_host>)
set_tests_properties(dpctl_agent PROPERTIES LABELS dataplane TIMEOUT 120)

# The TCP fallback thread in-process: TLS clients on loopback, a real rte_ring.
add_executable(agent_tcp_unit agent_tcp_unit.c ${RV_DP_DIR}/tcp_fallback.c ${RV_DP_DIR}/tcp_setup.c)
target_include_directories(agent_tcp_unit PRIVATE ${RV_DP_DIR})
target_link_libraries(agent_tcp_unit PRIVATE roomvpn PkgConfig::RV_AGENT_DPDK Threads::Threads)
add_test(NAME agent_tcp_unit COMMAND agent_tcp_unit)
set_tests_properties(agent_tcp_unit PROPERTIES LABELS dataplane TIMEOUT 120)

# The room's server address answering ping (dataplane/server_ip.c), with a
# fake worker clock: reply, refusals, rate bound.
add_executable(server_ip_test server_ip_test.c ${RV_DP_DIR}/server_ip.c)
target_include_directories(server_ip_test PRIVATE ${RV_DP_DIR})
target_link_libraries(server_ip_test PRIVATE roomvpn PkgConfig::RV_AGENT_DPDK
                      PkgConfig::RV_AGENT_URCU Threads::Threads)
add_test(NAME dataplane_server_ip COMMAND server_ip_test)
set_tests_properties(dataplane_server_ip PROPERTIES LABELS dataplane TIMEOUT 60)

# Outer IPv6 in process: neighbour discovery (dataplane/nd.c) and rx.c's
# IPv6 classification (no port; the control thread's output read from
# worker 0's inbox).
add_executable(nd_test nd_test.c)
target_link_libraries(nd_test PRIVATE rvdp)
add_test(NAME dataplane_nd COMMAND nd_test)
set_tests_properties(dataplane_nd PROPERTIES LABELS dataplane TIMEOUT 60)

# The same dpctl checks against the real roomvpn-dataplane (net_ring port).
add_test(NAME dpctl_dataplane COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/dpctl_agent.sh
         $<TARGET_FILE:roomvpn-dpctl> ${CMAKE_CURRENT_SOURCE_DIR}/agent_run_dataplane.sh
         $<TARGET_FILE:roomvpn-dataplane>)
set_tests_properties(dpctl_dataplane PROPERTIES LABELS dataplane TIMEOUT 180)

# A member over the TCP fallback (TLS) pings a member over UDP, in network
# namespaces (root); then moves back to UDP.
add_test(NAME tcp_member COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tcp_member.sh ${CMAKE_BINARY_DIR})
set_tests_properties(tcp_member PROPERTIES LABELS dataplane TIMEOUT 180 RUN_SERIAL TRUE)
# The TCP fallback while an attacker holds 1,000 connections (root):
# idle/slow connections shed, agent socket and a TCP member keep working.
add_test(NAME tcp_attack COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tcp_attack.sh ${CMAKE_BINARY_DIR})
set_tests_properties(tcp_attack PROPERTIES LABELS dataplane TIMEOUT 240 RUN_SERIAL TRUE)

# agent_bench: figures only (not a test): agent_bench SOCKET [N]
add_executable(agent_bench agent_bench.c)
target_link_libraries(agent_bench PRIVATE rvagent)

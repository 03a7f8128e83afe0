# `cmake --install`: headers, librapport_sdk, librapport (embedding), the rapport command,
# a CMake package (find_package(rapport) -> rapport::sdk, rapport::embed), pkg-config
# files (rapport, rapport-sdk), the SDK examples and the JSON Schemas of rapport/v1.
include(CMakePackageConfigHelpers)

install(TARGETS rapport_sdk rapport_embed EXPORT rapportTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS rapport RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS rapport_plugin_host RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/rapport)
install(DIRECTORY sdk/include/rapport DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY sdk/examples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/rapport/examples)
install(DIRECTORY sdk/schemas/ DESTINATION ${CMAKE_INSTALL_DATADIR}/rapport/schemas)
install(EXPORT rapportTargets NAMESPACE rapport::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/rapport)

configure_package_config_file(cmake/rapportConfig.cmake.in
  ${PROJECT_BINARY_DIR}/rapportConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/rapport)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/rapportConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/rapportConfig.cmake
              ${PROJECT_BINARY_DIR}/rapportConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/rapport)

foreach(pc rapport rapport-sdk)
  configure_file(cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

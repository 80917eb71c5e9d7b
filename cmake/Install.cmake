# `cmake --install` puts the executable, the core, the plugins, the SDK
# headers and a CMake package in place, so out-of-tree plugins build with
# find_package(vggt_lab) and one call of vggt_lab_add_plugin().
include(CMakePackageConfigHelpers)

install(TARGETS vggt_lab_core EXPORT vggt_labTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS vggt_lab_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY framework/include/vggt_lab DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")
install(DIRECTORY ${PROJECT_BINARY_DIR}/include/vggt_lab DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(VGGT_LAB_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vggt_lab)
install(EXPORT vggt_labTargets NAMESPACE vggt_lab:: DESTINATION ${VGGT_LAB_CMAKE_DIR})
configure_package_config_file(cmake/vggt_labConfig.cmake.in
  ${PROJECT_BINARY_DIR}/vggt_labConfig.cmake INSTALL_DESTINATION ${VGGT_LAB_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/vggt_labConfigVersion.cmake
  COMPATIBILITY ExactVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/vggt_labConfig.cmake
  ${PROJECT_BINARY_DIR}/vggt_labConfigVersion.cmake
  cmake/VggtLabPlugin.cmake
  cmake/plugin_exports.map
  DESTINATION ${VGGT_LAB_CMAKE_DIR})

# Installation and the CMake package, so another project can do
#   find_package(neural_arch REQUIRED)
#   target_link_libraries(app PRIVATE neural_arch::neural_arch)
# Included from the top-level CMakeLists.txt after the neural_arch target is defined.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NA_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/neural_arch
    CACHE STRING "Where neural_archConfig.cmake is installed, relative to the prefix")

install(TARGETS neural_arch
  EXPORT neural_archTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/neural_arch
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")
install(EXPORT neural_archTargets
  NAMESPACE neural_arch::
  DESTINATION ${NA_INSTALL_CMAKEDIR})

# oneDNN is a PRIVATE dependency. A shared libneural_arch carries it as a DT_NEEDED entry, but
# a static one (the default, BUILD_SHARED_LIBS off) leaves its symbols unresolved, so the
# exported target names DNNL::dnnl as a link-only dependency and the consumer must find it.
get_target_property(_na_library_type neural_arch TYPE)
if(_na_library_type STREQUAL "STATIC_LIBRARY")
  set(NA_CONFIG_NEEDS_DNNL ON)
else()
  set(NA_CONFIG_NEEDS_DNNL OFF)
endif()
unset(_na_library_type)

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/neural_archConfig.cmake.in
  ${PROJECT_BINARY_DIR}/neural_archConfig.cmake
  INSTALL_DESTINATION ${NA_INSTALL_CMAKEDIR})
# 0.x: a minor release may change the API, so only the same major.minor is compatible.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/neural_archConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/neural_archConfig.cmake
  ${PROJECT_BINARY_DIR}/neural_archConfigVersion.cmake
  DESTINATION ${NA_INSTALL_CMAKEDIR})

# cmake/install.cmake — what `cmake --install` puts under the prefix:
#   include/twill.h, include/twill.hpp       the C API and the C++17 adapter
#   lib/libtwill.so*, lib/libtwill.a         targets twill and twill_static
#   lib/cmake/twill/                         find_package(twill): twill::twill
#                                            (shared), twill::twill_static
#   lib/pkgconfig/twill.pc                   pkg-config --cflags --libs twill
# (lib is CMAKE_INSTALL_LIBDIR.)  Included from the top-level CMakeLists.txt
# after the library targets are defined.
#
# Only twill and twill_static are exported.  They take twill_objects' objects
# as sources, not as a link dependency, so the export set needs nothing else;
# the imported targets they link (PkgConfig::HWLOC, Threads::Threads) are
# recreated by twillConfig.cmake before the exported targets are loaded.

include(CMakePackageConfigHelpers)

set(TWILL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/twill)

install(TARGETS twill twill_static EXPORT twillTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${twill_SOURCE_DIR}/include/twill.h ${twill_SOURCE_DIR}/include/twill.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT twillTargets NAMESPACE twill:: DESTINATION ${TWILL_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/twillConfig.cmake.in
                              ${twill_BINARY_DIR}/twillConfig.cmake
                              INSTALL_DESTINATION ${TWILL_CMAKE_DIR})
# 0.x: a minor release may change the API, so only the same minor version matches.
write_basic_package_version_file(${twill_BINARY_DIR}/twillConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${twill_BINARY_DIR}/twillConfig.cmake ${twill_BINARY_DIR}/twillConfigVersion.cmake
        DESTINATION ${TWILL_CMAKE_DIR})

# twill.pc finds its prefix from its own location (${pcfiledir}), so it stays
# right under `cmake --install --prefix DIR`, which is chosen after configure.
# Absolute install directories cannot move: then the prefix is written as is.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(TWILL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(TWILL_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(TWILL_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _twill_pc_up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  string(REGEX REPLACE "/$" "" _twill_pc_up "${_twill_pc_up}")
  set(TWILL_PC_PREFIX "\${pcfiledir}/${_twill_pc_up}")
  set(TWILL_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(TWILL_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/twill.pc.in ${twill_BINARY_DIR}/twill.pc @ONLY)
install(FILES ${twill_BINARY_DIR}/twill.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The Debian package (`cmake --preset package && cmake --build --preset package &&
# (cd build/package && cpack -G DEB)`): the rapport command, the libraries, headers, the
# SDK, a `rapport` system user, /etc/rapport/rapport.yaml (a conffile) and a hardened
# systemd unit. Only with RAPPORT_PACKAGE (the package preset): the files under /etc are
# installed at absolute paths, which a `cmake --install --prefix` must not touch.
install(FILES deploy/debian/rapport.yaml DESTINATION /etc/rapport)
# /lib, not /usr/lib: bookworm's dpkg does not alias the two (DEP17).
install(FILES deploy/debian/rapport.service DESTINATION /lib/systemd/system)
install(FILES README.md deploy/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)

set(CPACK_PACKAGE_NAME rapport)
set(CPACK_PACKAGE_VENDOR "Rapport")
set(CPACK_PACKAGE_CONTACT "Rapport maintainers <rapport@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "networking actions for students on clinical rotations")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
# What the automatic scan sees (the libraries rapport links), and by hand what it cannot:
# adduser for the maintainer scripts, tzdata (zones are read from its files), procps (the
# unit reloads with /bin/kill -HUP), and the SOCI
# backends loaded at run time by SQL sources of those kinds (Recommends: a school uses one).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)  # the debug info stays in the build tree
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, tzdata, procps")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
    "libsoci-postgresql4.0, libsoci-mysql4.0, libsoci-odbc4.0")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/conffiles;${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/postinst;${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/prerm;${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

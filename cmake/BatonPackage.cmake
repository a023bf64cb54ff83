# BatonPackage.cmake - `cpack -G DEB` builds the Debian package `baton`
# from what BatonInstall.cmake installs, with prefix /usr.
#
# Depends: computed by dpkg-shlibdeps from the programs' libraries
# (libevent-2.1-7, libcurl4, libjansson4, libhiredis0.14, libssl3,
# libpcre2-8-0, libc6) when it is installed (dpkg-dev), else the same
# list written out.  /etc/baton/batond.conf and rules.conf are conffiles:
# dpkg never overwrites an operator's edits.  postinst creates the
# `baton` user (systemd-sysusers), gives /etc/baton to its group and
# reloads systemd; it neither enables nor starts batond.

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME baton)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "baton")
set(CPACK_PACKAGE_CONTACT "baton maintainers <baton@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "lead lifecycle daemon between marketing and sales tools")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "lead lifecycle daemon between marketing and sales tools
batond receives lead webhooks from marketing platforms and CRMs,
normalizes them into Redis streams, applies the MQL/SQL definitions
both teams agreed on, hands qualified leads to the CRM and brings
sales' feedback back to marketing. batonctl reads the streams.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "redis-server, systemd")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The DEB generator installs into its staging root as DESTDIR with this
# prefix, so install_config.cmake puts the configuration in /etc.  (Not
# CPACK_SET_DESTDIR: that would keep the build's own prefix.)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

find_program(BATON_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(BATON_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.34), libevent-2.1-7 (>= 2.1.8-stable), libcurl4 (>= 7.16.2), libjansson4 (>= 2.14), libhiredis0.14 (>= 0.14.0), libssl3 (>= 3.0.0), libpcre2-8-0 (>= 10.32)")
endif()

set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/cmake/debian/conffiles
  ${PROJECT_SOURCE_DIR}/cmake/debian/postinst
  ${PROJECT_SOURCE_DIR}/cmake/debian/prerm
  ${PROJECT_SOURCE_DIR}/cmake/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)

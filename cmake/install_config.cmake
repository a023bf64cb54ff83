# install_config.cmake - the install-time part of BatonInstall.cmake,
# run by `cmake --install` (and by cpack) with CMAKE_INSTALL_PREFIX as
# given then, BATON_SOURCE_DIR and BATON_BINARY_DIR set before it.
#
# - The unit and the tmpfiles.d file name /usr/sbin/batond and
#   /etc/baton; for another prefix they are rewritten to PREFIX/sbin and
#   PREFIX/etc/baton.
# - The example configuration is copied to the configuration directory
#   only when a file of that name is not there yet: an installation never
#   overwrites what an operator wrote.  (The Debian package starts from an
#   empty root, so it always carries them, as conffiles.)
# file(INSTALL) adds DESTDIR itself and records what it installs in
# install_manifest.txt.

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_etc "/etc")
else()
  set(_etc "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(_gen "${BATON_BINARY_DIR}/install-gen")
file(MAKE_DIRECTORY "${_gen}/skel/baton/connectors.d")

foreach(_f batond.service baton-tmpfiles.conf)
  file(READ "${BATON_SOURCE_DIR}/systemd/${_f}" _text)
  string(REPLACE "/usr/sbin/batond" "${CMAKE_INSTALL_PREFIX}/sbin/batond"
    _text "${_text}")
  string(REPLACE "/etc/baton" "${_etc}/baton" _text "${_text}")
  file(WRITE "${_gen}/${_f}" "${_text}")
endforeach()
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
  TYPE FILE FILES "${_gen}/batond.service")
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/tmpfiles.d"
  TYPE FILE RENAME baton.conf FILES "${_gen}/baton-tmpfiles.conf")

# /etc/baton and connectors.d: 0750 (the package's postinst gives them to
# group baton, as the tmpfiles.d file does at boot).
file(INSTALL DESTINATION "${_etc}" TYPE DIRECTORY
  DIR_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                  GROUP_READ GROUP_EXECUTE
  FILES "${_gen}/skel/baton")

foreach(_f batond.conf rules.conf)
  if(EXISTS "$ENV{DESTDIR}${_etc}/baton/${_f}")
    message(STATUS "Keeping: $ENV{DESTDIR}${_etc}/baton/${_f} "
      "(the shipped example is in share/doc/baton/examples)")
  else()
    file(INSTALL DESTINATION "${_etc}/baton" TYPE FILE
      PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
      FILES "${BATON_SOURCE_DIR}/conf/${_f}")
  endif()
endforeach()

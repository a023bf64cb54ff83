# BatonInstall.cmake - what `cmake --install` puts beside the two
# programs (daemon/CMakeLists.txt installs those to sbin and bin):
#
#   lib/systemd/system/batond.service   the unit (paths follow the prefix)
#   lib/sysusers.d/baton.conf           the `baton` system user
#   lib/tmpfiles.d/baton.conf           /etc/baton and connectors.d
#   share/man/man{1,5,8}/*.gz           batond(8) batonctl(1)
#                                       batond.conf(5) baton-rules(5)
#   share/doc/baton/examples/           batond.conf and rules.conf
#   /etc/baton/{batond,rules}.conf      the examples, only when absent
#
# The configuration directory is /etc/baton when the prefix is /usr (the
# Debian package, `--prefix /usr`), else PREFIX/etc/baton.  It is decided
# when installing, not when configuring, so `cmake --install --prefix`
# and DESTDIR both work; see cmake/install_config.cmake.

set(BATON_MAN_PAGES batond.8 batonctl.1 batond.conf.5 baton-rules.5)
find_program(BATON_GZIP gzip REQUIRED)
set(_baton_man_out)
foreach(page ${BATON_MAN_PAGES})
  set(_src ${PROJECT_SOURCE_DIR}/man/${page})
  set(_gz ${PROJECT_BINARY_DIR}/man/${page}.gz)
  # -n: no name or time stamp inside, so the package is reproducible.
  add_custom_command(OUTPUT ${_gz}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${BATON_GZIP} -9 -n -c ${_src} > ${_gz}
    DEPENDS ${_src}
    COMMENT "Compressing man page ${page}"
    VERBATIM)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" _section ${page})
  install(FILES ${_gz} DESTINATION share/man/man${_section})
  list(APPEND _baton_man_out ${_gz})
endforeach()
add_custom_target(baton_man ALL DEPENDS ${_baton_man_out})

install(FILES ${PROJECT_SOURCE_DIR}/systemd/baton.conf
  DESTINATION lib/sysusers.d)
install(FILES ${PROJECT_SOURCE_DIR}/conf/batond.conf
  ${PROJECT_SOURCE_DIR}/conf/rules.conf
  DESTINATION share/doc/baton/examples)

# The unit, the tmpfiles.d file and /etc/baton: written at install time.
install(CODE "set(BATON_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
set(BATON_BINARY_DIR \"${PROJECT_BINARY_DIR}\")")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/install_config.cmake)

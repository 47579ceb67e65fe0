# SpoolPackage.cmake - `make package`: a Debian package built by CPack from the install
# rules (docs/operations.md).
#
# The default install (`make install`, `cmake --install`) puts the binary, the plugins,
# the SDK headers and the docs under the prefix. The files that only make sense on a
# system installed from the package - the systemd unit, /etc/spool/worker.yaml and the
# example pipeline - have absolute destinations, so they are a component of their own,
# "service", that no plain install touches; CPack installs both into its staging tree
# with the prefix /usr: /usr/bin/spool finds /usr/lib/spool/plugins as ../lib/spool/
# plugins, exactly as an installed prefix does.

install(FILES ${PROJECT_SOURCE_DIR}/configs/systemd/spool.service
        DESTINATION /lib/systemd/system COMPONENT service EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/configs/worker.yaml
        DESTINATION /etc/spool COMPONENT service EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/configs/pipelines/example.yaml
        DESTINATION /etc/spool/pipelines COMPONENT service EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/operations.md
              ${PROJECT_SOURCE_DIR}/docs/configuration.md ${PROJECT_SOURCE_DIR}/docs/sdk.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME spool)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "spool")
set(CPACK_PACKAGE_CONTACT "spool maintainers <spool@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "native connector framework: sources -> partitioned log -> sinks")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "spool moves records from source connectors (HTTP webhook, files, PostgreSQL, SQLite,\n"
  "Kafka, a generator) through a partitioned log on local disk into sink connectors\n"
  "(PostgreSQL, SQLite, HTTP, files, Kafka, stdout), exactly once. This package holds\n"
  "the spool binary, the connector plugins, the plugin SDK headers and a systemd\n"
  "service running the pipelines of /etc/spool/pipelines as the spool user.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# The default components (binary, plugins, headers, docs) and the "service" one.
set(CPACK_INSTALL_CMAKE_PROJECTS
  "${CMAKE_BINARY_DIR};${PROJECT_NAME};ALL;/"
  "${CMAKE_BINARY_DIR};${PROJECT_NAME};service;/")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps reads what the binary and every plugin link (libyaml-0-2, libjansson4,
# libpq5, libsqlite3-0, libcurl4, libmicrohttpd12, librdkafka1...); the maintainer
# scripts need passwd (groupadd, useradd).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
  ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)

include(CPack)

# SPDX-License-Identifier: MIT
# Run by `cmake --install` (see the top CMakeLists.txt, which sets the
# CHAND_* directories): installs the systemd units, written for the prefix
# being installed to, the sysusers.d entry, and the sample config file
# unless one is already there (it is the administrator's).

function(chand_full out dir)
	if(IS_ABSOLUTE "${dir}")
		set(${out} "${dir}" PARENT_SCOPE)
	else()
		set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
	endif()
endfunction()

chand_full(CMAKE_INSTALL_FULL_SBINDIR "${CHAND_SBINDIR}")
chand_full(CMAKE_INSTALL_FULL_BINDIR "${CHAND_BINDIR}")
# The unit and sysusers.d directories: under the prefix, or absolute (a
# Debian bookworm package puts its units in /lib/systemd/system).
chand_full(CHAND_FULL_UNITDIR "${CHAND_SYSTEMD_UNITDIR}")
chand_full(CHAND_FULL_SYSUSERSDIR "${CHAND_SYSUSERSDIR}")
chand_full(CMAKE_INSTALL_FULL_DOCDIR "${CHAND_DOCDIR}")
# As GNUInstallDirs does: the /usr prefix keeps its configuration in /etc.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" AND CHAND_SYSCONFDIR STREQUAL "etc")
	set(CMAKE_INSTALL_FULL_SYSCONFDIR "/etc")
else()
	chand_full(CMAKE_INSTALL_FULL_SYSCONFDIR "${CHAND_SYSCONFDIR}")
endif()

configure_file("${CHAND_SOURCE_DIR}/systemd/chand.service.in"
	"${CHAND_BINARY_DIR}/systemd/chand.service" @ONLY)
file(INSTALL "${CHAND_BINARY_DIR}/systemd/chand.service"
	"${CHAND_SOURCE_DIR}/systemd/chand.socket"
	DESTINATION "${CHAND_FULL_UNITDIR}"
	FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${CHAND_SOURCE_DIR}/systemd/chand.sysusers"
	DESTINATION "${CHAND_FULL_SYSUSERSDIR}"
	RENAME chand.conf
	FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
if(EXISTS "$ENV{DESTDIR}${CMAKE_INSTALL_FULL_SYSCONFDIR}/chand/chand.conf")
	message(STATUS "Kept: $ENV{DESTDIR}${CMAKE_INSTALL_FULL_SYSCONFDIR}/chand/chand.conf")
else()
	file(INSTALL "${CHAND_SOURCE_DIR}/systemd/chand.conf"
		DESTINATION "${CMAKE_INSTALL_FULL_SYSCONFDIR}/chand"
		FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()

# SPDX-License-Identifier: MIT
# Run by `cmake --install` (see man/CMakeLists.txt, which sets the
# CHAND_MAN_* variables): builds the manual pages again for the prefix
# being installed to, so that the paths they name (configuration file,
# units, documents) are those of this installation, and installs them
# with the .so links of section 3.

function(chand_full out dir)
	if(IS_ABSOLUTE "${dir}")
		set(${out} "${dir}" PARENT_SCOPE)
	else()
		set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
	endif()
endfunction()

chand_full(CHAND_BINDIR "${CHAND_MAN_BINDIR}")
chand_full(CHAND_SBINDIR "${CHAND_MAN_SBINDIR}")
chand_full(CHAND_DOCDIR "${CHAND_MAN_DOCDIR}")
chand_full(CHAND_INCLUDEDIR "${CHAND_MAN_INCLUDEDIR}")
chand_full(CHAND_UNITDIR "${CHAND_MAN_UNITDIR}")
chand_full(CHAND_MANDIR "${CHAND_MAN_MANDIR}")
# As GNUInstallDirs does: the /usr prefix keeps its configuration in /etc.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" AND CHAND_MAN_SYSCONFDIR STREQUAL "etc")
	set(CHAND_SYSCONFDIR "/etc")
else()
	chand_full(CHAND_SYSCONFDIR "${CHAND_MAN_SYSCONFDIR}")
endif()
set(OPTIONS "@OPTIONS@")

set(work "${CHAND_MAN_BINARY_DIR}/install")
file(MAKE_DIRECTORY "${work}")
foreach(page ${CHAND_MAN_PAGES})
	string(REGEX REPLACE ".*\\." "" section "${page}")
	if(page STREQUAL "chand.8")
		configure_file("${CHAND_MAN_SOURCE_DIR}/chand.8.scd.in"
			"${work}/chand.8.scd.cfg" @ONLY)
		execute_process(COMMAND "${CHAND_MAN_OPTIONS}"
			"${work}/chand.8.scd.cfg"
			OUTPUT_FILE "${work}/chand.8.scd" RESULT_VARIABLE rc)
		if(NOT rc EQUAL 0)
			message(FATAL_ERROR "chand-options failed for chand.8")
		endif()
	else()
		configure_file("${CHAND_MAN_SOURCE_DIR}/${page}.scd"
			"${work}/${page}.scd" @ONLY)
	endif()
	execute_process(COMMAND "${CHAND_MAN_SCDOC}"
		INPUT_FILE "${work}/${page}.scd" OUTPUT_FILE "${work}/${page}"
		RESULT_VARIABLE rc)
	if(NOT rc EQUAL 0)
		message(FATAL_ERROR "scdoc failed for ${page}")
	endif()
	file(INSTALL "${work}/${page}"
		DESTINATION "${CHAND_MANDIR}/man${section}"
		FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()
foreach(alias ${CHAND_MAN_ALIASES})
	file(INSTALL "${CHAND_MAN_BINARY_DIR}/${alias}.3"
		DESTINATION "${CHAND_MANDIR}/man3"
		FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()

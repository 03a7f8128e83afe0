# FindSOCI: Debian's libsoci-dev ships no CMake package, so this module finds it.
#   find_package(SOCI REQUIRED COMPONENTS sqlite3 postgresql mysql odbc)
# Defines SOCI::core and SOCI::<component> imported targets.
find_path(SOCI_INCLUDE_DIR soci/soci.h)
find_library(SOCI_CORE_LIBRARY NAMES soci_core)

set(SOCI_FOUND_COMPONENTS "")
foreach(component IN LISTS SOCI_FIND_COMPONENTS)
  find_library(SOCI_${component}_LIBRARY NAMES soci_${component})
  if(SOCI_${component}_LIBRARY)
    set(SOCI_${component}_FOUND TRUE)
  endif()
endforeach()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(SOCI
  REQUIRED_VARS SOCI_CORE_LIBRARY SOCI_INCLUDE_DIR
  HANDLE_COMPONENTS)

if(SOCI_FOUND AND NOT TARGET SOCI::core)
  add_library(SOCI::core UNKNOWN IMPORTED)
  set_target_properties(SOCI::core PROPERTIES
    IMPORTED_LOCATION "${SOCI_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SOCI_INCLUDE_DIR}")
  foreach(component IN LISTS SOCI_FIND_COMPONENTS)
    if(SOCI_${component}_FOUND AND NOT TARGET SOCI::${component})
      add_library(SOCI::${component} UNKNOWN IMPORTED)
      set_target_properties(SOCI::${component} PROPERTIES
        IMPORTED_LOCATION "${SOCI_${component}_LIBRARY}"
        INTERFACE_LINK_LIBRARIES SOCI::core)
    endif()
  endforeach()
endif()
mark_as_advanced(SOCI_INCLUDE_DIR SOCI_CORE_LIBRARY)

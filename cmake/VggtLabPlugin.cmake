# vggt_lab_add_plugin(<target> SOURCES <files...> [OUTPUT_DIR <dir>] [NO_INSTALL])
#
# Builds one plugin library the way the host expects it: a MODULE library named
# vggt_lab_plugin_<target>.so, hidden visibility, exporting exactly the
# `vggt_lab_plugin_entry` symbol, linked privately to the vggt-lab core and
# LibTorch, written into the plugin folder and installed there.
include_guard(GLOBAL)

function(vggt_lab_add_plugin target)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIR" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "vggt_lab_add_plugin(${target}): SOURCES is required")
  endif()
  if(NOT ARG_OUTPUT_DIR)
    if(DEFINED VGGT_LAB_PLUGIN_OUTPUT_DIR)
      set(ARG_OUTPUT_DIR "${VGGT_LAB_PLUGIN_OUTPUT_DIR}")
    else()
      set(ARG_OUTPUT_DIR "${CMAKE_BINARY_DIR}/plugins")
    endif()
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "vggt_lab_plugin_${target}"
    LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIR}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    INSTALL_RPATH "$ORIGIN/../..")
  target_link_libraries(${target} PRIVATE vggt_lab::core)
  if(TARGET vggt_lab_pch)  # in vggt-lab's own tree: LibTorch's headers precompiled once
    target_precompile_headers(${target} REUSE_FROM vggt_lab_pch)
  endif()
  # Beside this file, wherever the function is called from (a project may
  # add several plugins' folders, each finding vggt_lab).
  set(exports "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/plugin_exports.map")
  target_link_options(${target} PRIVATE "-Wl,--version-script=${exports}" "-Wl,--no-undefined")
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${exports}")
  if(TARGET vggt_lab_plugins)
    add_dependencies(vggt_lab_plugins ${target})
  endif()
  if(NOT ARG_NO_INSTALL)
    if(NOT DEFINED VGGT_LAB_PLUGIN_INSTALL_DIR)
      set(VGGT_LAB_PLUGIN_INSTALL_DIR "lib/vggt-lab/plugins")
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION "${VGGT_LAB_PLUGIN_INSTALL_DIR}")
  endif()
endfunction()

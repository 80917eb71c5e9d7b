# PyTorch's LibTorch ships fmt 12 among its headers, and Debian's spdlog is
# built against Debian's fmt 9. Both sit in system include folders, where
# LibTorch's comes first. A -I folder that holds only Debian's fmt is searched
# before every -isystem one: targets that log link vggt_lab::fmt_first.
find_package(fmt REQUIRED)
get_target_property(_fmt_include fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
set(VGGT_LAB_FMT_FIRST ${PROJECT_BINARY_DIR}/fmt-first)
file(MAKE_DIRECTORY ${VGGT_LAB_FMT_FIRST})
file(CREATE_LINK ${_fmt_include}/fmt ${VGGT_LAB_FMT_FIRST}/fmt SYMBOLIC)
add_library(vggt_lab_fmt_first INTERFACE)
add_library(vggt_lab::fmt_first ALIAS vggt_lab_fmt_first)
target_include_directories(vggt_lab_fmt_first BEFORE INTERFACE $<BUILD_INTERFACE:${VGGT_LAB_FMT_FIRST}>)

# TorchConfig finds its headers under its own prefix but searches for
# libtorch.so on the system paths first, so a Debian libtorch-dev beside
# PyTorch's LibTorch would mix two versions: refuse that before compiling.
get_filename_component(_torch_library_dir "${TORCH_LIBRARY}" DIRECTORY)
get_filename_component(_torch_library_dir "${_torch_library_dir}" REALPATH)
get_filename_component(_torch_prefix_lib "${TORCH_INSTALL_PREFIX}/lib" REALPATH)
if(NOT _torch_library_dir STREQUAL _torch_prefix_lib)
  message(FATAL_ERROR
    "LibTorch's headers come from ${TORCH_INSTALL_PREFIX} but libtorch.so from ${TORCH_LIBRARY}.\n"
    "Configure with -DTORCH_LIBRARY=${_torch_prefix_lib}/libtorch.so (scripts/bootstrap.sh does), "
    "or remove the other LibTorch (apt-get remove libtorch-dev).")
endif()
message(STATUS "LibTorch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}, CUDA: ${CAFFE2_USE_CUDA}")

#include "cli/app.hpp"

int main(int argc, char** argv) { return vggt_lab::run_cli(argc, argv); }

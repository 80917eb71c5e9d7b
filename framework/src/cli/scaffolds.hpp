#pragma once
// What `vggt-lab plugins new KIND NAME` writes for each kind of plugin.
#include <string>
#include <vector>

namespace vggt_lab {

struct Scaffold {
  std::string kind;     // as in `vggt-lab plugins --kind`
  std::string table;    // the experiment table that names the plugin
  std::string command;  // the vggt-lab command that tries it: plan or run
  std::string source;   // the plugin's source; @NAME@ and @ID@ are filled in
};

/// One per kind that `plugins new` writes.
const std::vector<Scaffold>& scaffolds();

}  // namespace vggt_lab

#include <iostream>

#include "cli/commands.hpp"
#include "report/compare.hpp"

namespace vggt_lab {

int command_compare(const GlobalOptions&, const CompareArgs& args) {
  std::vector<report::RunRecord> runs;
  for (const auto& dir : args.runs) runs.push_back(report::read_run(dir));
  if (!args.out.empty()) report::write_comparison(runs, args.out);
  std::cout << report::comparison_table(runs);
  if (!args.out.empty()) std::cout << "\nplots and table: " << (args.out / "compare.md").string() << "\n";
  return 0;
}

}  // namespace vggt_lab

#include "plan/actions_json.hpp"

namespace vggt_lab {

nlohmann::ordered_json actions_json(const std::vector<TimedAction>& actions) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const TimedAction& a : actions) {
    out.push_back({{"device", a.device}, {"stage", a.action.stage}, {"micro_batch", a.action.micro_batch},
                   {"pass", a.action.pass == Pass::forward ? "forward" : "backward"},
                   {"start", a.start}, {"end", a.end}});
  }
  return out;
}

}  // namespace vggt_lab

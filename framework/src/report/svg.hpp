#pragma once
// Small SVG charts for run reports: no plotting library needed, and any
// browser or markdown viewer shows them.
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"

namespace vggt_lab::report {

struct Series {
  std::string name;
  std::vector<double> x, y;
  bool markers = false;  // draw points (a scatter) instead of a line
};

/// Lines over a shared x axis (log y when every value is positive and
/// they span more than a factor of 20).
VGGT_LAB_API std::string line_chart(const std::string& title, const std::string& x_label,
                                    const std::string& y_label, const std::vector<Series>& series);

struct Bar {
  std::string label;
  std::vector<double> parts;  // stacked
  double limit = 0;           // drawn as a line (0: none)
};

/// Stacked bars, e.g. memory per device split by kind, against capacity.
VGGT_LAB_API std::string bar_chart(const std::string& title, const std::string& unit,
                                   const std::vector<std::string>& part_names, const std::vector<Bar>& bars);

struct Span {
  int row = 0;
  double start = 0, end = 0;
  std::string label;
  bool backward = false;
};

/// One row per device: what ran when during one step.
VGGT_LAB_API std::string timeline(const std::string& title, const std::vector<std::string>& rows,
                                  const std::vector<Span>& spans);

}  // namespace vggt_lab::report

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
  bool predicted = false;  // drawn lighter: a plan's prediction beside what ran
};

/// One row per device: what ran when during one step.
VGGT_LAB_API std::string timeline(const std::string& title, const std::vector<std::string>& rows,
                                  const std::vector<Span>& spans);

struct Node {
  std::string label;  // short, inside the box
  std::string title;  // shown on hover
  int row = 0;        // 0: the top row
  double column = 0;  // in box widths from the left
  int color = 0;      // index into the palette
};

struct Link {
  int from = 0, to = 0;  // node indices
};

/// Boxes on a grid joined by lines (a model's units along its DAG), with a
/// legend naming each colour (legend[c] for color c).
VGGT_LAB_API std::string graph_chart(const std::string& title, const std::vector<Node>& nodes,
                                     const std::vector<Link>& links, const std::vector<std::string>& legend);

/// Charts one below another, as one picture.
VGGT_LAB_API std::string stacked(const std::vector<std::string>& charts);

/// The unit byte counts read best in: MiB below 1 GiB, else GiB.
struct ByteUnit {
  std::string name;
  double bytes = 1;
};
VGGT_LAB_API ByteUnit byte_unit(double largest_bytes);

}  // namespace vggt_lab::report

#include "report/svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace vggt_lab::report {
namespace {

const char* const kColors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                               "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
constexpr double kWidth = 720, kHeight = 360, kLeft = 70, kRight = 160, kTop = 40, kBottom = 50;

std::string number(double v) {
  char text[32];
  if (std::abs(v) >= 1e3 && std::abs(v) < 1e7) {
    std::snprintf(text, sizeof text, "%.0f", v);
  } else if (std::abs(v) >= 1e7 || (std::abs(v) < 1e-2 && v != 0)) {
    std::snprintf(text, sizeof text, "%.2g", v);
  } else {
    std::snprintf(text, sizeof text, "%.3g", v);
  }
  return text;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

std::string header(const std::string& title, double height = kHeight) {
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << kWidth / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << escape(title) << "</text>\n";
  return out.str();
}

}  // namespace

std::string line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                       const std::vector<Series>& series) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series) {
    for (double x : s.x) x0 = std::min(x0, x), x1 = std::max(x1, x);
    for (double y : s.y) y0 = std::min(y0, y), y1 = std::max(y1, y);
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool log_y = y0 > 0 && y1 / y0 > 20;
  auto fy = [&](double y) { return log_y ? std::log10(y) : y; };
  double ly0 = fy(y0), ly1 = fy(y1);
  if (ly1 - ly0 < 1e-12) ly1 = ly0 + 1;
  if (x1 - x0 < 1e-12) x1 = x0 + 1;
  const double w = kWidth - kLeft - kRight, h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * w; };
  auto py = [&](double y) { return kTop + h - (fy(y) - ly0) / (ly1 - ly0) * h; };
  std::ostringstream out;
  out << header(title);
  out << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << w << "\" height=\"" << h
      << "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    double fx = x0 + (x1 - x0) * i / 4, vy = ly0 + (ly1 - ly0) * i / 4;
    double yv = log_y ? std::pow(10, vy) : vy;
    out << "<text x=\"" << px(fx) << "\" y=\"" << kTop + h + 16 << "\" text-anchor=\"middle\">" << number(fx) << "</text>\n";
    out << "<text x=\"" << kLeft - 6 << "\" y=\"" << py(yv) + 4 << "\" text-anchor=\"end\">" << number(yv) << "</text>\n";
    out << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + w << "\" y1=\"" << py(yv) << "\" y2=\"" << py(yv)
        << "\" stroke=\"#eee\"/>\n";
  }
  out << "<text x=\"" << kLeft + w / 2 << "\" y=\"" << kHeight - 12 << "\" text-anchor=\"middle\">" << escape(x_label) << "</text>\n";
  out << "<text transform=\"translate(16," << kTop + h / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << escape(y_label + (log_y ? " (log)" : "")) << "</text>\n";
  for (std::size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    const char* color = kColors[i % 10];
    if (s.markers) {
      for (std::size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) {
        if (log_y && s.y[k] <= 0) continue;
        out << "<circle cx=\"" << px(s.x[k]) << "\" cy=\"" << py(s.y[k]) << "\" r=\"4\" fill=\"" << color << "\"/>\n";
      }
    } else {
      out << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.5\" points=\"";
      for (std::size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) {
        if (log_y && s.y[k] <= 0) continue;
        out << px(s.x[k]) << "," << py(s.y[k]) << " ";
      }
      out << "\"/>\n";
    }
    out << "<text x=\"" << kLeft + w + 10 << "\" y=\"" << kTop + 14 + 16 * i << "\" fill=\"" << color << "\">"
        << escape(s.name) << "</text>\n";
  }
  return out.str() + "</svg>\n";
}

std::string bar_chart(const std::string& title, const std::string& unit, const std::vector<std::string>& part_names,
                      const std::vector<Bar>& bars) {
  double top = 0, limit = 0;
  for (const auto& b : bars) {
    double sum = 0;
    for (double p : b.parts) sum += p;
    top = std::max(top, sum);
    limit = std::max(limit, b.limit);
  }
  if (top <= 0) top = 1;
  const bool limit_on_scale = limit > 0 && limit <= 2 * top;  // else the bars would be slivers
  if (limit_on_scale) top = std::max(top, limit);
  const double w = kWidth - kLeft - kRight, h = kHeight - kTop - kBottom;
  const double slot = w / std::max<std::size_t>(1, bars.size());
  std::ostringstream out;
  out << header(title);
  out << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + w << "\" y1=\"" << kTop + h << "\" y2=\"" << kTop + h << "\" stroke=\"#888\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    double v = top * i / 4, y = kTop + h - h * i / 4;
    out << "<text x=\"" << kLeft - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << number(v) << "</text>\n";
  }
  out << "<text transform=\"translate(16," << kTop + h / 2 << ") rotate(-90)\" text-anchor=\"middle\">" << escape(unit) << "</text>\n";
  for (std::size_t b = 0; b < bars.size(); ++b) {
    double x = kLeft + slot * b + slot * 0.2, bw = slot * 0.6, base = kTop + h;
    for (std::size_t p = 0; p < bars[b].parts.size(); ++p) {
      double bh = bars[b].parts[p] / top * h;
      base -= bh;
      out << "<rect x=\"" << x << "\" y=\"" << base << "\" width=\"" << bw << "\" height=\"" << bh << "\" fill=\""
          << kColors[p % 10] << "\"/>\n";
    }
    if (bars[b].limit > 0 && limit_on_scale) {
      double y = kTop + h - bars[b].limit / top * h;
      out << "<line x1=\"" << x - 4 << "\" x2=\"" << x + bw + 4 << "\" y1=\"" << y << "\" y2=\"" << y
          << "\" stroke=\"black\" stroke-dasharray=\"4 2\"/>\n";
    }
    out << "<text x=\"" << x + bw / 2 << "\" y=\"" << kTop + h + 16 << "\" text-anchor=\"middle\">" << escape(bars[b].label) << "</text>\n";
  }
  for (std::size_t p = 0; p < part_names.size(); ++p) {
    out << "<rect x=\"" << kLeft + w + 10 << "\" y=\"" << kTop + 4 + 16 * p << "\" width=\"10\" height=\"10\" fill=\"" << kColors[p % 10]
        << "\"/><text x=\"" << kLeft + w + 24 << "\" y=\"" << kTop + 13 + 16 * p << "\">" << escape(part_names[p]) << "</text>\n";
  }
  if (limit > 0) {  // on two lines, so the legend's column holds it
    const double y = kTop + 13 + 16 * double(part_names.size());
    out << "<text x=\"" << kLeft + w + 10 << "\" y=\"" << y << "\">"
        << (limit_on_scale ? std::string("- - capacity") : "capacity " + number(limit) + " " + unit) << "</text>\n";
    if (!limit_on_scale) out << "<text x=\"" << kLeft + w + 10 << "\" y=\"" << y + 16 << "\">(off scale)</text>\n";
  }
  return out.str() + "</svg>\n";
}

std::string timeline(const std::string& title, const std::vector<std::string>& rows, const std::vector<Span>& spans) {
  double end = 0;
  for (const auto& s : spans) end = std::max(end, s.end);
  if (end <= 0) end = 1;
  const double row_h = 28, height = kTop + row_h * rows.size() + kBottom;
  const double w = kWidth - kLeft - 40;
  std::ostringstream out;
  out << header(title, height);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    out << "<text x=\"" << kLeft - 6 << "\" y=\"" << kTop + row_h * r + 18 << "\" text-anchor=\"end\">" << escape(rows[r]) << "</text>\n";
  }
  for (const auto& s : spans) {
    double x = kLeft + s.start / end * w, sw = std::max(1.0, (s.end - s.start) / end * w);
    out << "<rect x=\"" << x << "\" y=\"" << kTop + row_h * s.row + 4 << "\" width=\"" << sw << "\" height=\"" << row_h - 8
        << "\" fill=\"" << (s.backward ? (s.predicted ? "#ffbe7d" : "#f28e2b") : (s.predicted ? "#a0cbe8" : "#4e79a7"))
        << "\" stroke=\"white\"><title>" << escape(s.label)
        << "</title></rect>\n";
  }
  double axis = kTop + row_h * rows.size() + 16;
  for (int i = 0; i <= 4; ++i) {
    out << "<text x=\"" << kLeft + w * i / 4 << "\" y=\"" << axis << "\" text-anchor=\"middle\">" << number(end * i / 4) << " s</text>\n";
  }
  out << "<text x=\"" << kLeft << "\" y=\"" << axis + 18
      << "\">blue: forward, orange: backward, lighter: predicted, blank: waiting (hover a span for what it ran)</text>\n";
  return out.str() + "</svg>\n";
}

std::string graph_chart(const std::string& title, const std::vector<Node>& nodes, const std::vector<Link>& links,
                        const std::vector<std::string>& legend) {
  double columns = 1;
  int rows = 1;
  for (const auto& n : nodes) columns = std::max(columns, n.column + 1), rows = std::max(rows, n.row + 1);
  const double w = kWidth - 40, box = std::min(64.0, w / columns), row_h = 70;
  const double left = (kWidth - box * columns) / 2, height = kTop + row_h * rows + 40;
  auto x = [&](const Node& n) { return left + box * n.column; };
  auto y = [&](const Node& n) { return kTop + 10 + row_h * n.row; };
  const double box_h = 30;
  std::ostringstream out;
  out << header(title, height);
  for (const auto& l : links) {
    const Node &a = nodes.at(l.from), &b = nodes.at(l.to);
    const bool down = b.row > a.row;
    out << "<line x1=\"" << x(a) + (down ? box / 2 : box - 2) << "\" y1=\"" << y(a) + (down ? box_h : box_h / 2)
        << "\" x2=\"" << x(b) + (down ? box / 2 : 2) << "\" y2=\"" << y(b) + (down ? 0 : box_h / 2)
        << "\" stroke=\"#999\"/>\n";
  }
  const int font = box < 30 ? 8 : 11;
  for (const auto& n : nodes) {
    out << "<g><title>" << escape(n.title) << "</title><rect x=\"" << x(n) + 2 << "\" y=\"" << y(n) << "\" width=\""
        << box - 4 << "\" height=\"" << box_h << "\" rx=\"3\" fill=\"" << kColors[n.color % 10] << "\"/><text x=\""
        << x(n) + box / 2 << "\" y=\"" << y(n) + box_h / 2 + font / 3 << "\" text-anchor=\"middle\" font-size=\"" << font
        << "\" fill=\"white\">" << escape(n.label) << "</text></g>\n";
  }
  double at = 20;
  for (std::size_t c = 0; c < legend.size(); ++c) {
    out << "<rect x=\"" << at << "\" y=\"" << height - 24 << "\" width=\"10\" height=\"10\" fill=\"" << kColors[c % 10]
        << "\"/><text x=\"" << at + 14 << "\" y=\"" << height - 15 << "\">" << escape(legend[c]) << "</text>\n";
    at += 24 + 7.0 * double(legend[c].size());
  }
  return out.str() + "</svg>\n";
}

std::string stacked(const std::vector<std::string>& charts) {
  std::vector<double> heights;
  double total = 0;
  for (const auto& chart : charts) {
    const auto at = chart.find("height=\"");
    heights.push_back(at == std::string::npos ? kHeight : std::stod(chart.substr(at + 8)));
    total += heights.back();
  }
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << total << "\">\n";
  double y = 0;
  for (std::size_t i = 0; i < charts.size(); ++i) {
    out << "<svg x=\"0\" y=\"" << y << "\"" << charts[i].substr(std::string("<svg").size());
    y += heights[i];
  }
  return out.str() + "</svg>\n";
}

ByteUnit byte_unit(double largest_bytes) {
  return largest_bytes >= double(1 << 30) ? ByteUnit{"GiB", double(1 << 30)} : ByteUnit{"MiB", double(1 << 20)};
}

}  // namespace vggt_lab::report

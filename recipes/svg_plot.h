// A small SVG chart writer for the recipe report (no plotting dependency): line and scatter
// series on linear axes with ticks, axis labels, a title and a legend; optional error bars.
//
//   SvgChart chart;
//   chart.title = "Sparsity during upstream pruning";
//   chart.x_label = "step";
//   chart.y_label = "sparsity (%)";
//   chart.series.push_back({"90%", {{0, 0}, {100, 52.1}, {200, 90}}, /*lines=*/true});
//   RETURN_IF_ERROR(base::WriteStringToFileAtomically("sparsity.svg", RenderSvg(chart)));
#ifndef RECIPES_SVG_PLOT_H_
#define RECIPES_SVG_PLOT_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace recipes {

struct SvgSeries {
  std::string name;                             // Legend entry.
  std::vector<std::pair<double, double>> points;  // (x, y); non-finite points are skipped.
  bool lines = true;    // Joins the points in order; false: markers only (scatter).
  bool markers = false;  // Draws a marker on each point (always on when lines is false).
  // Optional vertical error bars, (lo, hi) per point (a confidence interval); empty: none;
  // a non-finite bound: none for that point. The axis range covers them.
  std::vector<std::pair<double, double>> y_intervals;
};

struct SvgChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<SvgSeries> series;
  // Axis ranges; unset: the data's range with a margin.
  std::optional<double> x_min, x_max, y_min, y_max;
  int width = 720;
  int height = 440;
};

// The chart as a standalone SVG document. A chart without finite points still renders its
// axes and a "no data" note.
std::string RenderSvg(const SvgChart& chart);

// Escapes &, <, >, " for SVG text.
std::string EscapeXml(const std::string& text);

}  // namespace recipes

#endif  // RECIPES_SVG_PLOT_H_

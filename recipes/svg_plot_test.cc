#include "recipes/svg_plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace recipes {
namespace {

int Count(const std::string& text, const std::string& what) {
  int count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

TEST(SvgPlotTest, DrawsErrorBarsAndRangesOverThem) {
  SvgChart chart;
  chart.title = "retention";
  SvgSeries series;
  series.name = "ours";
  series.lines = false;
  series.points = {{0, 1.0}, {85, 0.97}, {90, 0.95}};
  // The last point has no interval; the middle one reaches far below every point.
  series.y_intervals = {{1.0, 1.0}, {0.5, 1.02}, {std::nan(""), 0.99}};
  chart.series.push_back(series);
  const std::string svg = RenderSvg(chart);
  EXPECT_EQ(Count(svg, "class=\"error-bar\""), 2);
  EXPECT_EQ(Count(svg, "<circle"), 3);
  // The y axis is zoomed to the data and bars (0.5 .. 1.02 plus a margin), not 0..1: a tick
  // at 0.5 and none at 0.
  EXPECT_NE(svg.find(">0.5<"), std::string::npos) << svg;
  EXPECT_EQ(svg.find(">0.0<"), std::string::npos) << svg;
}

TEST(SvgPlotTest, SeriesWithoutIntervalsDrawNoBars) {
  SvgChart chart;
  chart.series.push_back({"line", {{0, 1}, {1, 2}}, true, false, {}});
  EXPECT_EQ(Count(RenderSvg(chart), "error-bar"), 0);
}

}  // namespace
}  // namespace recipes

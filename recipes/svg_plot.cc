#include "recipes/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace recipes {
namespace {

// Tab10-like colours, readable on white.
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `count` ticks.
double NiceStep(double span, int count) {
  if (!(span > 0)) return 1.0;
  const double raw = span / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / power;
  const double nice = fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10;
  return nice * power;
}

std::string TickLabel(double value, double step) {
  if (std::fabs(value) < step * 1e-6) value = 0;
  if (step >= 1 && std::fabs(value) < 1e7) return absl::StrFormat("%.0f", value);
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step))));
  return absl::StrFormat("%.*f", decimals, value);
}

// The (lo, hi) error bar of point i, when it has a finite one.
std::optional<std::pair<double, double>> ErrorBar(const SvgSeries& series, size_t i) {
  if (i >= series.y_intervals.size()) return std::nullopt;
  const auto [lo, hi] = series.y_intervals[i];
  if (!std::isfinite(lo) || !std::isfinite(hi)) return std::nullopt;
  return std::make_pair(std::min(lo, hi), std::max(lo, hi));
}

}  // namespace

std::string EscapeXml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string RenderSvg(const SvgChart& chart) {
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo;
  double y_lo = x_lo, y_hi = -x_lo;
  bool any = false;
  bool scatter = false;  // Markers only: a margin keeps edge points off the frame.
  for (const SvgSeries& series : chart.series) {
    scatter |= !series.lines;
    for (size_t i = 0; i < series.points.size(); ++i) {
      const auto& [x, y] = series.points[i];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      any = true;
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y);
      y_hi = std::max(y_hi, y);
      if (const auto bar = ErrorBar(series, i)) {
        y_lo = std::min(y_lo, bar->first);
        y_hi = std::max(y_hi, bar->second);
      }
    }
  }
  if (!any) x_lo = y_lo = 0, x_hi = y_hi = 1;
  if (x_hi - x_lo <= 0) x_lo -= 1, x_hi += 1;
  if (y_hi - y_lo <= 0) y_lo -= 1, y_hi += 1;
  const double y_margin = 0.05 * (y_hi - y_lo);
  const double x_margin = scatter ? 0.04 * (x_hi - x_lo) : 0.0;
  x_lo = chart.x_min.value_or(x_lo - x_margin);
  x_hi = chart.x_max.value_or(x_hi + x_margin);
  y_lo = chart.y_min.value_or(y_lo - y_margin);
  y_hi = chart.y_max.value_or(y_hi + y_margin);

  const int legend_width = 190;
  const double left = 70, right = chart.width - legend_width, top = 40,
               bottom = chart.height - 55;
  auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * (right - left); };
  auto py = [&](double y) { return bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top); };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d "
      "%d\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      chart.width, chart.height, chart.width, chart.height);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" "
                        "font-weight=\"bold\">%s</text>\n",
                        (left + right) / 2, EscapeXml(chart.title));
  // Grid and ticks.
  const double x_step = NiceStep(x_hi - x_lo, 6), y_step = NiceStep(y_hi - y_lo, 6);
  for (double t = std::ceil(x_lo / x_step) * x_step; t <= x_hi + x_step * 1e-9; t += x_step) {
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                          "stroke=\"#e5e5e5\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          px(t), top, px(t), bottom, px(t), bottom + 16, TickLabel(t, x_step));
  }
  for (double t = std::ceil(y_lo / y_step) * y_step; t <= y_hi + y_step * 1e-9; t += y_step) {
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                          "stroke=\"#e5e5e5\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"end\">%s</text>\n",
                          left, py(t), right, py(t), left - 6, py(t) + 4, TickLabel(t, y_step));
  }
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                        "stroke=\"#333\"/>\n",
                        left, top, right - left, bottom - top);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                        (left + right) / 2, bottom + 38, EscapeXml(chart.x_label));
  absl::StrAppendFormat(&svg,
                        "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" "
                        "transform=\"rotate(-90 18 %.1f)\">%s</text>\n",
                        (top + bottom) / 2, (top + bottom) / 2, EscapeXml(chart.y_label));
  if (!any) {
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no data</text>\n",
                          (left + right) / 2, (top + bottom) / 2);
  }
  // Series, clipped to the plot area.
  absl::StrAppendFormat(&svg,
                        "<clipPath id=\"plot\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                        "height=\"%.1f\"/></clipPath>\n<g clip-path=\"url(#plot)\">\n",
                        left, top, right - left, bottom - top);
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const SvgSeries& series = chart.series[i];
    const char* color = kColors[i % (sizeof(kColors) / sizeof(kColors[0]))];
    std::string path;
    for (const auto& [x, y] : series.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      absl::StrAppendFormat(&path, "%s%.1f,%.1f", path.empty() ? "" : " ", px(x), py(y));
    }
    if (series.lines && !path.empty()) {
      absl::StrAppendFormat(&svg,
                            "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" "
                            "points=\"%s\"/>\n",
                            color, path);
    }
    for (size_t p = 0; p < series.points.size(); ++p) {
      const double x = series.points[p].first;
      const auto bar = ErrorBar(series, p);
      if (!bar || !std::isfinite(x) || !std::isfinite(series.points[p].second)) continue;
      // A vertical bar with 5 px caps.
      absl::StrAppendFormat(&svg,
                            "<path class=\"error-bar\" d=\"M%.1f,%.1f V%.1f M%.1f,%.1f H%.1f "
                            "M%.1f,%.1f H%.1f\" stroke=\"%s\" stroke-width=\"1.4\" "
                            "fill=\"none\"/>\n",
                            px(x), py(bar->first), py(bar->second), px(x) - 5, py(bar->first),
                            px(x) + 5, px(x) - 5, py(bar->second), px(x) + 5, color);
    }
    if (series.markers || !series.lines) {
      for (const auto& [x, y] : series.points) {
        if (!std::isfinite(x) || !std::isfinite(y)) continue;
        absl::StrAppendFormat(&svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n",
                              px(x), py(y), color);
      }
    }
  }
  svg += "</g>\n";
  // Legend.
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const char* color = kColors[i % (sizeof(kColors) / sizeof(kColors[0]))];
    const double y = top + 8 + 20.0 * i;
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"%s\"/>\n"
                          "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                          right + 14, y - 9, color, right + 34, y, EscapeXml(chart.series[i].name));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace recipes

//! The benchmark's chart: per workload, each setup's slowdown against no sensor (median ratio,
//! with min-max whiskers), as a PNG.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;

/// One bar group: a workload and, per setup, (median, min, max) of the ratio to no sensor.
pub struct Group {
    pub workload: String,
    pub ratios: Vec<(f64, f64, f64)>,
}

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

const COLORS: [RGBColor; 8] = [
    RGBColor(150, 150, 150),
    RGBColor(90, 90, 90),
    RGBColor(31, 119, 180),
    RGBColor(23, 190, 207),
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Draws the groups (setups named by `setups`, in the same order as each group's ratios).
pub fn draw(path: &Path, title: &str, setups: &[&str], groups: &[Group]) -> Result<()> {
    let font = std::fs::read(FONT).with_context(|| format!("reading {FONT} (fonts-dejavu-core)"))?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into_boxed_slice()))
        .map_err(|_| anyhow!("{FONT} is not a usable font"))?;
    let root = BitMapBackend::new(path, (1400, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    // Ratios are drawn on a log scale: auditd's can be 20 times the others'.
    let top = groups.iter().flat_map(|g| g.ratios.iter().map(|r| r.2)).filter(|r| r.is_finite()).fold(2.0f64, f64::max);
    let n = setups.len();
    let slots = groups.len() * (n + 1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .right_y_label_area_size(0)
        .build_cartesian_2d(0..slots, (0.8f64..top * 3.0).log_scale())
        .map_err(|e| anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(slots)
        .x_label_formatter(&|x| {
            let g = x / (n + 1);
            if x % (n + 1) == n / 2 && n > 0 {
                groups.get(g).map(|g| g.workload.clone()).unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("time per operation / no sensor (log scale)")
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    for (s, name) in setups.iter().enumerate() {
        let color = COLORS[s % COLORS.len()];
        let bars: Vec<_> = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.ratios.get(s).is_some_and(|r| r.0.is_finite()))
            .map(|(gi, g)| {
                let x = gi * (n + 1) + s;
                Rectangle::new([(x, 0.8), (x + 1, g.ratios[s].0.max(0.8))], color.filled())
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(|e| anyhow!("{e:?}"))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled()));
        let whiskers: Vec<_> = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.ratios.get(s).is_some_and(|r| r.1.is_finite() && r.2.is_finite()))
            .map(|(gi, g)| {
                let x = gi * (n + 1) + s;
                PathElement::new(vec![(x, g.ratios[s].1.max(0.8)), (x, g.ratios[s].2.max(0.8))], BLACK.stroke_width(2))
            })
            .collect();
        chart.draw_series(whiskers).map_err(|e| anyhow!("{e:?}"))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow!("writing {}: {e:?}", path.display()))?;
    Ok(())
}

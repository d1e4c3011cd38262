//! Charts as SVG, drawn with `plotters`. Each page shows the numbers of a
//! chart in a table beside it too (the chart is for the eye; the table is
//! for screen readers, copying, and the statements one click away).

use plotters::prelude::*;

/// One series of a grouped bar chart.
pub struct Series<'a> {
    /// Its name in the legend.
    pub name: &'a str,
    /// One value per category.
    pub values: Vec<u64>,
    /// Fill colour.
    pub color: RGBColor,
}

/// Colours that read apart and keep 3:1 against white (WCAG non-text
/// contrast): blue, orange, purple, green.
pub const PALETTE: [RGBColor; 4] = [
    RGBColor(0x1f, 0x5f, 0xa8),
    RGBColor(0xb3, 0x4e, 0x00),
    RGBColor(0x6a, 0x3d, 0x9a),
    RGBColor(0x2e, 0x7d, 0x32),
];

/// A grouped bar chart: for each category (x), one bar per series. The
/// SVG carries `role="img"` and `label` as its accessible name.
pub fn grouped_bars(
    label: &str,
    y_desc: &str,
    categories: &[String],
    series: &[Series<'_>],
) -> Result<String, String> {
    let n = categories.len().max(1);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let width = (n as u32 * 70 + 140).clamp(480, 960);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        // The legend in a strip of its own above the plot, never over a bar.
        let (legend, plot) = root.split_vertically(30);
        if series.len() > 1 {
            let mut x = 64;
            for s in series {
                legend
                    .draw(&Rectangle::new([(x, 10), (x + 12, 22)], s.color.filled()))
                    .map_err(|e| e.to_string())?;
                legend
                    .draw(&Text::new(
                        s.name.to_owned(),
                        (x + 18, 9),
                        ("sans-serif", 14).into_font().color(&BLACK),
                    ))
                    .map_err(|e| e.to_string())?;
                x += 26 + 8 * s.name.chars().count() as i32;
            }
        }
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..(max as f64 * 1.15))
            .map_err(|e| e.to_string())?;
        let label_of = |x: &f64| {
            let r = x.round();
            if (x - r).abs() < 1e-9 && r >= 0.0 && (r as usize) < categories.len() {
                categories[r as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(n)
            .x_label_formatter(&label_of)
            .y_labels(6)
            .y_label_formatter(&|y| {
                if (y - y.round()).abs() < 1e-9 {
                    format!("{}", *y as u64)
                } else {
                    String::new()
                }
            })
            .y_desc(y_desc)
            .label_style(("sans-serif", 13).into_font().color(&BLACK))
            .axis_desc_style(("sans-serif", 14).into_font().color(&BLACK))
            .draw()
            .map_err(|e| e.to_string())?;
        let groups = series.len().max(1) as f64;
        let bar = 0.8 / groups;
        for (si, s) in series.iter().enumerate() {
            let color = s.color;
            chart
                .draw_series(s.values.iter().enumerate().map(move |(i, v)| {
                    let x0 = i as f64 - 0.4 + si as f64 * bar;
                    Rectangle::new([(x0, 0.0), (x0 + bar * 0.92, *v as f64)], color.filled())
                }))
                .map_err(|e| e.to_string())?
                .label(s.name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled())
                });
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(accessible(svg, label))
}

/// Gives the SVG an accessible name and lets it shrink with the page.
fn accessible(svg: String, label: &str) -> String {
    let label = escape(label);
    match svg.find("<svg ") {
        Some(at) => {
            let mut out = String::with_capacity(svg.len() + label.len() * 2 + 80);
            out.push_str(&svg[..at]);
            out.push_str(&format!(
                "<svg role=\"img\" aria-label=\"{label}\" style=\"max-width:100%;height:auto\" "
            ));
            let rest = &svg[at + 5..];
            // The title as the first child, for tools that read that.
            match rest.find('>') {
                Some(end) => {
                    out.push_str(&rest[..=end]);
                    out.push_str(&format!("<title>{label}</title>"));
                    out.push_str(&rest[end + 1..]);
                }
                None => out.push_str(rest),
            }
            out
        }
        None => svg,
    }
}

/// Escapes text for XML and HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_with_an_accessible_name_and_its_labels() {
        let svg = grouped_bars(
            "Statements per month",
            "statements",
            &["2026-10".to_owned(), "2026-11".to_owned()],
            &[
                Series {
                    name: "receipts",
                    values: vec![3, 7],
                    color: PALETTE[0],
                },
                Series {
                    name: "deletions <x>",
                    values: vec![1, 0],
                    color: PALETTE[1],
                },
            ],
        )
        .unwrap();
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"Statements per month\""));
        assert!(svg.contains("<title>Statements per month</title>"));
        assert!(svg.contains("2026-10") && svg.contains("2026-11"));
        assert!(svg.contains("receipts"));
        // Names are escaped by plotters' SVG backend.
        assert!(!svg.contains("<x>"));
        assert!(svg.contains("<rect"));
    }

    #[test]
    fn an_empty_chart_still_draws() {
        let svg = grouped_bars("Nothing", "n", &[], &[]).unwrap();
        assert!(svg.contains("</svg>"));
    }
}

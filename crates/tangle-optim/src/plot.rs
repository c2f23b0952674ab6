//! SVG plots of a search: the mixture probabilities of each decision over the epochs (the
//! paper's Figure 6), one small panel per decision, one line per candidate.

use std::fmt::Write;

use tangle_core::SearchSpec;

use crate::engine::EpochRecord;

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// An SVG document with one panel per decision of `spec` (in spec order, `columns` per row)
/// plotting each candidate's probability (0–1) against the epoch.
pub fn probabilities_svg(records: &[EpochRecord], spec: &SearchSpec, columns: usize) -> String {
    let (pw, ph, pad) = (220.0, 120.0, 28.0);
    let decisions = spec.decisions();
    let columns = columns.clamp(1, decisions.len().max(1));
    let rows = decisions.len().div_ceil(columns);
    let (w, h) = (columns as f64 * pw, rows as f64 * ph + 20.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="10">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="4" y="14" font-size="12">mixture probabilities per decision over {} epochs</text>"#,
        records.len()
    );
    let epochs = records.len().max(2) - 1;
    for (d, decision) in decisions.iter().enumerate() {
        let (x0, y0) = ((d % columns) as f64 * pw, 20.0 + (d / columns) as f64 * ph);
        let (left, top, iw, ih) = (x0 + pad, y0 + 14.0, pw - pad - 8.0, ph - 34.0);
        let _ = writeln!(
            s,
            r##"<text x="{left}" y="{}">{}</text><rect x="{left}" y="{top}" width="{iw}" height="{ih}" fill="none" stroke="#999"/>"##,
            y0 + 10.0,
            xml(decision.name())
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" fill="#666">1</text><text x="{}" y="{}" fill="#666">0</text>"##,
            x0 + 14.0,
            top + 8.0,
            x0 + 14.0,
            top + ih
        );
        for (c, cand) in decision.candidates().iter().enumerate() {
            let color = COLORS[c % COLORS.len()];
            let points: Vec<String> = records
                .iter()
                .enumerate()
                .filter_map(|(e, r)| {
                    let p = *r.probabilities.get(d)?.get(c)? as f64;
                    Some(format!(
                        "{:.1},{:.1}",
                        left + iw * e as f64 / epochs as f64,
                        top + ih * (1.0 - p.clamp(0.0, 1.0))
                    ))
                })
                .collect();
            if !points.is_empty() {
                let _ = writeln!(
                    s,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
                    points.join(" ")
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" fill="{color}">{}</text>"#,
                left + 4.0 + 40.0 * c as f64,
                top + ih + 12.0,
                xml(&cand.to_string())
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn xml(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

//! Writes a standalone SVG map, for eyeballing the renderer.
//!
//! ```text
//! cargo run -p dxhub-map --release --example svg -- GEOJSON OUT.svg [WIDTH] [FOCUS_CODES]
//! cargo run -p dxhub-map --release --example svg -- \
//!     data/reference/geo/vn_provinces_63_pre2025.geojson /tmp/map63.svg 720
//! cargo run -p dxhub-map --release --example svg -- \
//!     data/reference/geo/vn_provinces_63_pre2025.geojson /tmp/crop.svg 360 56,58
//! ```

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use dxhub_map::{Atlas, RenderOptions, RenderedMap};

/// Fills cycled through by feature position so neighbours usually differ.
const FILLS: [&str; 6] = [
    "#8fbcd9", "#9fcf8f", "#f2b880", "#b7a6d6", "#e6cf6e", "#83c5b8",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, rest @ ..] = args.as_slice() else {
        eprintln!("usage: svg GEOJSON OUT.svg [WIDTH] [FOCUS_CODES comma-separated]");
        return ExitCode::FAILURE;
    };
    let width = match rest.first().map(|w| w.parse::<f64>()) {
        None => RenderOptions::DEFAULT_WIDTH_PX,
        Some(Ok(w)) => w,
        Some(Err(e)) => {
            eprintln!("bad WIDTH: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = match rest.get(1) {
        Some(codes) => RenderOptions::focused(width, codes.split(',')),
        None => RenderOptions::national(width),
    };

    let text = match std::fs::read_to_string(input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let atlas = match Atlas::from_geojson(&text) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let loaded = started.elapsed();
    let started = Instant::now();
    let map = atlas.render(&options);
    let rendered = started.elapsed();

    if let Err(e) = std::fs::write(output, svg_document(&map)) {
        eprintln!("cannot write {output}: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "{output}: {} features, {}x{} px, {} bytes of path data, {} marks; load {loaded:?}, render {rendered:?}",
        map.features.len(),
        map.width,
        map.height,
        map.path_bytes(),
        map.features.iter().map(|f| f.marks).sum::<usize>(),
    );
    ExitCode::SUCCESS
}

fn svg_document(map: &RenderedMap) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="{vb}">
<rect width="{w}" height="{h}" fill="#f7fbff"/>
<g stroke="#ffffff" stroke-width="0.7" stroke-linejoin="round" paint-order="stroke">"##,
        w = map.width,
        h = map.height,
        vb = map.view_box,
    );
    for (i, f) in map.features.iter().enumerate() {
        let fill = if f.in_focus {
            "#e8743b"
        } else {
            FILLS[i % FILLS.len()]
        };
        let _ = writeln!(
            svg,
            r#"<path fill="{fill}" d="{}"><title>{} ({})</title></path>"#,
            f.d,
            escape(&f.name),
            f.code
        );
    }
    svg.push_str(
        "</g>\n<g font-family=\"sans-serif\" font-size=\"7\" text-anchor=\"middle\" dominant-baseline=\"central\" fill=\"#333\">\n",
    );
    for f in &map.features {
        // Rough fit test: text at 7 px is ~3.8 px per character. `label_room_px` is
        // the radius of free space around the label, and a flat text box can
        // poke out of a disc a little, hence 0.4 rather than 0.5 of the width.
        let text_width = f.short_name.chars().count() as f64 * 3.8;
        if f.label_room_px >= 0.4 * text_width && f.label_room_px >= 4.0 {
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}">{}</text>"#,
                f.label.0,
                f.label.1,
                escape(&f.short_name)
            );
        } else {
            let _ = writeln!(
                svg,
                r##"<circle cx="{}" cy="{}" r="0.8" fill="#c00"/>"##,
                f.label.0, f.label.1
            );
        }
    }
    svg.push_str("</g>\n</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

//! Tests against the shipped 63- and 34-province GeoJSON files.

mod common;

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Instant;

use common::parse_path;
use dxhub_map::{Atlas, FocusExtent, Point, RenderOptions, RenderedMap};

const GEO_63: &str = include_str!("../../../data/reference/geo/vn_provinces_63_pre2025.geojson");
const GEO_34: &str = include_str!("../../../data/reference/geo/vn_provinces_34_post2025.geojson");

/// Generous ceiling on national path data; the real figure is far lower, this
/// only catches a simplification that stopped working.
const MAX_PATH_BYTES: usize = 400_000;

fn atlas63() -> &'static Atlas {
    static ATLAS: OnceLock<Atlas> = OnceLock::new();
    ATLAS.get_or_init(|| Atlas::from_geojson(GEO_63).expect("63-province file loads"))
}

fn atlas34() -> &'static Atlas {
    static ATLAS: OnceLock<Atlas> = OnceLock::new();
    ATLAS.get_or_init(|| Atlas::from_geojson(GEO_34).expect("34-province file loads"))
}

fn render_timed(atlas: &Atlas, options: &RenderOptions, what: &str) -> RenderedMap {
    let started = Instant::now();
    let map = atlas.render(options);
    eprintln!(
        "{what}: {}x{} px, {} features, {} bytes of path data, {} marks, rendered in {:?}",
        map.width,
        map.height,
        map.features.len(),
        map.path_bytes(),
        map.features.iter().map(|f| f.marks).sum::<usize>(),
        started.elapsed()
    );
    map
}

fn feature<'a>(map: &'a RenderedMap, code: &str) -> &'a dxhub_map::RenderedFeature {
    map.features
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("feature {code} not rendered"))
}

/// Everything the web layer relies on for a national map.
fn check_national(atlas: &Atlas, expected: usize, what: &str) {
    assert_eq!(atlas.features().len(), expected);
    let codes: BTreeSet<&str> = atlas.codes().into_iter().collect();
    assert_eq!(codes.len(), expected, "codes are unique");
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()))
    );

    let map = render_timed(atlas, &RenderOptions::national(720.0), what);
    assert_eq!(map.features.len(), expected, "every feature is drawn");
    let rendered: BTreeSet<&str> = map.features.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(rendered, codes, "every code exactly once");
    assert!(
        map.path_bytes() < MAX_PATH_BYTES,
        "{} bytes of path data",
        map.path_bytes()
    );

    for f in &map.features {
        assert!(!f.d.is_empty(), "{} has no path data", f.code);
        assert!(f.area_px > 0.0, "{} has no area", f.code);
        // Valid path syntax, and nothing drawn outside the canvas.
        for ring in parse_path(&f.d) {
            assert!(ring.len() >= 3, "{}: degenerate ring", f.code);
            for &(x, y) in &ring {
                assert!((-0.05..=map.width + 0.05).contains(&x), "{}: x {x}", f.code);
                assert!(
                    (-0.05..=map.height + 0.05).contains(&y),
                    "{}: y {y}",
                    f.code
                );
            }
        }
        // The label, mapped back to projected units, is inside the largest part of
        // the original (unsimplified) geometry.
        let source = atlas.feature(&f.code).expect("known code");
        let p = map.from_px(f.label.0, f.label.1);
        assert!(
            source.largest_part().contains(p),
            "{} label {:?} outside its feature",
            f.code,
            f.label
        );
        assert!(
            source.largest_part().contains(source.label()),
            "{}: atlas label",
            f.code
        );
        assert!(f.label_room_px > 0.0, "{}: label has no room", f.code);
    }

    // The archipelagos stay visible: Hoàng Sa (Đà Nẵng) and Trường Sa (Khánh Hòa)
    // are drawn far east of the mainland, reefs as outlines and islets too small
    // to outline as marks.
    for (code, min_marks, min_shapes) in [("48", 3, 12), ("56", 40, 100)] {
        let f = feature(&map, code);
        assert!(f.marks >= min_marks, "{code} has only {} marks", f.marks);
        let rings = parse_path(&f.d);
        let offshore = rings.iter().filter(|r| r[0].0 > 0.6 * map.width).count();
        assert!(
            offshore >= min_shapes,
            "{code}: only {offshore} shapes offshore"
        );
    }
    // …as a cluster, not hundreds of specks: islets were merged.
    assert!(feature(&map, "56").marks < 250);
}

#[test]
fn map63_loads_and_renders() {
    check_national(atlas63(), 63, "63@720");
}

#[test]
fn map34_loads_and_renders() {
    check_national(atlas34(), 34, "34@720");
}

#[test]
fn north_is_up() {
    for atlas in [atlas63(), atlas34()] {
        let map = atlas.render(&RenderOptions::national(720.0));
        let hanoi = feature(&map, "01").label;
        let hcmc = feature(&map, "79").label;
        assert!(
            hanoi.1 < hcmc.1,
            "Hà Nội {hanoi:?} must be above TP. Hồ Chí Minh {hcmc:?}"
        );
        // Hà Nội is also west of Hồ Chí Minh City by less than 1°, and the map is
        // much taller than that: a transposed map would fail here.
        assert!((hcmc.1 - hanoi.1) > 3.0 * (hcmc.0 - hanoi.0).abs());
        // Cà Mau is the southernmost, Hà Giang / Cao Bằng far north.
        let ca_mau = feature(&map, "96").label;
        assert!(ca_mau.1 > hcmc.1);
    }
}

#[test]
fn aspect_ratio_is_the_projected_one() {
    let atlas = atlas63();
    let options = RenderOptions::national(720.0);
    let map = atlas.render(&options);
    let bbox = atlas.bbox();
    let margin = options.margin_frac * bbox.width().max(bbox.height());
    let expected = (bbox.height() + 2.0 * margin) / (bbox.width() + 2.0 * margin);
    assert_eq!(map.width, 720.0);
    // Heights are rounded up to a tenth of a pixel.
    assert!(
        (map.height / map.width - expected).abs() < 0.1 / map.width,
        "{} vs {expected}",
        map.height / map.width
    );
    assert!((map.window.height() / map.window.width() - map.height / map.width).abs() < 1e-9);
    // Vietnam (with the archipelagos) is taller than wide in a conformal projection.
    assert!(map.height > map.width);
    assert_eq!(map.view_box, format!("0 0 720 {}", map.height));

    // A different width scales, never stretches.
    let small = atlas.render(&RenderOptions::national(300.0));
    assert!((small.height / small.width - map.height / map.width).abs() < 0.1 / 300.0);
}

#[test]
fn focused_render_crops_to_the_focus() {
    let atlas = atlas63();
    let national = atlas.render(&RenderOptions::national(720.0));
    let options = RenderOptions::focused(360.0, ["24", "27"]);
    let map = render_timed(atlas, &options, "63 focus 24+27 @360");

    let focus = atlas.bbox_of(&["24", "27"]).expect("known codes");
    assert!(map.window.width() < national.window.width() / 5.0);
    assert!(map.window.min_x <= focus.min_x && focus.max_x <= map.window.max_x);
    assert!(map.window.min_y <= focus.min_y && focus.max_y <= map.window.max_y);
    let expected = focus.height() / focus.width();
    let got = map.height / map.width;
    // Margins are equal on all sides, so the ratio moves towards 1 but stays close.
    assert!((got - expected).abs() < 0.2, "{got} vs {expected}");
    assert!((map.window.height() / map.window.width() - got).abs() < 1e-9);

    let codes: BTreeSet<&str> = map.features.iter().map(|f| f.code.as_str()).collect();
    assert!(codes.contains("24") && codes.contains("27"));
    // Neighbours are context (Hà Nội, Lạng Sơn, Quảng Ninh, Hải Dương, Thái Nguyên)…
    assert!(codes.contains("01") && codes.contains("20") && codes.contains("22"));
    // …but far-away provinces are not listed.
    for far in ["79", "96", "56", "48", "10"] {
        assert!(!codes.contains(far), "{far} should be outside the crop");
    }
    assert!(map.features.len() < 20);
    for f in &map.features {
        assert_eq!(f.in_focus, f.code == "24" || f.code == "27");
        assert!(
            atlas
                .feature(&f.code)
                .expect("known")
                .bbox()
                .intersects(&map.window)
        );
        // Clipped to the canvas plus a few pixels of padding.
        for ring in parse_path(&f.d) {
            for &(x, y) in &ring {
                assert!(
                    (-5.0..=map.width + 5.0).contains(&x) && (-5.0..=map.height + 5.0).contains(&y)
                );
            }
        }
        // Every label, including recomputed ones for cut-off neighbours, is visible
        // and on the feature.
        assert!((0.0..=map.width).contains(&f.label.0) && (0.0..=map.height).contains(&f.label.1));
        let p = map.from_px(f.label.0, f.label.1);
        let on_feature = atlas
            .feature(&f.code)
            .expect("known")
            .parts()
            .iter()
            .any(|part| part.contains(p));
        assert!(
            on_feature,
            "{} label {:?} is off the feature",
            f.code, f.label
        );
    }
}

#[test]
fn focus_on_khanh_hoa_ignores_truong_sa_by_default() {
    let atlas = atlas63();
    let core = atlas.render(&RenderOptions::focused(400.0, ["56", "58"]));
    let full = atlas.render(&RenderOptions {
        focus_extent: FocusExtent::Full,
        ..RenderOptions::focused(400.0, ["56", "58"])
    });
    assert!(core.window.width() * 3.0 < full.window.width());
    assert!(
        feature(&full, "56").marks > 20,
        "Trường Sa is in the full crop"
    );
    // Only a near-shore islet or two remain as marks; the archipelago is gone.
    assert!(
        feature(&core, "56").marks < 5,
        "Trường Sa is outside the core crop"
    );

    // Same for Đà Nẵng, whose Hoàng Sa atolls are each several % of its land area.
    let core = atlas.render(&RenderOptions::focused(400.0, ["48", "49"]));
    let both = atlas.bbox_of(&["48", "49"]).expect("known");
    assert!(
        core.window.width() * 3.0 < both.width(),
        "crop must not reach Hoàng Sa"
    );
}

#[test]
fn include_restricts_features() {
    let atlas = atlas34();
    let map = atlas.render(&RenderOptions::national(500.0).with_include(["79", "75"]));
    let codes: Vec<&str> = map.features.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["75", "79"], "atlas order, only the included ones");
    // Without a focus the map is cropped to the included features.
    let both = atlas.bbox_of(&["79", "75"]).expect("known");
    assert!(map.window.width() < both.width() * 1.1);
}

#[test]
fn rendering_is_deterministic() {
    let again = Atlas::from_geojson(GEO_34).expect("loads");
    for options in [
        RenderOptions::national(720.0),
        RenderOptions::focused(320.0, ["48", "51"]),
    ] {
        let a = atlas34().render(&options);
        let b = again.render(&options);
        let c = atlas34().render(&options);
        assert_eq!(a, b);
        assert_eq!(a, c);
    }
}

#[test]
fn label_points_of_atlas_are_inside_every_largest_part() {
    for atlas in [atlas63(), atlas34()] {
        for f in atlas.features() {
            let label: Point = f.label();
            assert!(f.largest_part().contains(label), "{}", f.code());
        }
    }
}

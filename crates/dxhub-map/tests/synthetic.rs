//! Tests on small hand-made inputs: simplification, shared borders, islands and
//! every error variant.

mod common;

use std::collections::BTreeSet;

use common::{inside, parse_path};
use dxhub_map::{Atlas, MapError, RenderOptions};

fn collection(features: &[String]) -> String {
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
}

fn feature(code: &str, geometry: &str) -> String {
    format!(
        r#"{{"type":"Feature","properties":{{"code":"{code}","name":"Tỉnh {code}","short_name":"{code}"}},"geometry":{geometry}}}"#
    )
}

fn polygon(rings: &str) -> String {
    format!(r#"{{"type":"Polygon","coordinates":{rings}}}"#)
}

/// A 1°×1° square (lon 0..1, lat 0..1), clockwise as in the shipped data, with a
/// notch 0.001° deep in its southern edge — 0.1 px at 100 px wide.
const NOTCHED_SQUARE: &str = "[[[0,0],[0,1],[1,1],[1,0],[0.5,0.001],[0,0]]]";

#[test]
fn simplification_golden() {
    let atlas = Atlas::from_geojson(&collection(&[feature("01", &polygon(NOTCHED_SQUARE))]))
        .expect("valid");
    let options = RenderOptions {
        margin_frac: 0.0,
        ..RenderOptions::national(100.0)
    };
    let map = atlas.render(&options);
    // Mercator stretches 1° of latitude at the equator by a factor 1.00005.
    assert_eq!(map.view_box, "0 0 100 100.1");
    let f = &map.features[0];
    // The notch (0.1 px) is below the default tolerance (0.35 px) and goes. The
    // ring starts at its smallest vertex (north-west corner) and, being clockwise
    // in lon/lat, runs counter-clockwise on screen: east, south, west.
    assert_eq!(f.d, "M0 0l100 0 0 100-100 0z");
    assert_eq!(f.area_px, 10000.0);
    assert_eq!(f.marks, 0);
    assert!(
        (f.label.0 - 50.0).abs() < 0.5 && (f.label.1 - 50.0).abs() < 0.5,
        "{:?}",
        f.label
    );

    // A finer tolerance keeps it: one extra vertex, 0.1 px up in the middle of the
    // southern edge.
    let fine = atlas.render(&options.clone().with_tolerance(0.05));
    assert_eq!(fine.features[0].d, "M0 0l100 0 0 100-50-.1-50 .1z");
}

#[test]
fn shared_border_has_identical_vertices_on_both_sides() {
    // Two provinces split by a wiggly north-south border. Each ring starts at a
    // different place, so simplifying rings independently would pick different
    // border vertices; arc-wise simplification must not.
    let border: Vec<(f64, f64)> = (0..=200)
        .map(|i| {
            let lat = f64::from(i) * 0.005;
            let lon = 1.0 + 0.01 * (lat * 37.0).sin() + 0.004 * (lat * 151.0).cos();
            ((lon * 1e4).round() / 1e4, (lat * 1e4).round() / 1e4)
        })
        .collect();
    let pos = |(x, y): (f64, f64)| format!("[{x},{y}]");
    // West: south-west corner, up to the north-west corner, east to the border's
    // north end, down the border (north to south), and back.
    let mut west = vec![pos((0.0, 0.0)), pos((0.0, 1.0))];
    west.extend(border.iter().rev().map(|&p| pos(p)));
    west.push(pos((0.0, 0.0)));
    // East: starts at the border's south end, up the border, east, down, closed.
    let mut east: Vec<String> = border.iter().map(|&p| pos(p)).collect();
    east.extend([pos((2.0, 1.0)), pos((2.0, 0.0)), pos(border[0])]);
    let west_geom = polygon(&format!("[[{}]]", west.join(",")));
    let east_geom = polygon(&format!("[[{}]]", east.join(",")));
    let atlas = Atlas::from_geojson(&collection(&[
        feature("01", &west_geom),
        feature("02", &east_geom),
    ]))
    .expect("valid");

    let map = atlas.render(&RenderOptions::national(200.0));
    let vertices = |i: usize| -> BTreeSet<(i64, i64)> {
        parse_path(&map.features[i].d)
            .into_iter()
            .flatten()
            .map(|(x, y)| ((x * 10.0).round() as i64, (y * 10.0).round() as i64))
            .collect()
    };
    let (w, e) = (vertices(0), vertices(1));
    // Only the border is shared, so the common vertices are the border's, and
    // every vertex of either side that lies in the border zone is common.
    let common: BTreeSet<_> = w.intersection(&e).copied().collect();
    assert!(common.len() > 5, "the wiggles survive: {common:?}");
    let border_zone = |&&(x, _): &&(i64, i64)| (900..1100).contains(&x);
    let w_border: BTreeSet<_> = w.iter().filter(border_zone).copied().collect();
    let e_border: BTreeSet<_> = e.iter().filter(border_zone).copied().collect();
    assert_eq!(w_border, e_border, "both sides draw the same border");
    // Simplification did remove most of the 201 border vertices.
    assert!(common.len() < 120, "{} border vertices kept", common.len());
}

#[test]
fn tiny_islands_become_merged_marks_and_never_vanish() {
    // A mainland square plus, far offshore, a cluster of islets of ~100 m, two of
    // them within a pixel of each other.
    let islet = |lon: f64, lat: f64| {
        format!(
            "[[[{lon},{lat}],[{lon},{}],[{},{}],[{lon},{lat}]]]",
            lat + 0.001,
            lon + 0.001,
            lat + 0.001
        )
    };
    let mut parts = vec!["[[[0,0],[0,1],[1,1],[1,0],[0,0]]]".to_owned()];
    parts.push(islet(3.0, 0.2));
    parts.push(islet(3.001, 0.2005)); // merges with the previous one
    parts.push(islet(3.5, 0.6));
    parts.push(islet(3.0, -0.2));
    let geom = format!(
        r#"{{"type":"MultiPolygon","coordinates":[{}]}}"#,
        parts.join(",")
    );
    let only_islands = format!(
        r#"{{"type":"MultiPolygon","coordinates":[{}]}}"#,
        islet(2.0, 1.5)
    );
    let atlas = Atlas::from_geojson(&collection(&[
        feature("56", &geom),
        feature("57", &only_islands),
    ]))
    .expect("valid");
    let map = atlas.render(&RenderOptions::national(200.0));
    let main = &map.features[0];
    assert_eq!(main.marks, 3, "{}", main.d);
    let rings = parse_path(&main.d);
    assert_eq!(rings.len(), 4);
    // Marks are 1.2 px squares.
    for mark in &rings[1..] {
        let xs: Vec<f64> = mark.iter().map(|p| p.0).collect();
        let w = xs.iter().copied().fold(f64::MIN, f64::max)
            - xs.iter().copied().fold(f64::MAX, f64::min);
        assert!((w - 1.2).abs() < 1e-9, "{mark:?}");
    }
    // A feature made only of a sub-pixel islet is still drawn, as one mark.
    let tiny = &map.features[1];
    assert_eq!(tiny.marks, 1);
    assert!(!tiny.d.is_empty());
    assert!(
        inside(&parse_path(&tiny.d), tiny.label) || parse_path(&tiny.d)[0].contains(&tiny.label)
    );
}

#[test]
fn holes_are_kept_and_labels_avoid_them() {
    let rings =
        "[[[0,0],[0,1],[1,1],[1,0],[0,0]],[[0.2,0.2],[0.8,0.2],[0.8,0.8],[0.2,0.8],[0.2,0.2]]]";
    let atlas = Atlas::from_geojson(&collection(&[feature("01", &polygon(rings))])).expect("valid");
    let map = atlas.render(&RenderOptions {
        margin_frac: 0.0,
        ..RenderOptions::national(100.0)
    });
    let f = &map.features[0];
    let parsed = parse_path(&f.d);
    assert_eq!(parsed.len(), 2);
    assert!(
        inside(&parsed, f.label),
        "label {:?} must be on land, not in the hole",
        f.label
    );
    assert!((f.area_px - 6400.0).abs() < 20.0, "{}", f.area_px);
}

fn load_err(text: &str) -> MapError {
    match Atlas::from_geojson(text) {
        Ok(_) => panic!("expected an error for {text:.120}"),
        Err(e) => e,
    }
}

const SQUARE: &str = "[[[0,0],[0,1],[1,1],[1,0],[0,0]]]";

#[test]
fn error_invalid_json() {
    let e = load_err(r#"{"type":"FeatureCollection","features":[}"#);
    assert!(matches!(e, MapError::Json(_)), "{e:?}");
    assert!(e.to_string().starts_with("invalid JSON"));
}

#[test]
fn error_not_a_feature_collection() {
    let e = load_err(&feature("01", &polygon(SQUARE)));
    assert!(matches!(e, MapError::NotFeatureCollection(_)), "{e:?}");
    assert!(matches!(
        load_err("[1,2]"),
        MapError::NotFeatureCollection(_)
    ));
    assert!(matches!(
        load_err(r#"{"type":"FeatureCollection"}"#),
        MapError::NotFeatureCollection(_)
    ));
}

#[test]
fn error_no_features() {
    assert!(matches!(load_err(&collection(&[])), MapError::NoFeatures));
}

#[test]
fn error_missing_code() {
    let no_code = format!(
        r#"{{"type":"Feature","properties":{{"name":"X"}},"geometry":{}}}"#,
        polygon(SQUARE)
    );
    let e = load_err(&collection(&[feature("01", &polygon(SQUARE)), no_code]));
    assert!(matches!(e, MapError::MissingCode { index: 1 }), "{e:?}");
    assert!(e.to_string().contains("#1"), "{e}");
    let numeric = format!(
        r#"{{"type":"Feature","properties":{{"code":1}},"geometry":{}}}"#,
        polygon(SQUARE)
    );
    assert!(matches!(
        load_err(&collection(&[numeric])),
        MapError::MissingCode { index: 0 }
    ));
}

#[test]
fn error_duplicate_code() {
    let e = load_err(&collection(&[
        feature("01", &polygon(SQUARE)),
        feature("01", &polygon(SQUARE)),
    ]));
    assert!(
        matches!(&e, MapError::DuplicateCode { index: 1, code } if code == "01"),
        "{e:?}"
    );
}

#[test]
fn error_missing_geometry() {
    let e = load_err(&collection(&[feature("01", "null")]));
    assert!(
        matches!(&e, MapError::MissingGeometry { index: 0, code } if code == "01"),
        "{e:?}"
    );
}

#[test]
fn error_unsupported_geometry() {
    let e = load_err(&collection(&[
        feature("01", &polygon(SQUARE)),
        feature("02", r#"{"type":"Point","coordinates":[105,21]}"#),
    ]));
    assert!(
        matches!(&e, MapError::UnsupportedGeometry { index: 1, code, kind } if code == "02" && kind == "Point"),
        "{e:?}"
    );
    assert!(e.to_string().contains("Point"));
}

#[test]
fn error_invalid_coordinates() {
    for geometry in [
        r#"{"type":"Polygon","coordinates":"nope"}"#.to_owned(),
        r#"{"type":"Polygon"}"#.to_owned(),
        polygon("[[[0,0],[0,91],[1,1],[0,0]]]"),
        polygon("[[[0,0],[0],[1,1],[0,0]]]"),
        polygon("[]"),
        r#"{"type":"MultiPolygon","coordinates":[]}"#.to_owned(),
    ] {
        let e = load_err(&collection(&[feature("07", &geometry)]));
        assert!(
            matches!(&e, MapError::InvalidCoordinates { index: 0, code, .. } if code == "07"),
            "{geometry}: {e:?}"
        );
    }
}

#[test]
fn error_ring_too_short() {
    let e = load_err(&collection(&[feature(
        "01",
        &polygon("[[[0,0],[0,1],[0,0]]]"),
    )]));
    assert!(
        matches!(
            e,
            MapError::RingTooShort {
                index: 0,
                part: 0,
                ring: 0,
                positions: 3,
                ..
            }
        ),
        "{e:?}"
    );
    // Four positions, but only two distinct: still not a ring.
    let e = load_err(&collection(&[feature(
        "01",
        &polygon("[[[0,0],[0,1],[0,1],[0,0]]]"),
    )]));
    assert!(
        matches!(e, MapError::RingTooShort { positions: 3, .. }),
        "{e:?}"
    );
    // The offending ring is located: second polygon, its hole.
    let multi = r#"{"type":"MultiPolygon","coordinates":[[[[0,0],[0,1],[1,1],[0,0]]],[[[2,2],[2,3],[3,3],[2,2]],[[2.1,2.1],[2.2,2.2],[2.1,2.1]]]]}"#;
    let e = load_err(&collection(&[feature("01", multi)]));
    assert!(
        matches!(
            e,
            MapError::RingTooShort {
                part: 1,
                ring: 1,
                ..
            }
        ),
        "{e:?}"
    );
}

//! SVG map markup: the national province map and the small "where it came from" maps.

use dxhub_core::Date;
use dxhub_map::{RenderOptions, RenderedFeature, RenderedMap};
use maud::{Markup, html};

use crate::i18n::Lang;
use crate::maps::{MapVersion, Maps};

/// Average advance of a 10.5 px label character, to decide whether a label fits.
const CHAR_PX: f64 = 5.6;

fn fits(f: &RenderedFeature, text: &str) -> bool {
    f.label_room_px >= CHAR_PX * text.chars().count() as f64 * 0.4
}

/// Where the archipelagos lie, for their labels (they are drawn as clusters of marks).
const ARCHIPELAGOS: [(&str, &str, f64, f64); 2] = [
    (
        "Quần đảo Hoàng Sa",
        "Hoang Sa (Paracel) Islands",
        111.2,
        17.25,
    ),
    (
        "Quần đảo Trường Sa",
        "Truong Sa (Spratly) Islands",
        112.6,
        11.3,
    ),
];

/// The national map for `at`, every province a link to its page.
pub fn national(maps: &Maps, at: Date, lang: Lang) -> Markup {
    let version = MapVersion::on(at);
    let map = maps.national(version);
    let title = match version {
        MapVersion::Provinces63 => lang.t(
            "Bản đồ 63 tỉnh, thành phố (đến 30/06/2025)",
            "Map of the 63 provinces (until 30 June 2025)",
        ),
        MapVersion::Provinces34 => lang.t(
            "Bản đồ 34 tỉnh, thành phố (từ 01/07/2025)",
            "Map of the 34 provinces (from 1 July 2025)",
        ),
    };
    html! {
        svg.map.national viewBox=(map.view_box) role="img" aria-labelledby="map-title" xmlns="http://www.w3.org/2000/svg" {
            title #map-title { (title) }
            rect.sea x="0" y="0" width=(map.width) height=(map.height) {}
            @for (i, f) in map.features.iter().enumerate() {
                a href={ "/units/" (f.code) "?at=" (at) } {
                    path class={ "prov c" (i % 6) } d=(f.d) {
                        title { (f.name) }
                    }
                }
            }
            g.labels aria-hidden="true" {
                @for f in &map.features {
                    @if fits(f, &f.short_name) {
                        text x=(f.label.0) y=(f.label.1) { (f.short_name) }
                    }
                }
                @for (vi, en, lon, lat) in ARCHIPELAGOS {
                    @let (x, y) = map.lonlat_to_px(lon, lat);
                    text.island x=(x) y=(y) { (lang.t(vi, en)) }
                }
            }
        }
    }
}

/// How a province is drawn on a small map.
pub enum Role {
    /// The province the page is about.
    Subject,
    /// A province that merged with it (or into which it merged).
    Related,
}

/// A small map cropped to `highlight`, with neighbouring provinces as grey context.
pub fn focused(
    maps: &Maps,
    version: MapVersion,
    highlight: &[(String, Role)],
    link_at: Date,
    caption: &str,
) -> Markup {
    let codes: Vec<&str> = highlight.iter().map(|(c, _)| c.as_str()).collect();
    let map: RenderedMap = maps
        .atlas(version)
        .render(&RenderOptions::focused(360.0, &codes));
    let role = |code: &str| highlight.iter().find(|(c, _)| c == code).map(|(_, r)| r);
    html! {
        figure.minimap {
            svg.map viewBox=(map.view_box) role="img" aria-label=(caption) xmlns="http://www.w3.org/2000/svg" {
                rect.sea x="0" y="0" width=(map.width) height=(map.height) {}
                @for f in &map.features {
                    @let class = match role(&f.code) {
                        Some(Role::Subject) => "prov subject",
                        Some(Role::Related) => "prov related",
                        None => "prov context",
                    };
                    a href={ "/units/" (f.code) "?at=" (link_at) } {
                        path class=(class) d=(f.d) { title { (f.name) } }
                    }
                }
                g.labels aria-hidden="true" {
                    @for f in map.features.iter().filter(|f| role(&f.code).is_some()) {
                        @if fits(f, &f.short_name) {
                            text x=(f.label.0) y=(f.label.1) { (f.short_name) }
                        }
                    }
                }
            }
            figcaption { (caption) }
        }
    }
}

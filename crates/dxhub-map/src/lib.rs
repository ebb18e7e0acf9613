//! Server-side SVG maps of Vietnam's provinces: projects the shipped GeoJSON with
//! spherical Web Mercator and turns it into compact, simplified SVG path data.
//!
//! Build an [`Atlas`] once per GeoJSON file, then [`Atlas::render`] it as often as
//! needed — the national map or a crop around a few provinces:
//!
//! ```
//! use dxhub_map::{Atlas, RenderOptions};
//!
//! let geojson = r#"{"type":"FeatureCollection","features":[{"type":"Feature",
//!   "properties":{"code":"01","name":"Thành phố Hà Nội","short_name":"Hà Nội"},
//!   "geometry":{"type":"Polygon","coordinates":[[[105.3,21.4],[106.0,21.4],[106.0,20.6],[105.3,20.6],[105.3,21.4]]]}}]}"#;
//! let atlas = Atlas::from_geojson(geojson)?;
//! let map = atlas.render(&RenderOptions::national(300.0));
//! assert_eq!(map.width, 300.0);
//! let f = &map.features[0];
//! let svg = format!(
//!     r#"<svg viewBox="{}"><path d="{}"/><text x="{}" y="{}">{}</text></svg>"#,
//!     map.view_box, f.d, f.label.0, f.label.1, f.short_name
//! );
//! assert!(svg.starts_with("<svg viewBox=\"0 0 300 "));
//! # Ok::<(), dxhub_map::MapError>(())
//! ```
//!
//! Rendering decisions, in short:
//! - **Projection**: conformal Web Mercator, `y` flipped so north is up.
//! - **Simplification**: Douglas–Peucker in output pixels, arc by arc between
//!   topology break points, so shared borders stay gap-free.
//! - **Islands**: islets smaller than a mark become small squares, merged when
//!   closer than ~1.5 px, so Hoàng Sa and Trường Sa stay visible as clusters.
//! - **Labels**: pole of inaccessibility of each feature's largest part.
#![warn(missing_docs)]

mod atlas;
mod clip;
mod error;
mod geo;
mod label;
mod render;
mod simplify;

pub use atlas::{Atlas, Feature};
pub use error::MapError;
pub use geo::{BBox, MAX_LATITUDE, Point, Polygon, mercator};
pub use render::{FocusExtent, RenderOptions, RenderedFeature, RenderedMap};

//! Province boundaries for the pages: each map version parsed and projected once, on first
//! use, then rendered per request (cheap: the projection and topology are kept).

use std::sync::OnceLock;

use dxhub_core::Date;
use dxhub_core::units::REORG_2025;
use dxhub_map::{Atlas, RenderOptions, RenderedMap};

/// Which boundary set a date falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapVersion {
    /// 63 provinces, until 2025-06-30.
    Provinces63,
    /// 34 provinces, from 2025-07-01.
    Provinces34,
}

impl MapVersion {
    /// The boundaries in force on `day`.
    pub fn on(day: Date) -> MapVersion {
        if day < REORG_2025 {
            MapVersion::Provinces63
        } else {
            MapVersion::Provinces34
        }
    }
}

/// The two atlases, built lazily.
#[derive(Default)]
pub struct Maps {
    m63: OnceLock<Atlas>,
    m34: OnceLock<Atlas>,
    national63: OnceLock<RenderedMap>,
    national34: OnceLock<RenderedMap>,
}

/// Width of the national map's viewBox, in CSS pixels at 100 %.
pub const NATIONAL_WIDTH: f64 = 720.0;

impl Maps {
    /// The atlas of a map version. The shipped GeoJSON is checked by tests, so a failure
    /// here is a build defect; it yields an empty atlas rather than taking the server down.
    pub fn atlas(&self, v: MapVersion) -> &Atlas {
        let (cell, text) = match v {
            MapVersion::Provinces63 => (&self.m63, dxhub_reference::GEO_PROVINCES_63),
            MapVersion::Provinces34 => (&self.m34, dxhub_reference::GEO_PROVINCES_34),
        };
        cell.get_or_init(|| {
            Atlas::from_geojson(text).unwrap_or_else(|e| {
                tracing::error!(error = %e, "shipped province boundaries do not parse");
                Atlas::from_geojson(r#"{"type":"FeatureCollection","features":[]}"#)
                    .expect("an empty collection parses")
            })
        })
    }

    /// The national map of a version, rendered once.
    pub fn national(&self, v: MapVersion) -> &RenderedMap {
        let cell = match v {
            MapVersion::Provinces63 => &self.national63,
            MapVersion::Provinces34 => &self.national34,
        };
        cell.get_or_init(|| {
            self.atlas(v)
                .render(&RenderOptions::national(NATIONAL_WIDTH))
        })
    }

    /// Builds both national maps now (call from a blocking thread at start-up).
    pub fn warm(&self) {
        self.national(MapVersion::Provinces63);
        self.national(MapVersion::Provinces34);
    }
}

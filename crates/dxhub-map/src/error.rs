//! Errors raised while loading a GeoJSON document into an [`Atlas`](crate::Atlas).

/// Why a GeoJSON document could not be turned into an [`Atlas`](crate::Atlas).
///
/// Every variant that concerns one feature carries its zero-based `index` in the
/// `features` array (and its code once known) so the broken record can be found.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// The text is not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// The top-level value is not a `FeatureCollection` with a `features` array.
    #[error("not a GeoJSON FeatureCollection: {0}")]
    NotFeatureCollection(String),

    /// The collection holds no features, so there is nothing to draw.
    #[error("the FeatureCollection has no features")]
    NoFeatures,

    /// A feature lacks a non-empty string `properties.code`.
    #[error("feature #{index} has no string `properties.code`")]
    MissingCode {
        /// Position of the feature in the `features` array.
        index: usize,
    },

    /// Two features share the same code.
    #[error("feature #{index} repeats code {code:?}")]
    DuplicateCode {
        /// Position of the second feature with that code.
        index: usize,
        /// The repeated code.
        code: String,
    },

    /// A feature has no geometry object (or it has no `type`).
    #[error("feature #{index} (code {code:?}) has no geometry")]
    MissingGeometry {
        /// Position of the feature in the `features` array.
        index: usize,
        /// The feature's code.
        code: String,
    },

    /// The geometry is neither `Polygon` nor `MultiPolygon`.
    #[error(
        "feature #{index} (code {code:?}) has unsupported geometry type {kind:?}; expected Polygon or MultiPolygon"
    )]
    UnsupportedGeometry {
        /// Position of the feature in the `features` array.
        index: usize,
        /// The feature's code.
        code: String,
        /// The geometry type found.
        kind: String,
    },

    /// The `coordinates` member is malformed or holds positions that cannot be projected.
    #[error("feature #{index} (code {code:?}) has invalid coordinates: {reason}")]
    InvalidCoordinates {
        /// Position of the feature in the `features` array.
        index: usize,
        /// The feature's code.
        code: String,
        /// What is wrong with them.
        reason: String,
    },

    /// A linear ring has fewer than 4 positions (a closed triangle is the minimum).
    ///
    /// Consecutive repeated positions are not counted, so a ring of four identical
    /// positions is reported here too.
    #[error(
        "feature #{index} (code {code:?}), polygon {part}, ring {ring} has {positions} distinct positions; a ring needs at least 4 (first = last)"
    )]
    RingTooShort {
        /// Position of the feature in the `features` array.
        index: usize,
        /// The feature's code.
        code: String,
        /// Zero-based polygon index within the feature (0 for a `Polygon`).
        part: usize,
        /// Zero-based ring index within the polygon (0 = exterior).
        ring: usize,
        /// How many positions the ring has, counting the closing one.
        positions: usize,
    },
}

//! Loading GeoJSON into projected features and indexing their shared borders.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::error::MapError;
use crate::geo::{BBox, MAX_LATITUDE, Point, Polygon, Ring, project};
use crate::label::{Label, distance_to_outline, find_label};
use crate::simplify::simplify_ring;

/// A part belongs to a feature's "core" when its area is at least this fraction
/// of the largest part's…
const CORE_PART_FRACTION: f64 = 0.05;

/// …and its bounding box comes within this many times the largest part's size
/// (the larger side of its bounding box) of the largest part's bounding box.
///
/// Together they keep big near-shore islands (Phú Quốc, Cát Bà) and drop
/// far-flung islets and archipelagos, so a focused map of Khánh Hòa or Đà Nẵng is
/// cropped to the province rather than to Trường Sa or Hoàng Sa, hundreds of
/// kilometres offshore (some of whose atolls are over 5 % of Đà Nẵng's area).
const CORE_PART_REACH: f64 = 1.0;

/// Relative precision of the pole-of-inaccessibility search for atlas labels
/// (a fraction of the largest part's bounding-box size).
const LABEL_PRECISION: f64 = 1e-3;

/// One administrative unit: its identity and projected geometry.
#[derive(Debug, Clone)]
pub struct Feature {
    code: String,
    name: String,
    short_name: String,
    parts: Vec<Polygon>,
    bbox: BBox,
    core_bbox: BBox,
    largest: usize,
    label: Point,
    label_room: f64,
}

impl Feature {
    /// GSO code from `properties.code`, e.g. `"01"`.
    #[must_use]
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Full name from `properties.name` (the code when absent).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Short display name from `properties.short_name` (the full name when absent).
    #[must_use]
    pub fn short_name(&self) -> &str {
        &self.short_name
    }

    /// Polygon parts in input order, in projected units (y pointing south).
    #[must_use]
    pub fn parts(&self) -> &[Polygon] {
        &self.parts
    }

    /// Bounding box of all parts, in projected units.
    #[must_use]
    pub fn bbox(&self) -> BBox {
        self.bbox
    }

    /// Bounding box of the feature's core: its largest part plus parts of at least
    /// 5 % of that area lying within one largest-part size of it — the mainland
    /// and big near-shore islands, without far-flung islets and archipelagos.
    #[must_use]
    pub fn core_bbox(&self) -> BBox {
        self.core_bbox
    }

    /// The part with the largest area (the one that carries the label).
    #[must_use]
    pub fn largest_part(&self) -> &Polygon {
        &self.parts[self.largest]
    }

    /// Label point in projected units: inside the largest part, as far from its
    /// edges as the search could find (pole of inaccessibility).
    #[must_use]
    pub fn label(&self) -> Point {
        self.label
    }

    /// Distance from [`label`](Self::label) to the largest part's outline, in
    /// projected units — the room available for label text.
    #[must_use]
    pub fn label_room(&self) -> f64 {
        self.label_room
    }
}

/// Projected provinces, built once from a GeoJSON `FeatureCollection` and then
/// rendered any number of times with [`Atlas::render`].
#[derive(Debug, Clone)]
pub struct Atlas {
    pub(crate) features: Vec<Feature>,
    index: BTreeMap<String, usize>,
    bbox: BBox,
}

/// A feature as parsed, before polygons and labels are derived.
struct RawFeature {
    code: String,
    name: String,
    short_name: String,
    /// parts → rings → open, projected, de-duplicated points.
    parts: Vec<Vec<Vec<Point>>>,
}

impl Atlas {
    /// Parses a GeoJSON `FeatureCollection` of `Polygon`/`MultiPolygon` features,
    /// each with a string `properties.code` (and optionally `name`, `short_name`),
    /// and projects it with spherical Web Mercator.
    ///
    /// # Errors
    ///
    /// Returns a [`MapError`] naming the first problem found, with the index of
    /// the offending feature: invalid JSON, not a feature collection, no features,
    /// a missing or repeated code, a missing or unsupported geometry, malformed or
    /// unprojectable coordinates, or a ring with fewer than 4 positions.
    pub fn from_geojson(text: &str) -> Result<Self, MapError> {
        let root: Value = serde_json::from_str(text)?;
        let object = root.as_object().ok_or_else(|| {
            MapError::NotFeatureCollection("the top-level value is not an object".into())
        })?;
        match object.get("type").and_then(Value::as_str) {
            Some("FeatureCollection") => {}
            Some(other) => {
                return Err(MapError::NotFeatureCollection(format!(
                    "its `type` is {other:?}"
                )));
            }
            None => {
                return Err(MapError::NotFeatureCollection(
                    "it has no string `type`".into(),
                ));
            }
        }
        let raw_features = object
            .get("features")
            .and_then(Value::as_array)
            .ok_or_else(|| MapError::NotFeatureCollection("it has no `features` array".into()))?;
        if raw_features.is_empty() {
            return Err(MapError::NoFeatures);
        }

        let mut raws = Vec::with_capacity(raw_features.len());
        let mut index = BTreeMap::new();
        for (i, value) in raw_features.iter().enumerate() {
            let raw = parse_feature(i, value)?;
            if index.insert(raw.code.clone(), i).is_some() {
                return Err(MapError::DuplicateCode {
                    index: i,
                    code: raw.code,
                });
            }
            raws.push(raw);
        }

        let topology = index_topology(&raws);
        let features: Vec<Feature> = raws
            .into_iter()
            .zip(topology)
            .map(|(raw, parts)| {
                let parts = parts.into_iter().map(Polygon::new).collect();
                build_feature(raw.code, raw.name, raw.short_name, parts)
            })
            .collect();

        let bbox = features
            .iter()
            .map(|f| f.bbox)
            .reduce(|a, b| a.union(&b))
            .unwrap_or(BBox {
                min_x: 0.0,
                min_y: 0.0,
                max_x: 0.0,
                max_y: 0.0,
            });
        Ok(Self {
            features,
            index,
            bbox,
        })
    }

    /// Feature codes in input order.
    #[must_use]
    pub fn codes(&self) -> Vec<&str> {
        self.features.iter().map(|f| f.code.as_str()).collect()
    }

    /// All features in input order.
    #[must_use]
    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// The feature with this code, if any.
    #[must_use]
    pub fn feature(&self, code: &str) -> Option<&Feature> {
        self.index.get(code).map(|&i| &self.features[i])
    }

    /// Bounding box of every feature, in projected units.
    #[must_use]
    pub fn bbox(&self) -> BBox {
        self.bbox
    }

    /// Bounding box (projected units) of all parts of the listed features.
    /// Unknown codes are ignored; `None` when no code is known.
    #[must_use]
    pub fn bbox_of(&self, codes: &[&str]) -> Option<BBox> {
        self.union_of(codes, Feature::bbox)
    }

    /// Like [`bbox_of`](Self::bbox_of) but over each feature's
    /// [`core_bbox`](Feature::core_bbox), ignoring small outlying islands.
    #[must_use]
    pub fn core_bbox_of(&self, codes: &[&str]) -> Option<BBox> {
        self.union_of(codes, Feature::core_bbox)
    }

    fn union_of(&self, codes: &[&str], which: fn(&Feature) -> BBox) -> Option<BBox> {
        codes
            .iter()
            .filter_map(|c| self.feature(c))
            .map(which)
            .reduce(|a, b| a.union(&b))
    }
}

/// Derives boxes and the label. `parts` is never empty: `parse_feature` rejects
/// features without polygons, which is what makes the indexing below safe.
fn build_feature(code: String, name: String, short_name: String, parts: Vec<Polygon>) -> Feature {
    // First part wins ties so the choice is stable.
    let largest = parts.iter().enumerate().fold(0, |best, (i, p)| {
        if p.area() > parts[best].area() {
            i
        } else {
            best
        }
    });
    let largest_area = parts[largest].area();
    let bbox = parts
        .iter()
        .map(Polygon::bbox)
        .reduce(|a, b| a.union(&b))
        .unwrap_or(parts[largest].bbox());
    let main_box = parts[largest].bbox();
    let reach = main_box.expanded(CORE_PART_REACH * main_box.width().max(main_box.height()));
    let core_bbox = parts
        .iter()
        .filter(|p| p.area() >= CORE_PART_FRACTION * largest_area && reach.intersects(&p.bbox()))
        .map(Polygon::bbox)
        .reduce(|a, b| a.union(&b))
        .unwrap_or(parts[largest].bbox());

    let main = &parts[largest];
    let size = main.bbox().width().max(main.bbox().height());
    let label = main_label(main, size * LABEL_PRECISION);
    Feature {
        code,
        name,
        short_name,
        parts,
        bbox,
        core_bbox,
        largest,
        label: label.point,
        label_room: label.room,
    }
}

/// Label of a polygon. The search runs on a copy simplified to half the wanted
/// precision, which is much faster on detailed coastlines; the result is then
/// checked against, and its room measured on, the full geometry.
fn main_label(polygon: &Polygon, precision: f64) -> Label {
    let full: Vec<&[Point]> = polygon.rings.iter().map(|r| r.points.as_slice()).collect();
    let light: Vec<Vec<Point>> = polygon
        .rings
        .iter()
        .map(|r| simplify_ring(&r.points, &[], precision / 2.0))
        .collect();
    if light[0].len() >= 3 {
        let rings: Vec<&[Point]> = light
            .iter()
            .filter(|r| r.len() >= 3)
            .map(Vec::as_slice)
            .collect();
        let label = find_label(&rings, precision);
        let room = distance_to_outline(label.point, &full);
        if polygon.contains(label.point) && room > 0.0 {
            return Label {
                point: label.point,
                room,
            };
        }
    }
    find_label(&full, precision)
}

fn parse_feature(index: usize, value: &Value) -> Result<RawFeature, MapError> {
    let props = value.get("properties").and_then(Value::as_object);
    let text = |key: &str| {
        props
            .and_then(|p| p.get(key))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let code = text("code").ok_or(MapError::MissingCode { index })?;
    let name = text("name").unwrap_or_else(|| code.clone());
    let short_name = text("short_name").unwrap_or_else(|| name.clone());

    let geometry = value.get("geometry").and_then(Value::as_object);
    let Some(kind) = geometry.and_then(|g| g.get("type")).and_then(Value::as_str) else {
        return Err(MapError::MissingGeometry { index, code });
    };
    let coords = geometry
        .and_then(|g| g.get("coordinates"))
        .unwrap_or(&Value::Null);
    let invalid = |reason: String| MapError::InvalidCoordinates {
        index,
        code: code.clone(),
        reason,
    };

    let polygons: Vec<Vec<Vec<Vec<f64>>>> = match kind {
        "Polygon" => vec![Vec::deserialize(coords).map_err(|e| invalid(e.to_string()))?],
        "MultiPolygon" => Vec::deserialize(coords).map_err(|e| invalid(e.to_string()))?,
        other => {
            return Err(MapError::UnsupportedGeometry {
                index,
                code: code.clone(),
                kind: other.to_owned(),
            });
        }
    };
    if polygons.is_empty() {
        return Err(invalid("the MultiPolygon has no polygons".into()));
    }

    let mut parts = Vec::with_capacity(polygons.len());
    for (part, polygon) in polygons.iter().enumerate() {
        if polygon.is_empty() {
            return Err(invalid(format!("polygon {part} has no rings")));
        }
        let mut rings = Vec::with_capacity(polygon.len());
        for (ring, positions) in polygon.iter().enumerate() {
            let too_short = |positions| MapError::RingTooShort {
                index,
                code: code.clone(),
                part,
                ring,
                positions,
            };
            if positions.len() < 4 {
                return Err(too_short(positions.len()));
            }
            let mut points: Vec<Point> = Vec::with_capacity(positions.len());
            for pos in positions {
                let (lon, lat) = match pos.as_slice() {
                    [lon, lat, ..] => (*lon, *lat),
                    _ => {
                        return Err(invalid(format!(
                            "a position has {} numbers, need 2",
                            pos.len()
                        )));
                    }
                };
                if !(-180.0..=180.0).contains(&lon)
                    || !(-MAX_LATITUDE..=MAX_LATITUDE).contains(&lat)
                {
                    return Err(invalid(format!(
                        "position [{lon}, {lat}] is outside lon ±180 / lat ±{MAX_LATITUDE:.4}"
                    )));
                }
                let p = project(lon, lat);
                // Repeated positions add nothing and would confuse the topology pass.
                if points.last() != Some(&p) {
                    points.push(p);
                }
            }
            // Rings are kept open; GeoJSON repeats the first position at the end.
            if points.len() > 1 && points.first() == points.last() {
                points.pop();
            }
            if points.len() < 3 {
                return Err(too_short(points.len() + 1));
            }
            rings.push(points);
        }
        parts.push(rings);
    }
    Ok(RawFeature {
        code,
        name,
        short_name,
        parts,
    })
}

/// Finds, for every ring, the vertices where the set of rings passing through
/// them changes. The shipped data is topologically clean (neighbours use
/// bit-identical vertices along shared borders), so exact equality is the right
/// test; positions are compared by the bit patterns of their projected coordinates.
fn index_topology(raws: &[RawFeature]) -> Vec<Vec<Vec<Ring>>> {
    let all_rings = || raws.iter().flat_map(|f| f.parts.iter().flatten());

    // One entry per vertex: (position bits, ring id, global vertex index). Sorting
    // groups equal positions together, ring ids ascending within a group; this is
    // several times faster than hashing 100 000 positions.
    let mut entries: Vec<(u64, u64, u32, u32)> = Vec::new();
    for (ring_id, ring) in all_rings().enumerate() {
        for p in ring {
            let vertex = u32::try_from(entries.len()).unwrap_or(u32::MAX);
            let ring_id = u32::try_from(ring_id).unwrap_or(u32::MAX);
            entries.push((p.x.to_bits(), p.y.to_bits(), ring_id, vertex));
        }
    }
    entries.sort_unstable();

    // owners[set.0 .. set.0 + set.1] lists the rings through a vertex.
    let mut owners: Vec<u32> = Vec::with_capacity(entries.len());
    let mut set_of: Vec<(usize, usize)> = vec![(0, 0); entries.len()];
    for group in entries.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let start = owners.len();
        for &(_, _, ring_id, _) in group {
            // A ring may pass through the same position twice; list it once.
            if owners.len() == start || owners.last() != Some(&ring_id) {
                owners.push(ring_id);
            }
        }
        let set = (start, owners.len() - start);
        for &(_, _, _, vertex) in group {
            set_of[vertex as usize] = set;
        }
    }

    let mut next_vertex = 0;
    let mut make_ring = |points: &Vec<Point>| {
        let sets: Vec<&[u32]> = set_of[next_vertex..next_vertex + points.len()]
            .iter()
            .map(|&(start, len)| &owners[start..start + len])
            .collect();
        next_vertex += points.len();
        let n = sets.len();
        let breaks = (0..n)
            .filter(|&i| {
                let prev = sets[(i + n - 1) % n];
                let next = sets[(i + 1) % n];
                sets[i] != prev || sets[i] != next
            })
            .collect();
        let shared = sets.iter().any(|s| s.len() > 1);
        Ring {
            points: points.clone(),
            breaks,
            shared,
        }
    };
    // Walk the rings in the same order as when numbering the vertices.
    raws.iter()
        .map(|f| {
            f.parts
                .iter()
                .map(|part| part.iter().map(&mut make_ring).collect())
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two unit squares side by side sharing the edge x = 1.
    const TWO_SQUARES: &str = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"code":"A","name":"Alpha"},
       "geometry":{"type":"Polygon","coordinates":[[[0,0],[0,1],[0.5,1],[1,1],[1,0.5],[1,0],[0,0]]]}},
      {"type":"Feature","properties":{"code":"B"},
       "geometry":{"type":"MultiPolygon","coordinates":[[[[1,0],[1,0.5],[1,1],[2,1],[2,0],[1,0]]],
                                                         [[[3,3],[3,3.1],[3.1,3.1],[3,3]]]]}}]}"#;

    #[test]
    fn loads_and_indexes_shared_border() {
        let atlas = Atlas::from_geojson(TWO_SQUARES).expect("valid");
        assert_eq!(atlas.codes(), ["A", "B"]);
        let a = atlas.feature("A").expect("A");
        let b = atlas.feature("B").expect("B");
        assert_eq!(a.name(), "Alpha");
        assert_eq!(b.name(), "B", "name falls back to the code");
        assert_eq!(b.parts().len(), 2);
        // A's ring: (0,0) (0,1) (0.5,1) (1,1) (1,0.5) (1,0). The shared run is
        // (1,1) (1,0.5) (1,0); (1,0.5) is interior to it, so it is no break.
        let ring = &a.parts()[0].rings[0];
        assert!(ring.shared);
        assert!(!ring.breaks.contains(&4), "{:?}", ring.breaks);
        assert!(ring.breaks.contains(&3) && ring.breaks.contains(&5));
        // The island shares nothing.
        assert!(!b.parts()[1].rings[0].shared);
        assert!(b.parts()[1].rings[0].breaks.is_empty());
        // Core bbox ignores the tiny island, the full bbox does not.
        assert!(b.core_bbox().max_x < b.bbox().max_x);
        assert!(a.largest_part().contains(a.label()));
    }
}

//! Planar geometry: points, bounding boxes, the Mercator projection and ring helpers.

use std::cmp::Ordering;
use std::f64::consts::FRAC_PI_4;

use serde::{Deserialize, Serialize};

/// Latitude (degrees) at which spherical Web Mercator becomes a square world;
/// beyond it `y` grows without bound, so such positions are rejected.
pub const MAX_LATITUDE: f64 = 85.051_128_779_806_59;

/// A point in the plane.
///
/// Inside an [`Atlas`](crate::Atlas) points are in *projected units* (radians of
/// spherical Web Mercator) with `y` pointing **south**, i.e. already in SVG
/// orientation; in a [`RenderedMap`](crate::RenderedMap) they are pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// East-west coordinate, growing eastwards.
    pub x: f64,
    /// North-south coordinate, growing southwards (SVG orientation).
    pub y: f64,
}

impl Point {
    /// Builds a point.
    #[must_use]
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }

    /// Total lexicographic order (x, then y), used to pick canonical anchors so
    /// that identical geometry is always processed identically.
    pub(crate) fn lex_cmp(self, other: Self) -> Ordering {
        self.x
            .total_cmp(&other.x)
            .then_with(|| self.y.total_cmp(&other.y))
    }

    pub(crate) fn dist_sq(self, other: Self) -> f64 {
        let dx = self.x - other.x;
        let dy = self.y - other.y;
        dx * dx + dy * dy
    }
}

/// Spherical Web Mercator in its mathematical orientation.
///
/// Returns `x = λ` and `y = ln(tan(π/4 + φ/2))` in radians, with `y` growing
/// **north**. The projection is conformal, so shapes and local east-west/north-south
/// proportions are preserved. [`Atlas`](crate::Atlas) stores `(x, -y)` so that north
/// is up once drawn in SVG.
#[must_use]
pub fn mercator(lon_deg: f64, lat_deg: f64) -> Point {
    let x = lon_deg.to_radians();
    let y = (FRAC_PI_4 + lat_deg.to_radians() / 2.0).tan().ln();
    Point { x, y }
}

/// The projection used inside an atlas: Mercator with `y` flipped to point south.
pub(crate) fn project(lon_deg: f64, lat_deg: f64) -> Point {
    let p = mercator(lon_deg, lat_deg);
    // `0.0 - y` rather than `-y` keeps the equator at +0.0, so equal positions
    // always have equal bit patterns (the topology index keys on bits).
    Point::new(p.x, 0.0 - p.y)
}

/// An axis-aligned bounding box.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Smallest x (west edge).
    pub min_x: f64,
    /// Smallest y (north edge in atlas and pixel space, where y grows south).
    pub min_y: f64,
    /// Largest x (east edge).
    pub max_x: f64,
    /// Largest y (south edge).
    pub max_y: f64,
}

impl BBox {
    /// The box covering `points`, or `None` when there are none.
    #[must_use]
    pub fn from_points<'a>(points: impl IntoIterator<Item = &'a Point>) -> Option<Self> {
        let mut iter = points.into_iter();
        let first = iter.next()?;
        let mut bbox = Self {
            min_x: first.x,
            min_y: first.y,
            max_x: first.x,
            max_y: first.y,
        };
        for p in iter {
            bbox.min_x = bbox.min_x.min(p.x);
            bbox.min_y = bbox.min_y.min(p.y);
            bbox.max_x = bbox.max_x.max(p.x);
            bbox.max_y = bbox.max_y.max(p.y);
        }
        Some(bbox)
    }

    /// Extent along x.
    #[must_use]
    pub fn width(&self) -> f64 {
        self.max_x - self.min_x
    }

    /// Extent along y.
    #[must_use]
    pub fn height(&self) -> f64 {
        self.max_y - self.min_y
    }

    /// The smallest box covering both.
    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        Self {
            min_x: self.min_x.min(other.min_x),
            min_y: self.min_y.min(other.min_y),
            max_x: self.max_x.max(other.max_x),
            max_y: self.max_y.max(other.max_y),
        }
    }

    /// Whether the boxes overlap (touching edges count).
    #[must_use]
    pub fn intersects(&self, other: &Self) -> bool {
        self.min_x <= other.max_x
            && other.min_x <= self.max_x
            && self.min_y <= other.max_y
            && other.min_y <= self.max_y
    }

    /// Whether `other` lies entirely inside `self`.
    #[must_use]
    pub fn contains_bbox(&self, other: &Self) -> bool {
        self.min_x <= other.min_x
            && self.min_y <= other.min_y
            && other.max_x <= self.max_x
            && other.max_y <= self.max_y
    }

    /// Whether `p` lies inside or on the edge of the box.
    #[must_use]
    pub fn contains_point(&self, p: Point) -> bool {
        self.min_x <= p.x && p.x <= self.max_x && self.min_y <= p.y && p.y <= self.max_y
    }

    /// The box grown by `by` on every side (shrunk when `by` is negative).
    #[must_use]
    pub fn expanded(&self, by: f64) -> Self {
        Self {
            min_x: self.min_x - by,
            min_y: self.min_y - by,
            max_x: self.max_x + by,
            max_y: self.max_y + by,
        }
    }
}

/// A polygon: one exterior ring and any number of holes.
///
/// Rings are stored *open* (the closing position of GeoJSON is dropped) in
/// projected units. Exterior rings of the shipped data are clockwise in lon/lat,
/// which is counter-clockwise once `y` points south; nothing here relies on it.
#[derive(Debug, Clone)]
pub struct Polygon {
    pub(crate) rings: Vec<Ring>,
    pub(crate) bbox: BBox,
    pub(crate) area: f64,
}

/// One ring plus what the topology pass learnt about it.
#[derive(Debug, Clone)]
pub(crate) struct Ring {
    pub(crate) points: Vec<Point>,
    /// Indices of vertices where the set of rings sharing the boundary changes.
    /// Simplification keeps them fixed and simplifies the arcs between them on
    /// their own, so a border shared by two provinces simplifies identically in
    /// both and no slivers open up between neighbours.
    pub(crate) breaks: Vec<usize>,
    /// Whether any vertex is shared with another ring (i.e. the ring touches land
    /// drawn by someone else). Unshared exteriors are islands.
    pub(crate) shared: bool,
}

impl Polygon {
    /// `rings` holds the exterior first; the loader guarantees at least one ring
    /// with at least three points.
    pub(crate) fn new(rings: Vec<Ring>) -> Self {
        let bbox = BBox::from_points(rings[0].points.iter()).unwrap_or(BBox {
            min_x: 0.0,
            min_y: 0.0,
            max_x: 0.0,
            max_y: 0.0,
        });
        let area = rings
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let a = ring_area(&r.points).abs();
                if i == 0 { a } else { -a }
            })
            .sum::<f64>()
            .max(0.0);
        Self { rings, bbox, area }
    }

    /// The exterior ring (open: the first point is not repeated at the end).
    #[must_use]
    pub fn exterior(&self) -> &[Point] {
        &self.rings[0].points
    }

    /// The holes, if any (open rings).
    pub fn holes(&self) -> impl Iterator<Item = &[Point]> {
        self.rings[1..].iter().map(|r| r.points.as_slice())
    }

    /// Bounding box of the exterior ring.
    #[must_use]
    pub fn bbox(&self) -> BBox {
        self.bbox
    }

    /// Area (exterior minus holes) in square projected units.
    #[must_use]
    pub fn area(&self) -> f64 {
        self.area
    }

    /// Whether `p` lies inside the polygon: inside the exterior and outside every
    /// hole, by the even-odd rule (points exactly on an edge may go either way).
    #[must_use]
    pub fn contains(&self, p: Point) -> bool {
        self.bbox.contains_point(p) && rings_contain(self.rings.iter().map(|r| &r.points[..]), p)
    }
}

/// Signed shoelace area of an open ring (positive when counter-clockwise in a
/// y-up frame, i.e. clockwise on screen).
pub(crate) fn ring_area(ring: &[Point]) -> f64 {
    let n = ring.len();
    if n < 3 {
        return 0.0;
    }
    let mut sum = 0.0;
    for i in 0..n {
        let a = ring[i];
        let b = ring[(i + 1) % n];
        sum += a.x * b.y - b.x * a.y;
    }
    sum / 2.0
}

/// Area-weighted centroid of an open ring; the vertex mean when the area is zero.
pub(crate) fn ring_centroid(ring: &[Point]) -> Point {
    let n = ring.len();
    let (mut cx, mut cy, mut a2) = (0.0, 0.0, 0.0);
    // Shift to the first vertex so large absolute coordinates do not swamp the sums.
    let o = ring[0];
    for i in 0..n {
        let a = Point::new(ring[i].x - o.x, ring[i].y - o.y);
        let b = Point::new(ring[(i + 1) % n].x - o.x, ring[(i + 1) % n].y - o.y);
        let cross = a.x * b.y - b.x * a.y;
        a2 += cross;
        cx += (a.x + b.x) * cross;
        cy += (a.y + b.y) * cross;
    }
    if a2.abs() <= f64::EPSILON * 1e-6 {
        return vertex_mean(ring);
    }
    Point::new(o.x + cx / (3.0 * a2), o.y + cy / (3.0 * a2))
}

/// Mean of the vertices of a ring.
pub(crate) fn vertex_mean(ring: &[Point]) -> Point {
    let n = ring.len().max(1) as f64;
    let (sx, sy) = ring
        .iter()
        .fold((0.0, 0.0), |(sx, sy), p| (sx + p.x, sy + p.y));
    Point::new(sx / n, sy / n)
}

/// Even-odd point-in-polygon test over several rings (exterior and holes).
pub(crate) fn rings_contain<'a>(rings: impl IntoIterator<Item = &'a [Point]>, p: Point) -> bool {
    let mut inside = false;
    for ring in rings {
        let n = ring.len();
        for i in 0..n {
            let a = ring[i];
            let b = ring[(i + 1) % n];
            if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
                inside = !inside;
            }
        }
    }
    inside
}

/// Squared distance from `p` to the segment `a`–`b` (a point when `a == b`).
pub(crate) fn seg_dist_sq(p: Point, a: Point, b: Point) -> f64 {
    let dx = b.x - a.x;
    let dy = b.y - a.y;
    let len_sq = dx * dx + dy * dy;
    if len_sq == 0.0 {
        return p.dist_sq(a);
    }
    let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / len_sq).clamp(0.0, 1.0);
    p.dist_sq(Point::new(a.x + t * dx, a.y + t * dy))
}

/// Squared distance from `p` to the outline of an open ring.
pub(crate) fn ring_dist_sq(p: Point, ring: &[Point]) -> f64 {
    let n = ring.len();
    (0..n)
        .map(|i| seg_dist_sq(p, ring[i], ring[(i + 1) % n]))
        .fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mercator_known_values() {
        let o = mercator(0.0, 0.0);
        assert!(o.x.abs() < 1e-15 && o.y.abs() < 1e-15);
        let p = mercator(180.0, 60.0);
        assert!((p.x - std::f64::consts::PI).abs() < 1e-12);
        // ln(tan(75°)) = 1.316958...
        assert!((p.y - 1.316_958).abs() < 1e-6, "y(60°) = {}", p.y);
        // Symmetric about the equator.
        assert!((mercator(0.0, -60.0).y + p.y).abs() < 1e-12);
        // Conformal: the vertical stretch at latitude φ equals sec φ.
        let d = 1e-6;
        let dy = mercator(0.0, 45.0 + d).y - mercator(0.0, 45.0 - d).y;
        let dx = mercator(d, 45.0).x - mercator(-d, 45.0).x;
        assert!((dy / dx - 45f64.to_radians().cos().recip()).abs() < 1e-6);
    }

    #[test]
    fn atlas_projection_points_north_up() {
        let north = project(105.0, 21.0);
        let south = project(105.0, 10.0);
        assert!(north.y < south.y, "north must have the smaller SVG y");
        assert!(project(0.0, 0.0).y.abs() < 1e-15);
    }

    #[test]
    fn ring_helpers() {
        let sq = [
            Point::new(0.0, 0.0),
            Point::new(2.0, 0.0),
            Point::new(2.0, 2.0),
            Point::new(0.0, 2.0),
        ];
        assert_eq!(ring_area(&sq), 4.0);
        assert_eq!(ring_centroid(&sq), Point::new(1.0, 1.0));
        assert!(rings_contain([&sq[..]], Point::new(1.0, 1.5)));
        assert!(!rings_contain([&sq[..]], Point::new(3.0, 1.0)));
        assert_eq!(ring_dist_sq(Point::new(1.0, 3.0), &sq), 1.0);
    }
}

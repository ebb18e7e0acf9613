//! Label placement: a point well inside a polygon.
//!
//! Uses the "pole of inaccessibility" search of Mapbox's polylabel (grid cells in
//! a priority queue ordered by the best distance they could still contain), which
//! gives the interior point farthest from any edge — the spot where a text label
//! has the most room. The centroid is a poor choice for crescent-shaped provinces
//! (it can fall outside), which is why it only seeds the search.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::geo::{BBox, Point, ring_centroid, rings_contain, seg_dist_sq};

/// Upper bound on probed cells so a pathological ring cannot stall a render.
const MAX_PROBES: usize = 50_000;

/// A label position and how far it is from the nearest edge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Label {
    pub(crate) point: Point,
    /// Distance to the polygon outline (0 when only a fallback was found).
    pub(crate) room: f64,
}

struct Cell {
    center: Point,
    half: f64,
    dist: f64,
    potential: f64,
}

impl Cell {
    fn new(center: Point, half: f64, rings: &[&[Point]]) -> Self {
        let dist = signed_distance(center, rings);
        Self {
            center,
            half,
            dist,
            potential: dist + half * std::f64::consts::SQRT_2,
        }
    }
}

impl PartialEq for Cell {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Cell {}
impl PartialOrd for Cell {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cell {
    fn cmp(&self, other: &Self) -> Ordering {
        // Ties are broken on position so the search order, and thus the result,
        // never depends on heap internals.
        self.potential
            .total_cmp(&other.potential)
            .then_with(|| other.center.lex_cmp(self.center))
    }
}

/// Unsigned distance from `p` to the nearest edge of any ring.
pub(crate) fn distance_to_outline(p: Point, rings: &[&[Point]]) -> f64 {
    let mut min_sq = f64::INFINITY;
    for ring in rings {
        let n = ring.len();
        for i in 0..n {
            min_sq = min_sq.min(seg_dist_sq(p, ring[i], ring[(i + 1) % n]));
        }
    }
    min_sq.sqrt()
}

/// Distance from `p` to the outline, positive inside the polygon.
fn signed_distance(p: Point, rings: &[&[Point]]) -> f64 {
    let d = distance_to_outline(p, rings);
    if rings_contain(rings.iter().copied(), p) {
        d
    } else {
        -d
    }
}

/// Finds a label point inside the polygon made of `rings` (exterior first).
///
/// `precision` is in the rings' units. The result is guaranteed to be inside
/// whenever the polygon has a non-degenerate interior: if the search somehow ends
/// outside, the midpoint of the widest interior span on a horizontal scan line is
/// used instead.
pub(crate) fn find_label(rings: &[&[Point]], precision: f64) -> Label {
    let exterior = rings[0];
    let Some(bbox) = BBox::from_points(exterior.iter()) else {
        return Label {
            point: Point::new(0.0, 0.0),
            room: 0.0,
        };
    };
    let cell_size = bbox.width().min(bbox.height()).max(precision);
    if cell_size.is_nan() || cell_size <= 0.0 {
        return Label {
            point: exterior[0],
            room: 0.0,
        };
    }
    let half = cell_size / 2.0;

    let mut best = Cell::new(ring_centroid(exterior), 0.0, rings);
    let center = Cell::new(
        Point::new(
            bbox.min_x + bbox.width() / 2.0,
            bbox.min_y + bbox.height() / 2.0,
        ),
        0.0,
        rings,
    );
    if center.dist > best.dist {
        best = center;
    }

    let mut queue = BinaryHeap::new();
    let mut y = bbox.min_y;
    while y < bbox.max_y {
        let mut x = bbox.min_x;
        while x < bbox.max_x {
            queue.push(Cell::new(Point::new(x + half, y + half), half, rings));
            x += cell_size;
        }
        y += cell_size;
    }

    let mut probes = 0;
    while let Some(cell) = queue.pop() {
        if cell.dist > best.dist {
            best = Cell { half: 0.0, ..cell };
        }
        if cell.potential - best.dist <= precision || probes >= MAX_PROBES {
            continue;
        }
        let h = cell.half / 2.0;
        for (dx, dy) in [(-h, -h), (h, -h), (-h, h), (h, h)] {
            let c = Point::new(cell.center.x + dx, cell.center.y + dy);
            queue.push(Cell::new(c, h, rings));
            probes += 1;
        }
    }

    if best.dist > 0.0 {
        return Label {
            point: best.center,
            room: best.dist,
        };
    }
    scanline_label(rings, &bbox).map_or(
        Label {
            point: exterior[0],
            room: 0.0,
        },
        |point| Label {
            point,
            room: signed_distance(point, rings).max(0.0),
        },
    )
}

/// Midpoint of the widest interior span on a horizontal line through the
/// centroid (or, failing that, through the middle of the bounding box).
fn scanline_label(rings: &[&[Point]], bbox: &BBox) -> Option<Point> {
    let candidates = [ring_centroid(rings[0]).y, bbox.min_y + bbox.height() / 2.0];
    for y in candidates {
        let mut xs = Vec::new();
        for ring in rings {
            let n = ring.len();
            for i in 0..n {
                let (a, b) = (ring[i], ring[(i + 1) % n]);
                // Half-open rule so a vertex on the line is counted once.
                if (a.y > y) != (b.y > y) {
                    xs.push(a.x + (y - a.y) / (b.y - a.y) * (b.x - a.x));
                }
            }
        }
        xs.sort_by(f64::total_cmp);
        let widest = xs
            .chunks_exact(2)
            .map(|span| (span[1] - span[0], span[0]))
            .filter(|(w, _)| *w > 0.0)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((w, x0)) = widest {
            let p = Point::new(x0 + w / 2.0, y);
            if rings_contain(rings.iter().copied(), p) {
                return Some(p);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_of_c_shape_is_inside() {
        // A "C": its centroid lies in the empty bite, so it must not be used.
        let c = vec![
            Point::new(0.0, 0.0),
            Point::new(10.0, 0.0),
            Point::new(10.0, 2.0),
            Point::new(2.0, 2.0),
            Point::new(2.0, 8.0),
            Point::new(10.0, 8.0),
            Point::new(10.0, 10.0),
            Point::new(0.0, 10.0),
        ];
        let centroid = ring_centroid(&c);
        assert!(
            !rings_contain([&c[..]], centroid),
            "test needs an outside centroid"
        );
        let label = find_label(&[&c], 0.01);
        assert!(rings_contain([&c[..]], label.point), "{label:?}");
        assert!(
            label.room > 0.9,
            "label should sit in the thick spine: {label:?}"
        );
    }

    #[test]
    fn label_avoids_holes() {
        let outer = vec![
            Point::new(0.0, 0.0),
            Point::new(10.0, 0.0),
            Point::new(10.0, 10.0),
            Point::new(0.0, 10.0),
        ];
        let hole = vec![
            Point::new(3.0, 3.0),
            Point::new(3.0, 7.0),
            Point::new(7.0, 7.0),
            Point::new(7.0, 3.0),
        ];
        let label = find_label(&[&outer, &hole], 0.01);
        assert!(
            rings_contain([&outer[..], &hole[..]], label.point),
            "{label:?}"
        );
    }
}

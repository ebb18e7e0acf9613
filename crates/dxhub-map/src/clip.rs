//! Sutherland–Hodgman clipping of a ring against an axis-aligned rectangle.
//!
//! Used for focused renders so that neighbouring provinces that only peek into the
//! crop window do not ship their whole (zoomed-in, hence detailed) outline. The
//! algorithm can leave zero-width "bridges" along the clip edges when a concave
//! ring is cut in several pieces; the renderer clips to a rectangle a few pixels
//! larger than the viewBox, so those bridges are never visible.

use crate::geo::{BBox, Point};

#[derive(Clone, Copy)]
enum Edge {
    Left(f64),
    Right(f64),
    Top(f64),
    Bottom(f64),
}

impl Edge {
    fn inside(self, p: Point) -> bool {
        match self {
            Edge::Left(x) => p.x >= x,
            Edge::Right(x) => p.x <= x,
            Edge::Top(y) => p.y >= y,
            Edge::Bottom(y) => p.y <= y,
        }
    }

    /// Intersection of segment `a`–`b` with the edge line; only called when the
    /// segment crosses it, so the denominator is non-zero.
    fn intersect(self, a: Point, b: Point) -> Point {
        match self {
            Edge::Left(x) | Edge::Right(x) => {
                let t = (x - a.x) / (b.x - a.x);
                Point::new(x, a.y + t * (b.y - a.y))
            }
            Edge::Top(y) | Edge::Bottom(y) => {
                let t = (y - a.y) / (b.y - a.y);
                Point::new(a.x + t * (b.x - a.x), y)
            }
        }
    }
}

/// Clips an open ring to `rect`. Returns an empty vector when nothing is left.
pub(crate) fn clip_ring(ring: &[Point], rect: &BBox) -> Vec<Point> {
    let mut current = ring.to_vec();
    let mut next = Vec::with_capacity(ring.len() + 4);
    for edge in [
        Edge::Left(rect.min_x),
        Edge::Right(rect.max_x),
        Edge::Top(rect.min_y),
        Edge::Bottom(rect.max_y),
    ] {
        if current.is_empty() {
            break;
        }
        next.clear();
        let n = current.len();
        for i in 0..n {
            let a = current[(i + n - 1) % n];
            let b = current[i];
            match (edge.inside(a), edge.inside(b)) {
                (true, true) => next.push(b),
                (true, false) => next.push(edge.intersect(a, b)),
                (false, true) => {
                    next.push(edge.intersect(a, b));
                    next.push(b);
                }
                (false, false) => {}
            }
        }
        std::mem::swap(&mut current, &mut next);
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::ring_area;

    #[test]
    fn clips_square_to_quarter() {
        let sq = vec![
            Point::new(0.0, 0.0),
            Point::new(4.0, 0.0),
            Point::new(4.0, 4.0),
            Point::new(0.0, 4.0),
        ];
        let rect = BBox {
            min_x: 2.0,
            min_y: 2.0,
            max_x: 10.0,
            max_y: 10.0,
        };
        let clipped = clip_ring(&sq, &rect);
        assert!((ring_area(&clipped) - 4.0).abs() < 1e-12);
        let outside = BBox {
            min_x: 5.0,
            min_y: 5.0,
            max_x: 6.0,
            max_y: 6.0,
        };
        assert!(clip_ring(&sq, &outside).is_empty());
    }
}

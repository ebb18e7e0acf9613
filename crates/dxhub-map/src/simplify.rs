//! Douglas–Peucker simplification of rings, arc by arc.
//!
//! Provinces share borders. If every ring were simplified on its own, the two
//! copies of a border would keep different vertices and thin gaps/overlaps would
//! open between neighbours. Instead each ring is cut at its topology break points
//! (see [`Ring::breaks`](crate::geo::Ring)) and every arc is simplified in a
//! canonical direction, so both copies of a shared arc produce the same vertices.

use std::cmp::Ordering;

use crate::geo::{Point, seg_dist_sq};

/// Simplifies an open ring to `tolerance` (same units as the points).
///
/// `breaks` are vertex indices that must be kept; arcs between consecutive breaks
/// are simplified independently. Without breaks the ring is anchored at its
/// lexicographically smallest vertex and the vertex farthest from it, which does
/// not depend on where the ring happens to start.
pub(crate) fn simplify_ring(points: &[Point], breaks: &[usize], tolerance: f64) -> Vec<Point> {
    let n = points.len();
    if tolerance <= 0.0 || n <= 3 {
        return points.to_vec();
    }
    let anchors = if breaks.is_empty() {
        free_ring_anchors(points)
    } else {
        breaks.to_vec()
    };
    let tol_sq = tolerance * tolerance;
    let mut out = Vec::with_capacity(n / 2);
    let mut arc = Vec::new();
    for (k, &start) in anchors.iter().enumerate() {
        let end = anchors[(k + 1) % anchors.len()];
        arc.clear();
        // Walk forward cyclically from `start` to `end`; with a single anchor this
        // is the whole ring, closed back on itself.
        let len = if end > start {
            end - start
        } else {
            end + n - start
        };
        arc.extend((0..=len).map(|i| points[(start + i) % n]));
        let simplified = simplify_arc(&arc, tol_sq);
        // The arc's last vertex is the next arc's first.
        out.extend_from_slice(&simplified[..simplified.len() - 1]);
    }
    out
}

/// Two anchors for a ring with no break points: its smallest vertex and the vertex
/// farthest from it (ties resolved lexicographically), in ring order.
fn free_ring_anchors(points: &[Point]) -> Vec<usize> {
    let (first, &origin) = points
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.lex_cmp(*b.1))
        .unwrap_or((0, &points[0]));
    let mut far = first;
    let mut far_d = -1.0;
    for (i, p) in points.iter().enumerate() {
        let d = p.dist_sq(origin);
        if d > far_d || (d == far_d && p.lex_cmp(points[far]) == Ordering::Less) {
            far = i;
            far_d = d;
        }
    }
    if far == first {
        vec![first]
    } else if far < first {
        vec![far, first]
    } else {
        vec![first, far]
    }
}

/// Simplifies an open polyline keeping both ends, processing it in a canonical
/// direction so that the reversed polyline yields the reversed result.
fn simplify_arc(arc: &[Point], tol_sq: f64) -> Vec<Point> {
    let n = arc.len();
    if n <= 2 {
        return arc.to_vec();
    }
    let forward = match arc[0].lex_cmp(arc[n - 1]) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => arc[1].lex_cmp(arc[n - 2]) != Ordering::Greater,
    };
    if forward {
        douglas_peucker(arc, tol_sq)
    } else {
        let reversed: Vec<Point> = arc.iter().rev().copied().collect();
        let mut out = douglas_peucker(&reversed, tol_sq);
        out.reverse();
        out
    }
}

/// Classic Douglas–Peucker with an explicit stack (no recursion depth limits).
/// Distances are to the segment, not the infinite line, so closed arcs (first ==
/// last) and back-tracking spikes are handled.
pub(crate) fn douglas_peucker(points: &[Point], tol_sq: f64) -> Vec<Point> {
    let n = points.len();
    if n <= 2 {
        return points.to_vec();
    }
    let mut keep = vec![false; n];
    keep[0] = true;
    keep[n - 1] = true;
    let mut stack = vec![(0, n - 1)];
    while let Some((first, last)) = stack.pop() {
        let (a, b) = (points[first], points[last]);
        let mut max_d = -1.0;
        let mut index = first;
        for (i, &p) in points.iter().enumerate().take(last).skip(first + 1) {
            let d = seg_dist_sq(p, a, b);
            if d > max_d {
                max_d = d;
                index = i;
            }
        }
        if max_d > tol_sq {
            keep[index] = true;
            if index - first > 1 {
                stack.push((first, index));
            }
            if last - index > 1 {
                stack.push((index, last));
            }
        }
    }
    points
        .iter()
        .zip(&keep)
        .filter_map(|(p, &k)| k.then_some(*p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(c: &[(f64, f64)]) -> Vec<Point> {
        c.iter().map(|&(x, y)| Point::new(x, y)).collect()
    }

    #[test]
    fn douglas_peucker_golden() {
        // A zig-zag line around a peak. At tolerance 0.5 the ±0.2 wiggles next to
        // the ends vanish, while (2, -0.1) and (4, 0.1) stay: they are ~1.4 away
        // from the chords to the peak.
        let line = pts(&[
            (0.0, 0.0),
            (1.0, 0.2),
            (2.0, -0.1),
            (3.0, 3.0),
            (4.0, 0.1),
            (5.0, -0.2),
            (6.0, 0.0),
        ]);
        assert_eq!(
            douglas_peucker(&line, 0.25),
            pts(&[(0.0, 0.0), (2.0, -0.1), (3.0, 3.0), (4.0, 0.1), (6.0, 0.0)])
        );
        // A tolerance above those distances keeps only the peak.
        assert_eq!(
            douglas_peucker(&line, 1.5 * 1.5),
            pts(&[(0.0, 0.0), (3.0, 3.0), (6.0, 0.0)])
        );
        // With a tiny tolerance nothing is removed.
        assert_eq!(douglas_peucker(&line, 1e-6), line);
    }

    #[test]
    fn ring_golden() {
        // A 10×10 square with a small notch (depth 0.2) on its bottom edge and an
        // extra collinear vertex on the right edge.
        let ring = pts(&[
            (0.0, 0.0),
            (4.0, 0.0),
            (5.0, 0.2),
            (6.0, 0.0),
            (10.0, 0.0),
            (10.0, 5.0),
            (10.0, 10.0),
            (0.0, 10.0),
        ]);
        let s = simplify_ring(&ring, &[], 0.5);
        assert_eq!(
            s,
            pts(&[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)])
        );
        // The notch survives a tolerance smaller than its depth.
        let s = simplify_ring(&ring, &[], 0.1);
        assert_eq!(
            s,
            pts(&[
                (0.0, 0.0),
                (4.0, 0.0),
                (5.0, 0.2),
                (6.0, 0.0),
                (10.0, 0.0),
                (10.0, 10.0),
                (0.0, 10.0)
            ])
        );
        // Break points are always kept.
        let s = simplify_ring(&ring, &[1, 5], 0.5);
        assert!(s.contains(&Point::new(4.0, 0.0)) && s.contains(&Point::new(10.0, 5.0)));
    }

    #[test]
    fn shared_arc_simplifies_identically_both_ways() {
        let arc: Vec<Point> = (0..50)
            .map(|i| {
                let t = f64::from(i) / 5.0;
                Point::new(t, (t * 1.7).sin() * 0.8)
            })
            .collect();
        let forward = simplify_arc(&arc, 0.05 * 0.05);
        let reversed: Vec<Point> = arc.iter().rev().copied().collect();
        let mut backward = simplify_arc(&reversed, 0.05 * 0.05);
        backward.reverse();
        assert_eq!(forward, backward);
    }

    #[test]
    fn free_ring_start_does_not_matter() {
        let ring: Vec<Point> = (0..40)
            .map(|i| {
                let a = f64::from(i) / 40.0 * std::f64::consts::TAU;
                let r = 10.0 + (a * 5.0).sin();
                Point::new(r * a.cos(), r * a.sin())
            })
            .collect();
        let a = simplify_ring(&ring, &[], 0.3);
        let mut rotated = ring.clone();
        rotated.rotate_left(17);
        let b = simplify_ring(&rotated, &[], 0.3);
        let mut a_sorted = a.clone();
        let mut b_sorted = b.clone();
        a_sorted.sort_by(|p, q| p.lex_cmp(*q));
        b_sorted.sort_by(|p, q| p.lex_cmp(*q));
        assert_eq!(a_sorted, b_sorted);
        assert!(a.len() < ring.len());
    }
}

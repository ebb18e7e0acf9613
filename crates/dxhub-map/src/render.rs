//! Rendering an [`Atlas`] into pixel-space SVG path data.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::atlas::{Atlas, Feature};
use crate::clip::clip_ring;
use crate::geo::{BBox, Point, project, ring_area, ring_dist_sq, vertex_mean};
use crate::label::find_label;
use crate::simplify::simplify_ring;

/// Features whose pre-computed label lies closer than this to the viewBox edge
/// (or outside it) get a label recomputed on their visible part instead.
const LABEL_EDGE_PX: f64 = 4.0;

/// Rings are clipped to the viewBox grown by this many pixels: enough that the
/// zero-width seams clipping leaves along the clip edge, and their strokes, stay
/// out of sight.
const CLIP_PAD_PX: f64 = 4.0;

/// Which extent of the focus features a focused render crops to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum FocusExtent {
    /// Each feature's [`core_bbox`](Feature::core_bbox): mainland and large
    /// islands only. A crop on Khánh Hòa shows the province, not the whole
    /// Trường Sa area 500 km offshore.
    #[default]
    Core,
    /// Each feature's full [`bbox`](Feature::bbox), every islet included.
    Full,
}

/// What to render and how finely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderOptions {
    /// Output width in pixels; the height follows from the projected aspect ratio.
    pub width_px: f64,
    /// Crop to the bounding box of these codes (plus margin). `None` shows every
    /// included feature. Unknown codes are ignored; if none is known the render
    /// falls back to the full extent.
    pub focus: Option<Vec<String>>,
    /// Which bounding box of the focus features to crop to.
    pub focus_extent: FocusExtent,
    /// Margin around the cropped box, as a fraction of its larger side.
    pub margin_frac: f64,
    /// Draw only these features (`None` = all). Without `focus`, the map is
    /// cropped to them.
    pub include: Option<Vec<String>>,
    /// Douglas–Peucker tolerance in output pixels.
    pub tolerance_px: f64,
    /// Rings enclosing less than this many square pixels after simplification are
    /// dropped (islands become marks instead, see `mark_px`).
    pub min_area_px: f64,
    /// Side of the square mark drawn for an island smaller than a mark (`mark_px²`).
    pub mark_px: f64,
    /// Island marks whose centres are within this many pixels (on each axis) of an
    /// earlier mark's centre are merged into it.
    pub mark_merge_px: f64,
    /// An island mark is only drawn when at least this far (pixels) from the
    /// feature's drawn outline; closer islets would merely fuzz the coastline.
    /// A feature with no outline drawn keeps all its marks, so it never vanishes.
    pub offshore_px: f64,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            width_px: Self::DEFAULT_WIDTH_PX,
            focus: None,
            focus_extent: FocusExtent::Core,
            margin_frac: 0.01,
            include: None,
            tolerance_px: 0.35,
            min_area_px: 0.3,
            mark_px: 1.2,
            mark_merge_px: 1.5,
            offshore_px: 2.0,
        }
    }
}

impl RenderOptions {
    /// Default output width in pixels.
    pub const DEFAULT_WIDTH_PX: f64 = 720.0;

    /// Default margin of focused (cropped) maps, as a fraction of the larger side.
    pub const FOCUS_MARGIN_FRAC: f64 = 0.08;

    /// The whole country at `width_px`.
    #[must_use]
    pub fn national(width_px: f64) -> Self {
        Self {
            width_px,
            ..Self::default()
        }
    }

    /// A map cropped to `codes` (with their neighbours as context) at `width_px`.
    #[must_use]
    pub fn focused<I, S>(width_px: f64, codes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            width_px,
            focus: Some(codes.into_iter().map(|c| c.as_ref().to_owned()).collect()),
            margin_frac: Self::FOCUS_MARGIN_FRAC,
            ..Self::default()
        }
    }

    /// Restricts the render to these features.
    #[must_use]
    pub fn with_include<I, S>(mut self, codes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.include = Some(codes.into_iter().map(|c| c.as_ref().to_owned()).collect());
        self
    }

    /// Sets the simplification tolerance in pixels.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance_px: f64) -> Self {
        self.tolerance_px = tolerance_px;
        self
    }

    /// Replaces nonsensical numbers (NaN, negative, zero sizes) by defaults so a
    /// render always produces something drawable.
    fn sanitized(&self) -> Self {
        let d = Self::default();
        let pick = |v: f64, fallback: f64, ok: fn(f64) -> bool| {
            if v.is_finite() && ok(v) { v } else { fallback }
        };
        Self {
            width_px: (pick(self.width_px, d.width_px, |v| v >= 1.0) * 10.0).round() / 10.0,
            focus: self.focus.clone(),
            focus_extent: self.focus_extent,
            margin_frac: pick(self.margin_frac, 0.0, |v| v >= 0.0),
            include: self.include.clone(),
            tolerance_px: pick(self.tolerance_px, d.tolerance_px, |v| v >= 0.0),
            min_area_px: pick(self.min_area_px, d.min_area_px, |v| v >= 0.0),
            mark_px: pick(self.mark_px, d.mark_px, |v| v >= 0.1),
            mark_merge_px: pick(self.mark_merge_px, d.mark_merge_px, |v| v >= 0.0),
            offshore_px: pick(self.offshore_px, d.offshore_px, |v| v >= 0.0),
        }
    }
}

/// A rendered map: pixel-space path data for an SVG with
/// `viewBox="0 0 width height"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedMap {
    /// Width in pixels (the viewBox width).
    pub width: f64,
    /// Height in pixels (the viewBox height), from the projected aspect ratio.
    pub height: f64,
    /// Ready-made `viewBox` attribute value, e.g. `"0 0 720 842.3"`.
    pub view_box: String,
    /// Drawn features, in atlas order.
    pub features: Vec<RenderedFeature>,
    /// The projected box shown (atlas units, y pointing south).
    pub window: BBox,
    /// Pixels per projected unit.
    pub scale: f64,
}

impl RenderedMap {
    /// Pixel position of a projected atlas point (unrounded).
    #[must_use]
    pub fn to_px(&self, p: Point) -> (f64, f64) {
        (
            (p.x - self.window.min_x) * self.scale,
            (p.y - self.window.min_y) * self.scale,
        )
    }

    /// Pixel position of a longitude/latitude in degrees (for extra markers such
    /// as a city dot). May fall outside the viewBox.
    #[must_use]
    pub fn lonlat_to_px(&self, lon: f64, lat: f64) -> (f64, f64) {
        self.to_px(project(lon, lat))
    }

    /// Projected atlas point under a pixel position (inverse of [`to_px`](Self::to_px)).
    #[must_use]
    pub fn from_px(&self, x: f64, y: f64) -> Point {
        Point::new(
            self.window.min_x + x / self.scale,
            self.window.min_y + y / self.scale,
        )
    }

    /// Total bytes of path data over all features.
    #[must_use]
    pub fn path_bytes(&self) -> usize {
        self.features.iter().map(|f| f.d.len()).sum()
    }
}

/// One feature of a [`RenderedMap`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedFeature {
    /// GSO code, e.g. `"01"`.
    pub code: String,
    /// Full name.
    pub name: String,
    /// Short display name.
    pub short_name: String,
    /// SVG path data in viewBox pixels (never empty): absolute `M` per ring,
    /// relative `l` segments, `z`; island marks as small squares. Holes run
    /// opposite to their exterior, so both `nonzero` and `evenodd` fill work.
    pub d: String,
    /// A point inside the feature's largest visible part, good for a text label.
    pub label: (f64, f64),
    /// Distance in pixels from `label` to the nearest edge of that part: a text
    /// label about twice this wide fits inside the feature.
    pub label_room_px: f64,
    /// Drawn polygon area in square pixels (island marks excluded).
    pub area_px: f64,
    /// Number of island marks in `d`.
    pub marks: usize,
    /// Whether the feature is one of the focus codes.
    pub in_focus: bool,
}

/// Placement of the projected window on the pixel canvas.
struct Frame {
    window: BBox,
    scale: f64,
    view: BBox,
    clip: BBox,
}

impl Frame {
    fn to_px(&self, p: Point) -> Point {
        Point::new(
            (p.x - self.window.min_x) * self.scale,
            (p.y - self.window.min_y) * self.scale,
        )
    }
}

/// A ring ready for output: integer tenths of a pixel.
type TenthsRing = Vec<(i64, i64)>;

impl Atlas {
    /// Renders the atlas (or a crop of it) to SVG path data.
    ///
    /// Deterministic: the same atlas and options always give the same bytes.
    #[must_use]
    pub fn render(&self, options: &RenderOptions) -> RenderedMap {
        let opts = options.sanitized();
        let included: Vec<&Feature> = match &opts.include {
            Some(codes) => self
                .features
                .iter()
                .filter(|f| codes.iter().any(|c| c == f.code()))
                .collect(),
            None => self.features.iter().collect(),
        };
        let base = included
            .iter()
            .map(|f| f.bbox())
            .reduce(|a, b| a.union(&b))
            .unwrap_or(self.bbox());
        let focus: Vec<&str> = opts.focus.iter().flatten().map(String::as_str).collect();
        let target = match opts.focus_extent {
            FocusExtent::Core => self.core_bbox_of(&focus),
            FocusExtent::Full => self.bbox_of(&focus),
        }
        .unwrap_or(base);

        let frame = frame_for(&target, &opts);
        let width = frame.view.max_x;
        let height = frame.view.max_y;
        let features = included
            .into_iter()
            .filter(|f| f.bbox().intersects(&frame.window))
            .filter_map(|f| render_feature(f, &frame, &opts, focus.contains(&f.code())))
            .collect();
        RenderedMap {
            width,
            height,
            view_box: format!(
                "0 0 {} {}",
                tenths_str(to_tenths(width)),
                tenths_str(to_tenths(height))
            ),
            features,
            window: frame.window,
            scale: frame.scale,
        }
    }
}

/// Fits `target` plus margin to the requested width. The height is rounded up to
/// a tenth of a pixel and the window extended to match, so the viewBox aspect
/// ratio is exactly the window's: nothing is ever stretched.
fn frame_for(target: &BBox, opts: &RenderOptions) -> Frame {
    let margin = opts.margin_frac * target.width().max(target.height());
    let mut window = target.expanded(margin);
    // A single point (or a zero-width strip) still needs a finite scale.
    let min_side = 1e-6;
    if window.width() < min_side {
        let grow = (min_side - window.width()) / 2.0;
        window.min_x -= grow;
        window.max_x += grow;
    }
    if window.height() < min_side {
        let grow = (min_side - window.height()) / 2.0;
        window.min_y -= grow;
        window.max_y += grow;
    }
    let width = opts.width_px;
    let scale = width / window.width();
    // The small epsilon stops float noise (842.0000001) from adding a tenth.
    let height = ((window.height() * scale * 10.0 - 1e-6).ceil() / 10.0).max(0.1);
    window.max_y = window.min_y + height / scale;
    let view = BBox {
        min_x: 0.0,
        min_y: 0.0,
        max_x: width,
        max_y: height,
    };
    Frame {
        window,
        scale,
        view,
        clip: view.expanded(CLIP_PAD_PX),
    }
}

/// A polygon part that made it onto the canvas.
struct DrawnPart {
    /// Exterior then holes, in pixels (after rounding).
    rings: Vec<Vec<Point>>,
    bbox: BBox,
}

fn render_feature(
    feature: &Feature,
    frame: &Frame,
    opts: &RenderOptions,
    in_focus: bool,
) -> Option<RenderedFeature> {
    let mut path = PathWriter::default();
    let mut area_px = 0.0;
    let mut drawn: Vec<DrawnPart> = Vec::new();
    // Centres of islands too small to draw as outlines.
    let mut specks: Vec<Point> = Vec::new();
    let mark_area = opts.mark_px * opts.mark_px;

    for part in feature.parts() {
        if !part.bbox().intersects(&frame.window) {
            continue;
        }
        // The transform is a positive scale plus shift, so corners map to corners.
        let (lo, hi) = (
            frame.to_px(Point::new(part.bbox().min_x, part.bbox().min_y)),
            frame.to_px(Point::new(part.bbox().max_x, part.bbox().max_y)),
        );
        let bbox_px = BBox {
            min_x: lo.x,
            min_y: lo.y,
            max_x: hi.x,
            max_y: hi.y,
        };
        let needs_clip = !frame.clip.contains_bbox(&bbox_px);
        let mut rings: Vec<(TenthsRing, f64)> = Vec::with_capacity(part.rings.len());
        for (i, ring) in part.rings.iter().enumerate() {
            let px: Vec<Point> = ring.points.iter().map(|&p| frame.to_px(p)).collect();
            let is_island = i == 0 && !ring.shared;
            // Islands smaller than a mark would render as a fleck smaller than the
            // mark, or vanish: draw them as marks so they stay uniformly visible.
            if is_island && ring_area(&px).abs() < mark_area {
                push_speck(&mut specks, &px, frame);
                break;
            }
            let simplified = simplify_ring(&px, &ring.breaks, opts.tolerance_px);
            let clipped = if needs_clip {
                clip_ring(&simplified, &frame.clip)
            } else {
                simplified
            };
            let cleaned = round_and_clean(&clipped);
            let area = tenths_area(&cleaned);
            if cleaned.len() < 3 || area < opts.min_area_px {
                if i == 0 {
                    // The exterior is gone, so the whole part is; an island still
                    // gets a mark, a sliver of land between neighbours is dropped.
                    if is_island {
                        push_speck(&mut specks, &px, frame);
                    }
                    break;
                }
                continue;
            }
            rings.push((cleaned, area));
        }
        if rings.is_empty() {
            continue;
        }
        let mut part_rings = Vec::with_capacity(rings.len());
        for (i, (ring, area)) in rings.iter().enumerate() {
            area_px += if i == 0 { *area } else { -*area };
            path.ring(ring);
            part_rings.push(
                ring.iter()
                    .map(|&(x, y)| Point::new(x as f64 / 10.0, y as f64 / 10.0))
                    .collect::<Vec<_>>(),
            );
        }
        let bbox = BBox::from_points(part_rings[0].iter()).unwrap_or(bbox_px);
        drawn.push(DrawnPart {
            rings: part_rings,
            bbox,
        });
    }

    let marks = place_marks(&specks, &drawn, opts);
    let mark_side = to_tenths(opts.mark_px);
    for &(cx, cy) in &marks {
        path.mark(cx - mark_side / 2, cy - mark_side / 2, mark_side);
    }
    if path.is_empty() {
        return None;
    }

    let (label, room) = place_label(feature, frame, &drawn, &marks);
    Some(RenderedFeature {
        code: feature.code().to_owned(),
        name: feature.name().to_owned(),
        short_name: feature.short_name().to_owned(),
        d: path.finish(),
        label: (round_tenth(label.x), round_tenth(label.y)),
        label_room_px: round_tenth(room),
        area_px: round_tenth(area_px),
        marks: marks.len(),
        in_focus,
    })
}

fn push_speck(specks: &mut Vec<Point>, ring_px: &[Point], frame: &Frame) {
    let c = vertex_mean(ring_px);
    // Islets outside the crop window are skipped, not pinned to its edge.
    if frame.view.contains_point(c) {
        specks.push(c);
    }
}

/// Turns island centres into mark centres (in tenths of a pixel): islets hugging
/// the drawn coast are dropped, the rest are merged greedily so an archipelago of
/// hundreds of islets becomes a sparse cluster of small squares, not a blob.
fn place_marks(specks: &[Point], drawn: &[DrawnPart], opts: &RenderOptions) -> Vec<(i64, i64)> {
    let offshore_sq = opts.offshore_px * opts.offshore_px;
    let far_from_coast = |p: Point| {
        drawn.iter().all(|part| {
            !part.bbox.expanded(opts.offshore_px).contains_point(p)
                || ring_dist_sq(p, &part.rings[0]) >= offshore_sq
        })
    };
    // (sum x, sum y, count, seed)
    let mut clusters: Vec<(f64, f64, f64, Point)> = Vec::new();
    for &p in specks
        .iter()
        .filter(|&&p| drawn.is_empty() || far_from_coast(p))
    {
        let near = clusters.iter_mut().find(|c| {
            (c.3.x - p.x).abs() <= opts.mark_merge_px && (c.3.y - p.y).abs() <= opts.mark_merge_px
        });
        match near {
            Some(c) => {
                c.0 += p.x;
                c.1 += p.y;
                c.2 += 1.0;
            }
            None => clusters.push((p.x, p.y, 1.0, p)),
        }
    }
    clusters
        .iter()
        .map(|&(sx, sy, n, _)| (to_tenths(sx / n), to_tenths(sy / n)))
        .collect()
}

/// The atlas label when it is comfortably inside the viewBox; otherwise the pole
/// of inaccessibility of the largest visible part (neighbours in a cropped map);
/// otherwise the first island mark.
fn place_label(
    feature: &Feature,
    frame: &Frame,
    drawn: &[DrawnPart],
    marks: &[(i64, i64)],
) -> (Point, f64) {
    let atlas_label = frame.to_px(feature.label());
    if !drawn.is_empty()
        && frame
            .view
            .expanded(-LABEL_EDGE_PX)
            .contains_point(atlas_label)
    {
        return (atlas_label, feature.label_room() * frame.scale);
    }
    let visible = drawn
        .iter()
        .map(|part| {
            let rings: Vec<Vec<Point>> = part
                .rings
                .iter()
                .map(|r| clip_ring(r, &frame.view))
                .collect();
            let area = ring_area(&rings[0]).abs();
            (rings, area)
        })
        .filter(|(rings, _)| rings[0].len() >= 3)
        .fold(
            None,
            |best: Option<(Vec<Vec<Point>>, f64)>, cand| match best {
                Some(b) if b.1 >= cand.1 => Some(b),
                _ => Some(cand),
            },
        );
    if let Some((rings, _)) = visible {
        let refs: Vec<&[Point]> = rings
            .iter()
            .filter(|r| r.len() >= 3)
            .map(Vec::as_slice)
            .collect();
        let label = find_label(&refs, 0.5);
        return (label.point, label.room);
    }
    match marks.first() {
        Some(&(x, y)) => (Point::new(x as f64 / 10.0, y as f64 / 10.0), 0.0),
        None => (atlas_label, 0.0),
    }
}

fn to_tenths(v: f64) -> i64 {
    // Pixel coordinates are bounded by the canvas (plus clip padding), far inside
    // i64, so the saturating float-to-int cast never actually saturates.
    (v * 10.0).round() as i64
}

fn round_tenth(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Rounds to tenths of a pixel and removes vertices that rounding made redundant:
/// repeats, points on a straight line, and zero-width back-and-forth spikes.
fn round_and_clean(points: &[Point]) -> TenthsRing {
    let collinear = |a: (i64, i64), b: (i64, i64), c: (i64, i64)| {
        (b.0 - a.0) * (c.1 - b.1) - (b.1 - a.1) * (c.0 - b.0) == 0
    };
    let mut out: TenthsRing = Vec::with_capacity(points.len());
    for p in points {
        out.push((to_tenths(p.x), to_tenths(p.y)));
        while out.len() >= 3
            && collinear(out[out.len() - 3], out[out.len() - 2], out[out.len() - 1])
        {
            out.remove(out.len() - 2);
        }
        if out.len() == 2 && out[0] == out[1] {
            out.pop();
        }
    }
    // The ring wraps around: check the seam too.
    while out.len() >= 3 {
        let n = out.len();
        if collinear(out[n - 2], out[n - 1], out[0]) {
            out.pop();
        } else if collinear(out[n - 1], out[0], out[1]) {
            out.remove(0);
        } else {
            break;
        }
    }
    out
}

/// Unsigned area of a tenths ring, in square pixels.
fn tenths_area(ring: &[(i64, i64)]) -> f64 {
    let n = ring.len();
    if n < 3 {
        return 0.0;
    }
    let twice: i64 = (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    twice.unsigned_abs() as f64 / 200.0
}

/// Formats tenths as the shortest decimal: `12` → `1.2`, `10` → `1`, `-3` → `-.3`.
fn tenths_str(v: i64) -> String {
    let mut s = String::new();
    push_tenths(&mut s, v);
    s
}

fn push_tenths(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    let a = v.unsigned_abs();
    let (int, frac) = (a / 10, a % 10);
    // Writing to a String cannot fail.
    let _ = match (int, frac) {
        (i, 0) => write!(out, "{i}"),
        (0, f) => write!(out, ".{f}"),
        (i, f) => write!(out, "{i}.{f}"),
    };
}

/// Writes compact path data. Numbers are separated only where the grammar needs
/// it: `-` always starts a new number, and `.` does when the previous number
/// already has a decimal point (`1.2.5` reads as `1.2 .5`).
#[derive(Default)]
struct PathWriter {
    out: String,
    /// `Some(has_dot)` when the last token was a number.
    last_number: Option<bool>,
}

impl PathWriter {
    fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    fn command(&mut self, c: char) {
        self.out.push(c);
        self.last_number = None;
    }

    fn number(&mut self, v: i64) {
        let a = v.unsigned_abs();
        let has_dot = !a.is_multiple_of(10);
        let starts_with_dot = a < 10 && has_dot;
        if let Some(prev_has_dot) = self.last_number
            && v >= 0
            && !(starts_with_dot && prev_has_dot)
        {
            self.out.push(' ');
        }
        push_tenths(&mut self.out, v);
        self.last_number = Some(has_dot);
    }

    /// `M x y l dx dy … z` — absolute start, relative steps, exact in tenths so no
    /// rounding error accumulates.
    fn ring(&mut self, ring: &[(i64, i64)]) {
        let (x0, y0) = ring[0];
        self.command('M');
        self.number(x0);
        self.number(y0);
        self.command('l');
        for w in ring.windows(2) {
            self.number(w[1].0 - w[0].0);
            self.number(w[1].1 - w[0].1);
        }
        self.command('z');
    }

    /// A square of side `side` with its top-left corner at (`x`, `y`), wound like
    /// the exteriors (counter-clockwise on screen).
    fn mark(&mut self, x: i64, y: i64, side: i64) {
        self.command('M');
        self.number(x);
        self.number(y);
        self.command('v');
        self.number(side);
        self.command('h');
        self.number(side);
        self.command('v');
        self.number(-side);
        self.command('z');
    }

    fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        assert_eq!(tenths_str(0), "0");
        assert_eq!(tenths_str(12), "1.2");
        assert_eq!(tenths_str(10), "1");
        assert_eq!(tenths_str(-3), "-.3");
        assert_eq!(tenths_str(7205), "720.5");
    }

    #[test]
    fn path_writer_separators() {
        let mut w = PathWriter::default();
        w.ring(&[(100, 200), (112, 200), (112, 195), (100, 200)]);
        // 10 20, then +1.2 0, 0 -.5, -1.2 +.5.
        assert_eq!(w.finish(), "M10 20l1.2 0 0-.5-1.2.5z");
        let mut w = PathWriter::default();
        w.mark(10, 20, 12);
        assert_eq!(w.finish(), "M1 2v1.2h1.2v-1.2z");
    }

    #[test]
    fn cleaning_removes_collinear_and_spikes() {
        let ring = [
            Point::new(0.0, 0.0),
            Point::new(1.0, 0.0),
            Point::new(2.0, 0.0),
            Point::new(2.0, 2.0),
            Point::new(2.0, 3.0), // spike out…
            Point::new(2.0, 2.0), // …and back
            Point::new(0.0, 2.0),
            Point::new(0.0, 1.0),
        ];
        assert_eq!(
            round_and_clean(&ring),
            vec![(0, 0), (20, 0), (20, 20), (0, 20)]
        );
    }
}

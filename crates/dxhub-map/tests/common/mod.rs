//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// Parses the subset of SVG path syntax the renderer emits (`M L l h v z`,
/// implicit repeats, compact numbers like `1.2.5` and `-.3`) into absolute
/// subpaths, panicking on anything that is not valid path data.
pub fn parse_path(d: &str) -> Vec<Vec<(f64, f64)>> {
    let b = d.as_bytes();
    let mut i = 0;
    let mut cmd: Option<u8> = None;
    let mut cur = (0.0, 0.0);
    let mut start = (0.0, 0.0);
    let mut subpaths: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut closed = true;
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let c = b[i];
        if c.is_ascii_alphabetic() {
            i += 1;
            match c {
                b'z' | b'Z' => {
                    assert!(!closed, "z without an open subpath in {d:.80}");
                    cur = start;
                    closed = true;
                    cmd = None;
                }
                b'M' | b'm' | b'L' | b'l' | b'h' | b'H' | b'v' | b'V' => cmd = Some(c),
                other => panic!("unexpected command {:?}", other as char),
            }
            continue;
        }
        match cmd.expect("number before any command") {
            b'M' | b'm' => {
                let (x, y) = (number(b, &mut i), number(b, &mut i));
                cur = if cmd == Some(b'm') {
                    (cur.0 + x, cur.1 + y)
                } else {
                    (x, y)
                };
                start = cur;
                subpaths.push(vec![cur]);
                closed = false;
                cmd = Some(if cmd == Some(b'm') { b'l' } else { b'L' });
            }
            b'L' => {
                cur = (number(b, &mut i), number(b, &mut i));
                subpaths.last_mut().expect("subpath").push(cur);
            }
            b'l' => {
                let (dx, dy) = (number(b, &mut i), number(b, &mut i));
                cur = (cur.0 + dx, cur.1 + dy);
                subpaths.last_mut().expect("subpath").push(cur);
            }
            b'h' => {
                cur.0 += number(b, &mut i);
                subpaths.last_mut().expect("subpath").push(cur);
            }
            b'v' => {
                cur.1 += number(b, &mut i);
                subpaths.last_mut().expect("subpath").push(cur);
            }
            other => panic!("unsupported command {:?}", other as char),
        }
    }
    assert!(closed, "last subpath not closed");
    subpaths
}

fn number(b: &[u8], i: &mut usize) -> f64 {
    while *i < b.len() && (b[*i] == b' ' || b[*i] == b',') {
        *i += 1;
    }
    let start = *i;
    if *i < b.len() && (b[*i] == b'-' || b[*i] == b'+') {
        *i += 1;
    }
    let mut digits = 0;
    while *i < b.len() && b[*i].is_ascii_digit() {
        *i += 1;
        digits += 1;
    }
    if *i < b.len() && b[*i] == b'.' {
        *i += 1;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
            digits += 1;
        }
    }
    assert!(digits > 0, "expected a number at byte {start}");
    std::str::from_utf8(&b[start..*i])
        .expect("ascii")
        .parse()
        .expect("number")
}

/// Even-odd point-in-polygon test on plain coordinate rings.
pub fn inside(rings: &[Vec<(f64, f64)>], p: (f64, f64)) -> bool {
    let mut inside = false;
    for ring in rings {
        let n = ring.len();
        for k in 0..n {
            let (a, b) = (ring[k], ring[(k + 1) % n]);
            if (a.1 > p.1) != (b.1 > p.1) && p.0 < (b.0 - a.0) * (p.1 - a.1) / (b.1 - a.1) + a.0 {
                inside = !inside;
            }
        }
    }
    inside
}

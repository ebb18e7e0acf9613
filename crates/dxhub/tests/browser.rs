//! The home page in a real browser (headless Chromium from Debian's packages): both
//! versions of the province map are drawn, and a screenshot shows the map of Viet Nam.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Running;

/// The Chromium binary, or None when browser tests were explicitly skipped.
fn chromium() -> Option<PathBuf> {
    for candidate in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(candidate).exists() {
            return Some(PathBuf::from(candidate));
        }
    }
    if std::env::var("DXHUB_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("!!! browser test SKIPPED (DXHUB_SKIP_BROWSER=1) !!!");
        return None;
    }
    panic!(
        "Chromium is not installed: run scripts/test-deps.sh (or scripts/test), or set DXHUB_SKIP_BROWSER=1 to skip on purpose"
    );
}

fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut c = Command::new(chromium);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// Share of pixels painted in the land colours of the map (greens), in a PNG.
fn land_share(png_path: &Path) -> f64 {
    // The province fills are mid greens: green clearly above red, not near-white.
    share_of(png_path, |r, g, b| {
        g > r + 25 && g >= b && g > 150 && g < 230 && r < 200
    })
}

/// Share of pixels painted in the blues of a choropleth (ranking and dashboard maps).
fn choropleth_share(png_path: &Path) -> f64 {
    share_of(png_path, |r, g, b| b > r + 30 && b >= g && b < 250)
}

/// Share of the pixels of a PNG for which `is` holds (on their red, green and blue).
fn share_of(png_path: &Path, is: impl Fn(i32, i32, i32) -> bool) -> f64 {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let mut land = 0usize;
    let mut total = 0usize;
    for p in px.chunks(channels) {
        let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
        total += 1;
        if is(r, g, b) {
            land += 1;
        }
    }
    land as f64 / total as f64
}

#[test]
fn home_page_map_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let server = Running::start(&["demo", "--data-dir", data_dir.to_str().unwrap()]);

    for (at, provinces) in [("2025-06-30", 63), ("2025-07-01", 34)] {
        let url = format!("{}/?at={at}", server.base);
        let profile = tempfile::tempdir().unwrap();
        let dom = headless(&chromium, profile.path())
            .arg("--dump-dom")
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            dom.status.success(),
            "{}",
            String::from_utf8_lossy(&dom.stderr)
        );
        let dom = String::from_utf8_lossy(&dom.stdout);
        assert_eq!(
            dom.matches("class=\"prov c").count(),
            provinces,
            "provinces drawn on {at}"
        );

        let shot = dir.path().join(format!("home-{at}.png"));
        let profile = tempfile::tempdir().unwrap();
        let out = headless(&chromium, profile.path())
            .arg("--window-size=1200,1400")
            .arg(format!("--screenshot={}", shot.display()))
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            out.status.success() && shot.exists(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let share = land_share(&shot);
        eprintln!("{at}: {:.1} % of the screenshot is map land", share * 100.0);
        // The mainland covers roughly a tenth of the window; a page without its map, or
        // with a collapsed one, has next to none of these colours.
        assert!(
            share > 0.04,
            "{at}: only {:.2} % land pixels",
            share * 100.0
        );
        if let Ok(keep) = std::env::var("DXHUB_SCREENSHOT_DIR") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&shot, Path::new(&keep).join(shot.file_name().unwrap())).unwrap();
        }
    }

    // The published DTI 2022 ranking on its 63-province map, coloured by rank, in the
    // reader's browser: every province drawn, and a real map on the screen.
    let (status, editions) = common::http_get(&server.base, "/rankings");
    assert_eq!(status, 200);
    assert!(editions.contains("/rankings/1"), "{editions}");
    let url = format!("{}/rankings/1?tab=map", server.base);
    let profile = tempfile::tempdir().unwrap();
    let dom = headless(&chromium, profile.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        dom.matches("class=\"prov q").count(),
        63,
        "all 63 provinces ranked"
    );
    let shot = dir.path().join("ranking-2022-map.png");
    let profile = tempfile::tempdir().unwrap();
    let out = headless(&chromium, profile.path())
        .arg("--window-size=1200,1400")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success() && shot.exists());
    let share = choropleth_share(&shot);
    eprintln!(
        "ranking map: {:.1} % of the screenshot is coloured provinces",
        share * 100.0
    );
    assert!(share > 0.04, "only {:.2} % coloured pixels", share * 100.0);
    if let Ok(keep) = std::env::var("DXHUB_SCREENSHOT_DIR") {
        std::fs::copy(&shot, Path::new(&keep).join("ranking-2022-map.png")).unwrap();
    }
}

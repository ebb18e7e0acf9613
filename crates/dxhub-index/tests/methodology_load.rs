//! Loading methodology files: the shipped ones load and keep their codes and points; every
//! kind of bad file is refused with its file, line, TOML key and reason.

use dxhub_index::{Definition, Display, load, shipped, shipped_by_id};

const BASE: &str = r#"id = "t"
version = 1
name_vi = "t"
name_en = "t"
legal_basis = "x"
applies_to = "province"
[scale]
total_points = 10
display = "points"
[[groups]]
code = "G"
name_vi = "g"
name_en = "g"
points = 10
[[elements]]
code = "n"
name_vi = "n"
name_en = "n"
kind = "count"
source = "measured"
measure = "received"
hierarchy = "sum"
time = "sum"
[[elements]]
code = "d"
name_vi = "d"
name_en = "d"
kind = "count"
source = "measured"
measure = "completed"
hierarchy = "sum"
time = "sum"
[[indicators]]
code = "a"
name_vi = "a"
name_en = "a"
group = "G"
points = 4
formula = "ratio(n, d, 0)"
[[indicators]]
code = "b"
name_vi = "b"
name_en = "b"
group = "G"
points = 6
entered = true
"#;

/// Replaces the `nth` (0-based) occurrence of the line `from` with `to` (which may span
/// lines; the error is expected on its first line).
fn edit(from: &str, nth: usize, to: &str) -> (String, usize) {
    let mut lines: Vec<String> = BASE.lines().map(str::to_owned).collect();
    let idx = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| *l == from)
        .nth(nth)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no line {from:?} #{nth}"));
    lines[idx] = to.to_owned();
    (lines.join("\n") + "\n", idx + 1)
}

#[track_caller]
fn refused(text: &str, line: usize, key: &str, reason: &str) {
    let e = load("t.toml", text).expect_err("must be refused");
    assert_eq!(e.file, "t.toml");
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.key, key, "{e}");
    assert!(e.reason.contains(reason), "{e}");
    assert!(e.to_string().starts_with(&format!("t.toml:{line}")), "{e}");
}

#[test]
fn the_base_file_loads() {
    let m = load("t.toml", BASE).unwrap();
    assert_eq!(m.indicators.len(), 2);
    assert_eq!(m.elements.len(), 3, "b declares its own element");
    assert!(m.element("b").unwrap().implicit);
}

#[test]
fn every_load_error_is_located() {
    let (t, l) = edit("points = 4", 0, "points = ");
    refused(&t, l, "", "");
    let (t, l) = edit("points = 4", 0, "pointz = 4");
    refused(&t, l, "", "unknown field `pointz`");
    let (t, l) = edit("code = \"b\"", 0, "code = \"a\"");
    refused(&t, l, "indicators[1].code", "duplicate indicator code 'a'");
    let (t, l) = edit("code = \"d\"", 0, "code = \"n\"");
    refused(&t, l, "elements[1].code", "duplicate element code 'n'");
    let (t, l) = edit(
        "formula = \"ratio(n, d, 0)\"",
        0,
        "formula = \"ratio(n, x, 0)\"",
    );
    refused(&t, l, "indicators[0].formula", "unknown reference 'x'");
    let (t, l) = edit(
        "formula = \"ratio(n, d, 0)\"",
        0,
        "formula = \"ratio(n, d)\"",
    );
    refused(&t, l, "indicators[0].formula", "at column 11");
    let (t, l) = edit("formula = \"ratio(n, d, 0)\"", 0, "formula = \"b2 + 1\"");
    refused(&t, l, "indicators[0].formula", "unknown reference 'b2'");
    let (t, l) = edit("total_points = 10", 0, "total_points = 11");
    refused(&t, l - 1, "scale.total_points", "sum to 10, not 11");
    let (t, l) = edit("points = 10", 0, "points = 9");
    refused(&t, l, "groups[0].points", "sum to 10, not 9");
    let (t, l) = edit("group = \"G\"", 1, "group = \"H\"");
    refused(&t, l, "indicators[1].group", "unknown group 'H'");
    let (t, l) = edit("measure = \"received\"", 0, "");
    refused(&t, l - 1, "elements[0].measure", "needs a measure");
    let (t, l) = edit("measure = \"received\"", 0, "measure = \"visits\"");
    refused(&t, l, "", "unknown variant `visits`");
    let (t, l) = edit("hierarchy = \"sum\"", 0, "hierarchy = \"weighted_mean\"");
    refused(&t, l, "elements[0].weight", "needs 'weight'");
    let (t, l) = edit(
        "hierarchy = \"sum\"",
        0,
        "hierarchy = \"weighted_mean\"\nweight = \"pop\"",
    );
    refused(&t, l + 1, "elements[0].weight", "unknown element 'pop'");
    let (t, l) = edit("entered = true", 0, "entered = true\nformula = \"n\"");
    refused(&t, l + 1, "indicators[1].formula", "not both");
    let (t, l) = edit("entered = true", 0, "");
    let code_line = BASE.lines().position(|x| x == "code = \"b\"").unwrap() + 1;
    assert!(code_line < l);
    refused(&t, code_line, "indicators[1].formula", "needs a formula");
    let (t, l) = edit("code = \"d\"", 0, "code = \"b\"");
    let ind_line = BASE.lines().position(|x| x == "code = \"b\"").unwrap() + 1;
    assert!(l < ind_line);
    refused(&t, ind_line, "indicators[1].code", "already declared");
    let (t, l) = edit("code = \"b\"", 0, "code = \"1.1\"");
    refused(&t, l, "indicators[1].code", "cannot be used in formulas");
    let (t, l) = edit("version = 1", 0, "version = 0");
    refused(&t, l, "version", "positive integer");
    let (t, l) = edit("points = 6", 0, "points = -6");
    refused(&t, l, "indicators[1].points", "0 or more");
}

#[test]
fn cycles_are_refused_with_their_path() {
    let (t, l) = edit("formula = \"ratio(n, d, 0)\"", 0, "formula = \"a + 1\"");
    refused(&t, l - 5, "indicators[0].formula", "cycle: a -> a");
    let text = BASE.replace("formula = \"ratio(n, d, 0)\"", "formula = \"c\"")
        + "[[indicators]]\ncode = \"c\"\nname_vi = \"c\"\nname_en = \"c\"\npoints = 0\nformula = \"a * 2\"\n";
    let line = text.lines().position(|x| x == "code = \"a\"").unwrap() + 1;
    refused(&text, line, "indicators[0].formula", "cycle: a -> c -> a");
}

#[test]
fn shipped_methodologies_load_with_their_codes_and_points() {
    let all = shipped();
    let ids: Vec<&str> = all.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["dti-province-2022", "dti-province-2025", "index-766"]);

    let m = shipped_by_id("dti-province-2022").unwrap();
    let codes: Vec<(&str, f64)> = m
        .main_indicators()
        .map(|i| (i.code.as_str(), i.points))
        .collect();
    assert_eq!(
        codes,
        [
            ("nhan_thuc_so", 100.0),
            ("the_che_so", 100.0),
            ("ha_tang_so", 100.0),
            ("nhan_luc_so", 100.0),
            ("an_toan_thong_tin_mang", 100.0),
            ("do_thi_thong_minh", 0.0),
            ("hd_chinh_quyen_so", 200.0),
            ("hd_kinh_te_so", 150.0),
            ("hd_xa_hoi_so", 150.0),
        ]
    );
    assert_eq!(m.scale.total_points, 1000.0);
    assert_eq!(m.scale.display, Display::Ratio);
    assert_eq!(m.components_total, Some(98));
    let comps: u32 = m.indicators.iter().filter_map(|i| i.components).sum();
    assert_eq!(comps, 98);
    assert_eq!(
        m.groups.iter().map(|g| g.points).collect::<Vec<_>>(),
        [Some(500.0), Some(500.0)]
    );

    let m = shipped_by_id("dti-province-2025").unwrap();
    assert_eq!(m.main_indicators().count(), 8);
    assert!(m.indicator("do_thi_thong_minh").is_none());
    assert_eq!(m.components_total, Some(47));
    assert!(m.notes.iter().any(|n| n.starts_with("ASSUMPTION")));
    assert!(
        m.main_indicators()
            .all(|i| i.note.as_deref().is_some_and(|n| n.contains("ASSUMPTION")))
    );

    let m = shipped_by_id("index-766").unwrap();
    assert_eq!(m.scale.display, Display::Points);
    let points: Vec<f64> = m.main_indicators().map(|i| i.points).collect();
    assert_eq!(points, [18.0, 20.0, 22.0, 22.0, 18.0]);
    let measured: Vec<&str> = m
        .main_indicators()
        .filter(|i| matches!(i.definition, Definition::Formula { .. }))
        .map(|i| i.code.as_str())
        .collect();
    assert_eq!(measured, ["tien_do_ket_qua", "dich_vu_truc_tuyen"]);
    let behind = |code: &str| -> Vec<String> {
        m.elements_behind(code)
            .iter()
            .map(|e| e.code.clone())
            .collect()
    };
    assert_eq!(
        behind("dich_vu_truc_tuyen"),
        ["received", "online", "online_payments"]
    );
    assert_eq!(
        behind("tien_do_ket_qua"),
        ["completed", "completed_on_time"]
    );
    assert_eq!(behind("so_hoa_ho_so"), ["so_hoa_ho_so"]);
    assert!(
        m.indicators
            .iter()
            .filter(|i| matches!(i.definition, Definition::Formula { .. }))
            .all(|i| i
                .note
                .as_deref()
                .is_some_and(|n| n.contains("INTERPRETATION")))
    );
}

#[test]
fn the_documented_example_loads() {
    let doc = include_str!("../METHODOLOGY.md");
    let start = doc.find("```toml\n").expect("example") + "```toml\n".len();
    let len = doc[start..].find("```").unwrap();
    let m = load("METHODOLOGY.md", &doc[start..start + len]).unwrap();
    assert_eq!(m.id, "example");
}

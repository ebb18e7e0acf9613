//! Golden scores of the shipped methodologies (expectations derived by hand), ranks and
//! ties, evaluation with provenance, aggregation, re-expression, what-if and bands.

use std::collections::BTreeMap;

use dxhub_index::{
    BandOptions, EvalError, Input, Measure, Period, PeriodKind, Provenance, Values, Weighting,
    aggregate_time, aggregate_units, evaluate, load, main_values, rank_bands, ranks, reexpress,
    score, shipped_by_id, what_if,
};

const DTI: [&str; 9] = [
    "nhan_thuc_so",
    "the_che_so",
    "ha_tang_so",
    "nhan_luc_so",
    "an_toan_thong_tin_mang",
    "do_thi_thong_minh",
    "hd_chinh_quyen_so",
    "hd_kinh_te_so",
    "hd_xa_hoi_so",
];

fn row(codes: &[&str], values: &[f64]) -> BTreeMap<String, f64> {
    codes
        .iter()
        .zip(values)
        .map(|(c, v)| (c.to_string(), *v))
        .collect()
}

/// Made-up units whose values were chosen by hand so that Σ value × points / 1000 equals a
/// published DTI 2022 total (the published per-indicator values are not in our data); the
/// derivation is written out in `crates/dxhub/tests/index_cli.rs`, which feeds the same file
/// to the CLI.
fn dti_2022_units() -> Values {
    let mut v = Values::new();
    for line in include_str!("data/dti_2022_made_up_units.csv")
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = line.split(',').collect();
        v.entry(f[0].replace("made-up-", "").to_uppercase())
            .or_default()
            .insert(f[1].to_owned(), f[2].parse().unwrap());
    }
    v
}

fn shown(scores: &[dxhub_index::UnitScore]) -> Vec<(String, String, u32)> {
    scores
        .iter()
        .map(|s| (s.unit.clone(), format!("{:.4}", s.score), s.rank))
        .collect()
}

fn t(unit: &str, score: &str, rank: u32) -> (String, String, u32) {
    (unit.to_owned(), score.to_owned(), rank)
}

#[test]
fn dti_2022_reproduces_published_totals() {
    let m = shipped_by_id("dti-province-2022").unwrap();
    let s = score(&m, &dti_2022_units()).unwrap();
    assert_eq!(
        shown(&s),
        [
            t("A", "0.8002", 1),
            t("B", "0.7163", 2),
            t("C", "0.7024", 3),
            t("D", "0.6975", 4),
            t("E", "0.6924", 5),
        ]
    );
    assert!(s.iter().all(|u| u.missing.is_empty()));
}

#[test]
fn dti_2025_scores_with_the_assumed_points() {
    let m = shipped_by_id("dti-province-2025").unwrap();
    let mut v = dti_2022_units();
    for r in v.values_mut() {
        r.remove("do_thi_thong_minh");
    }
    let s = score(&m, &v).unwrap();
    assert_eq!(format!("{:.4}", s[0].score), "0.8002");
    // Đô thị thông minh does not exist in 405.
    let mut v = dti_2022_units();
    v.retain(|k, _| k == "A");
    let err = score(&m, &v).unwrap_err();
    assert!(err.to_string().contains("do_thi_thong_minh"), "{err}");
}

#[test]
fn missing_scored_values_count_as_zero_and_are_reported() {
    let m = shipped_by_id("dti-province-2022").unwrap();
    let mut v = Values::new();
    v.insert(
        "X".into(),
        row(&["nhan_thuc_so", "hd_chinh_quyen_so"], &[1.0, 0.5]),
    );
    let s = score(&m, &v).unwrap();
    assert_eq!(format!("{:.4}", s[0].score), "0.2000");
    assert_eq!(
        s[0].missing,
        [
            "the_che_so",
            "ha_tang_so",
            "nhan_luc_so",
            "an_toan_thong_tin_mang",
            "hd_kinh_te_so",
            "hd_xa_hoi_so"
        ],
        "do_thi_thong_minh is not scored, so it is not missing"
    );
}

#[test]
fn index_766_from_group_values_and_from_the_feed() {
    let m = shipped_by_id("index-766").unwrap();
    let codes = [
        "cong_khai_minh_bach",
        "tien_do_ket_qua",
        "dich_vu_truc_tuyen",
        "so_hoa_ho_so",
        "muc_do_hai_long",
    ];
    let mut v = Values::new();
    // 16.2 + 19 + 13.2 + 11 + 14.4 = 73.8 points
    v.insert("P".into(), row(&codes, &[0.9, 0.95, 0.6, 0.5, 0.8]));
    assert_eq!(shown(&score(&m, &v).unwrap()), [t("P", "73.8000", 1)]);

    // From measured counts: on time 90/100 = 0.9; online 150/200 = 0.75, paid online
    // 50/200 = 0.25 → group 3 = 0.5. 16.2 + 18 + 11 + 11 + 14.4 = 70.6 points.
    let period: Period = "2026-Q1".parse().unwrap();
    let feed = |e: &str, measure: Measure, value: f64| Input {
        unit: "P".into(),
        period,
        element: e.into(),
        value,
        provenance: Provenance::Measured {
            feed: "dvc".into(),
            measure,
        },
    };
    let reported = |e: &str, value: f64| Input {
        unit: "P".into(),
        period,
        element: e.into(),
        value,
        provenance: Provenance::Reported {
            by: "officer@p".into(),
            evidence: vec!["ab".repeat(32)],
        },
    };
    let inputs = vec![
        feed("received", Measure::Received, 200.0),
        feed("online", Measure::Online, 150.0),
        feed("completed", Measure::Completed, 100.0),
        feed("completed_on_time", Measure::CompletedOnTime, 90.0),
        feed("online_payments", Measure::OnlinePayments, 50.0),
        reported("cong_khai_minh_bach", 0.9),
        reported("so_hoa_ho_so", 0.5),
        reported("muc_do_hai_long", 0.8),
    ];
    let out = evaluate(&m, &inputs).unwrap();
    let get = |code: &str| out.iter().find(|o| o.indicator == code).unwrap();
    assert_eq!(get("tien_do_ket_qua").value, Some(0.9));
    assert_eq!(get("dich_vu_truc_tuyen").value, Some(0.5));
    assert_eq!(
        get("dich_vu_truc_tuyen").provenance,
        Provenance::Computed {
            from: vec![
                "ty_le_truc_tuyen".into(),
                "ty_le_thanh_toan_truc_tuyen".into()
            ]
        }
    );
    assert_eq!(
        get("ty_le_dung_han").provenance,
        Provenance::Computed {
            from: vec!["completed_on_time".into(), "completed".into()]
        }
    );
    assert_eq!(
        get("so_hoa_ho_so").provenance,
        Provenance::Computed {
            from: vec!["so_hoa_ho_so".into()]
        }
    );
    let values = main_values(&m, &out, period);
    assert_eq!(shown(&score(&m, &values).unwrap()), [t("P", "70.6000", 1)]);

    // No dossier completed: the on-time share is missing (declared null), and so is the
    // group value; the score reports it missing rather than inventing a value.
    let mut zero = inputs.clone();
    zero[2].value = 0.0;
    zero[3].value = 0.0;
    let out = evaluate(&m, &zero).unwrap();
    let values = main_values(&m, &out, period);
    let s = score(&m, &values).unwrap();
    assert_eq!(s[0].missing, ["tien_do_ket_qua"]);
    assert_eq!(format!("{:.4}", s[0].score), "52.6000");
}

#[test]
fn evaluation_errors_name_what_is_wrong() {
    let text = r#"id = "z"
version = 1
name_vi = "z"
name_en = "z"
legal_basis = "z"
applies_to = "ministry"
[scale]
total_points = 1
display = "ratio"
[[elements]]
code = "n"
name_vi = "n"
name_en = "n"
kind = "number"
source = "reported"
hierarchy = "mean"
time = "last"
[[indicators]]
code = "q"
name_vi = "q"
name_en = "q"
points = 1
formula = "n / (n - n)"
"#;
    let m = load("z.toml", text).unwrap();
    let input = |element: &str| Input {
        unit: "U".into(),
        period: "2026".parse().unwrap(),
        element: element.into(),
        value: 2.0,
        provenance: Provenance::Published { source: "x".into() },
    };
    let e = evaluate(&m, &[input("n")]).unwrap_err();
    assert!(matches!(&e, EvalError::DivisionByZero { indicator, .. } if indicator == "q"));
    assert!(e.to_string().contains("indicator 'q'"), "{e}");
    let e = evaluate(&m, &[input("nope")]).unwrap_err();
    assert!(matches!(e, EvalError::UnknownElement { .. }), "{e}");
    let e = evaluate(&m, &[input("n"), input("n")]).unwrap_err();
    assert!(matches!(e, EvalError::Duplicate { .. }), "{e}");
    let mut measured = input("n");
    measured.provenance = Provenance::Measured {
        feed: "f".into(),
        measure: Measure::Online,
    };
    let e = evaluate(&m, &[measured]).unwrap_err();
    assert!(matches!(e, EvalError::WrongMeasure { .. }), "{e}");
}

fn measured(unit: &str, period: &str, element: &str, measure: Measure, value: f64) -> Input {
    Input {
        unit: unit.into(),
        period: period.parse().unwrap(),
        element: element.into(),
        value,
        provenance: Provenance::Measured {
            feed: "f".into(),
            measure,
        },
    }
}

#[test]
fn aggregation_up_the_hierarchy_and_over_time() {
    let m = shipped_by_id("index-766").unwrap();
    let parent: BTreeMap<String, String> = [("c1", "P"), ("c2", "P"), ("c3", "Q")]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    let inputs = vec![
        measured("c1", "2026-01", "received", Measure::Received, 10.0),
        measured("c2", "2026-01", "received", Measure::Received, 30.0),
        measured("c3", "2026-01", "received", Measure::Received, 5.0),
        measured("c1", "2026-01", "online", Measure::Online, 4.0),
    ];
    let up = aggregate_units(&m, &inputs, &parent).unwrap();
    let p = up
        .iter()
        .find(|i| i.unit == "P" && i.element == "received")
        .unwrap();
    assert_eq!(p.value, 40.0);
    assert_eq!(
        p.provenance,
        Provenance::Computed {
            from: vec!["c1:received".into(), "c2:received".into()]
        }
    );
    assert_eq!(up.len(), 3);

    let months = vec![
        measured("P", "2026-01", "received", Measure::Received, 10.0),
        measured("P", "2026-02", "received", Measure::Received, 20.0),
        measured("P", "2026-04", "received", Measure::Received, 40.0),
    ];
    let q = aggregate_time(&m, &months, PeriodKind::Quarter).unwrap();
    let shown: Vec<(String, f64)> = q.iter().map(|i| (i.period.to_string(), i.value)).collect();
    assert_eq!(
        shown,
        [("2026-Q1".to_owned(), 30.0), ("2026-Q2".to_owned(), 40.0)]
    );
    let y = aggregate_time(&m, &months, PeriodKind::Year).unwrap();
    assert_eq!(y[0].value, 70.0);
    let mut mixed = months.clone();
    mixed.push(measured("P", "2026-Q1", "online", Measure::Online, 1.0));
    mixed.push(measured("P", "2026-03", "online", Measure::Online, 1.0));
    assert!(matches!(
        aggregate_time(&m, &mixed, PeriodKind::Year),
        Err(EvalError::BadPeriod { .. })
    ));
    assert!(matches!(
        aggregate_time(&m, &mixed, PeriodKind::Month),
        Err(EvalError::BadPeriod { .. })
    ));
}

#[test]
fn weighted_mean_and_last_in_a_custom_methodology() {
    let text = r#"id = "w"
version = 3
name_vi = "w"
name_en = "w"
legal_basis = "w"
applies_to = "province"
[scale]
total_points = 1
display = "ratio"
[[elements]]
code = "pop"
name_vi = "p"
name_en = "p"
kind = "count"
source = "reported"
hierarchy = "sum"
time = "last"
[[elements]]
code = "share"
name_vi = "s"
name_en = "s"
kind = "ratio"
source = "reported"
hierarchy = "weighted_mean"
weight = "pop"
time = "mean"
[[indicators]]
code = "x"
name_vi = "x"
name_en = "x"
points = 1
main = true
formula = "if(share >= 0.5 and pop > 0, min(share * 2, 1), max(share, 0))"
"#;
    let m = load("w.toml", text).unwrap();
    let rep = |unit: &str, period: &str, element: &str, value: f64| Input {
        unit: unit.into(),
        period: period.parse().unwrap(),
        element: element.into(),
        value,
        provenance: Provenance::Reported {
            by: "o".into(),
            evidence: vec![],
        },
    };
    let parent: BTreeMap<String, String> = [("a", "P"), ("b", "P")]
        .into_iter()
        .map(|(x, y)| (x.to_owned(), y.to_owned()))
        .collect();
    let up = aggregate_units(
        &m,
        &[
            rep("a", "2026", "pop", 1.0),
            rep("a", "2026", "share", 0.2),
            rep("b", "2026", "pop", 3.0),
            rep("b", "2026", "share", 0.6),
        ],
        &parent,
    )
    .unwrap();
    let share = up.iter().find(|i| i.element == "share").unwrap();
    assert!((share.value - 0.5).abs() < 1e-12, "(0.2×1 + 0.6×3) / 4");
    let e = aggregate_units(&m, &[rep("a", "2026", "share", 0.2)], &parent).unwrap_err();
    assert!(matches!(e, EvalError::MissingWeight { .. }), "{e}");

    let over = aggregate_time(
        &m,
        &[
            rep("P", "2026-01", "pop", 100.0),
            rep("P", "2026-03", "pop", 120.0),
            rep("P", "2026-01", "share", 0.4),
            rep("P", "2026-03", "share", 0.8),
        ],
        PeriodKind::Quarter,
    )
    .unwrap();
    let val = |e: &str| over.iter().find(|i| i.element == e).unwrap().value;
    assert_eq!(val("pop"), 120.0, "last");
    assert!((val("share") - 0.6).abs() < 1e-12, "mean");
    let out = evaluate(&m, &over).unwrap();
    assert!(
        (out[0].value.unwrap() - 1.0).abs() < 1e-12,
        "min(0.6 × 2, 1)"
    );
}

#[test]
fn ties_share_a_rank_on_the_score_rounded_to_4_decimals() {
    assert_eq!(ranks(&[0.9, 0.8, 0.8, 0.7]), [1, 2, 2, 4]);
    assert_eq!(ranks(&[0.70241, 0.70243, 0.7, 0.8]), [2, 2, 4, 1]);
    assert_eq!(ranks(&[0.70244, 0.70246]), [2, 1]);
    assert_eq!(ranks(&[]), Vec::<u32>::new());
}

#[test]
fn reexpression_on_the_34_province_map() {
    let m = shipped_by_id("dti-province-2025").unwrap();
    let codes = &DTI[..5];
    let mut old = Values::new();
    old.insert("01".into(), row(codes, &[0.8, 0.8, 0.8, 0.8, 0.8]));
    old.insert("02".into(), row(codes, &[0.4, 0.6, 0.2, 0.4, 0.6]));
    old.insert("03".into(), row(&codes[..4], &[1.0, 1.0, 1.0, 1.0]));
    let mapping: BTreeMap<String, Vec<(String, f64)>> = [
        ("N1", vec![("01", 3.0), ("02", 1.0)]),
        ("N2", vec![("02", 1.0), ("03", 1.0)]),
    ]
    .into_iter()
    .map(|(n, p)| {
        (
            n.to_owned(),
            p.into_iter().map(|(o, w)| (o.to_owned(), w)).collect(),
        )
    })
    .collect();
    let mean = reexpress(&old, &mapping, Weighting::Mean).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(mean["N1"]["nhan_thuc_so"], 0.6));
    assert!(close(mean["N1"]["ha_tang_so"], 0.5));
    let weighted = reexpress(&old, &mapping, Weighting::Weighted).unwrap();
    assert!(
        close(weighted["N1"]["nhan_thuc_so"], 0.7),
        "(0.8×3 + 0.4) / 4"
    );
    // 03 has no an_toan_thong_tin_mang: N2 has none either, and scoring says so.
    assert!(!mean["N2"].contains_key("an_toan_thong_tin_mang"));
    let s = score(&m, &mean).unwrap();
    let n2 = s.iter().find(|u| u.unit == "N2").unwrap();
    assert!(n2.missing.contains(&"an_toan_thong_tin_mang".to_owned()));

    let mut bad = mapping.clone();
    bad.insert("N3".into(), vec![("99".into(), 1.0)]);
    assert!(reexpress(&old, &bad, Weighting::Mean).is_err());
    bad.insert("N3".into(), vec![]);
    assert!(reexpress(&old, &bad, Weighting::Mean).is_err());
    let mut zero = mapping.clone();
    zero.insert("N1".into(), vec![("01".into(), 0.0)]);
    assert!(reexpress(&old, &zero, Weighting::Weighted).is_err());
}

#[test]
fn what_if_moves_score_and_rank_without_storing() {
    let m = shipped_by_id("dti-province-2022").unwrap();
    let v = dti_2022_units();
    // E raises its digital-society value from 0.676 to 1: +48.6 points → 0.7410, rank 2.
    let mut own = Values::new();
    own.insert("E".into(), row(&["hd_xa_hoi_so"], &[1.0]));
    let s = what_if(&m, &v, &BTreeMap::new(), &own).unwrap();
    let e = s.iter().find(|u| u.unit == "E").unwrap();
    assert_eq!(
        (format!("{:.4}", e.score), e.rank),
        ("0.7410".to_owned(), 2)
    );
    // All weight on awareness: D (0.90) ties nobody and is second after A (0.95).
    let only: BTreeMap<String, f64> = m
        .scored_indicators()
        .map(|i| {
            (
                i.code.clone(),
                if i.code == "nhan_thuc_so" { 1.0 } else { 0.0 },
            )
        })
        .collect();
    let s = what_if(&m, &v, &only, &Values::new()).unwrap();
    assert_eq!(shown(&s)[..2], [t("A", "0.9500", 1), t("D", "0.9000", 2)]);
    // The original is untouched.
    assert_eq!(format!("{:.4}", score(&m, &v).unwrap()[4].score), "0.6924");
    let bad: BTreeMap<String, f64> = [("nope".to_owned(), 1.0)].into();
    assert!(what_if(&m, &v, &bad, &Values::new()).is_err());
}

/// 63 made-up units with spread-out values.
fn many_units(n: usize) -> Values {
    let mut v = Values::new();
    for u in 0..n {
        let vals: Vec<f64> = (0..9)
            .map(|k| ((u * 37 + k * 11) % 100) as f64 / 100.0)
            .collect();
        v.insert(format!("{u:02}"), row(&DTI, &vals));
    }
    v
}

#[test]
fn rank_bands_are_reproducible_and_contain_the_median() {
    let m = shipped_by_id("dti-province-2022").unwrap();
    let v = many_units(63);
    let opts = BandOptions::default();
    assert_eq!((opts.spread, opts.draws), (0.2, 1000));
    let started = std::time::Instant::now();
    let a = rank_bands(&m, &v, &opts).unwrap();
    let took = started.elapsed();
    let b = rank_bands(&m, &v, &opts).unwrap();
    assert_eq!(a, b, "same seed, same bands");
    let c = rank_bands(&m, &v, &BandOptions { seed: 7, ..opts }).unwrap();
    assert_ne!(a, c, "another seed, other draws");
    assert_eq!(a.len(), 63);
    for band in &a {
        assert!(
            band.p5 <= band.median && band.median <= band.p95,
            "{band:?}"
        );
    }
    assert!(
        a.iter().any(|b| b.p5 < b.p95),
        "some rank moves under ±20 %"
    );
    // No perturbation: every band is the rank itself.
    let fixed = rank_bands(
        &m,
        &v,
        &BandOptions {
            spread: 0.0,
            ..opts
        },
    )
    .unwrap();
    assert!(
        fixed
            .iter()
            .all(|b| b.p5 == b.rank && b.p95 == b.rank && b.median == b.rank)
    );
    // Generous even for an unoptimised build; release is far below a second.
    assert!(took.as_secs_f64() < 5.0, "{took:?}");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn scores_do_not_depend_on_unit_order_and_ranks_follow_scores(
            rows in prop::collection::vec(prop::collection::vec(0.0f64..=1.0, 9), 1..30),
            names in prop::collection::vec("[a-z]{1,4}", 30),
        ) {
            let m = shipped_by_id("dti-province-2022").unwrap();
            let mut forward = Values::new();
            let mut backward = Values::new();
            for (i, r) in rows.iter().enumerate() {
                let name = format!("{}{i}", names[i]);
                forward.insert(name.clone(), row(&DTI, r));
            }
            for (i, r) in rows.iter().enumerate().rev() {
                let name = format!("{}{i}", names[i]);
                backward.insert(name, row(&DTI, r));
            }
            let a = score(&m, &forward).unwrap();
            let b = score(&m, &backward).unwrap();
            prop_assert_eq!(&a, &b);
            for x in &a {
                prop_assert!((0.0..=1.0 + 1e-12).contains(&x.score));
                for y in &a {
                    let (kx, ky) = ((x.score * 1e4).round(), (y.score * 1e4).round());
                    if kx > ky { prop_assert!(x.rank < y.rank); }
                    if kx == ky { prop_assert_eq!(x.rank, y.rank); }
                }
            }
            // Ranks are 1 + the number of strictly better units.
            for x in &a {
                let better = a.iter().filter(|y| (y.score * 1e4).round() > (x.score * 1e4).round()).count();
                prop_assert_eq!(x.rank as usize, better + 1);
            }
        }
    }
}

//! The incremental indicator upkeep equals a from-scratch computation, whatever the
//! order of arrival, duplicates and batch boundaries (property tests), and equals a
//! direct transcription of the DuckDB baseline's SQL.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dxhub_ingest::indicators::{Cell, CellKey, YearMonth};
use dxhub_ingest::{
    Aggregates, Channel, CommuneCode, DossierSnapshot, IndicatorRow, LiveIndicators, ProvinceCode,
    ShortStr, Status,
};
use jiff::Timestamp;
use proptest::prelude::*;

/// Instants around Ho Chi Minh month boundaries (local midnight of the 1st is 17:00Z).
const INSTANTS: [&str; 6] = [
    "2025-07-31T16:59:59Z",
    "2025-07-31T17:00:00Z",
    "2025-08-15T03:00:00Z",
    "2025-12-31T16:59:59.999Z",
    "2025-12-31T17:00:00Z",
    "2026-02-01T00:00:00+07:00",
];

#[derive(Clone, Debug)]
struct Spec {
    key: usize,
    version: u64,
    province: usize,
    received: usize,
    channel: usize,
    status: usize,
    service: usize,
    due: Option<i64>,
    done_after: i64,
    fee: u64,
    paid: bool,
    e2e: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            0..7usize,
            0..5u64,
            0..3usize,
            0..INSTANTS.len(),
            0..3usize,
            0..5usize,
        ),
        (
            0..4usize,
            proptest::option::of(-2..3i64),
            -1..2i64,
            prop_oneof![Just(0u64), Just(15_000), Just(i64::MAX as u64)],
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (key, version, province, received, channel, status),
                (service, due, done_after, fee, paid, e2e),
            )| Spec {
                key,
                version,
                province,
                received,
                channel,
                status,
                service,
                due,
                done_after,
                fee,
                paid,
                e2e,
            },
        )
}

fn snapshot(s: &Spec) -> DossierSnapshot {
    let received: Timestamp = INSTANTS[s.received].parse().unwrap();
    let hours = |h: i64| Timestamp::from_second(received.as_second() + h * 3600).unwrap();
    let status = Status::ALL[s.status];
    DossierSnapshot {
        source: ShortStr::new(["dvcqg", "hcc-79"][s.key % 2]),
        dossier_id: ShortStr::new(&format!("D{}", s.key / 2)),
        version: s.version,
        service_code: ShortStr::new(["1.001612", "1.000001", "2.002222", "3.000003"][s.service]),
        province_code: ProvinceCode::parse(["01", "79", "96"][s.province]).unwrap(),
        commune_code: CommuneCode::parse("00391"),
        channel: Channel::ALL[s.channel],
        end_to_end: s.e2e,
        status,
        received_at: received,
        due_at: s.due.map(hours),
        // Completed exactly at, before or after the due time.
        completed_at: status
            .requires_completed_at()
            .then(|| hours(s.due.unwrap_or(1) + s.done_after)),
        fee_vnd: s.fee,
        paid_online: s.paid,
    }
}

/// The DuckDB baseline transcribed: newest per key (`ORDER BY version DESC, rowid`), then
/// `GROUP BY province, month` with `count(DISTINCT service_code) FILTER (online)`.
fn duckdb_semantics(all: &[DossierSnapshot]) -> Vec<IndicatorRow> {
    let mut newest: HashMap<(String, String), (usize, &DossierSnapshot)> = HashMap::new();
    for (rowid, s) in all.iter().enumerate() {
        let k = (s.source.to_string(), s.dossier_id.to_string());
        match newest.get(&k) {
            Some((r, o))
                if (o.version, std::cmp::Reverse(*r)) >= (s.version, std::cmp::Reverse(rowid)) => {}
            _ => {
                newest.insert(k, (rowid, s));
            }
        }
    }
    let mut groups: BTreeMap<CellKey, (Cell, BTreeSet<String>)> = BTreeMap::new();
    for (_, s) in newest.values() {
        let g = groups
            .entry(CellKey {
                province_code: s.province_code,
                month: YearMonth::of(s.received_at),
            })
            .or_default();
        let c = &mut g.0;
        c.received += 1;
        c.online += (s.channel == Channel::Online) as u64;
        c.end_to_end += s.end_to_end as u64;
        c.completed += (s.status == Status::Completed) as u64;
        if s.status == Status::Completed
            && let (Some(done), Some(due)) = (s.completed_at, s.due_at)
            && done <= due
        {
            c.completed_on_time += 1;
        }
        if s.paid_online {
            c.online_payments += 1;
            c.online_payment_vnd = c.online_payment_vnd.wrapping_add(s.fee_vnd);
        }
        if s.channel == Channel::Online {
            g.1.insert(s.service_code.to_string());
        }
    }
    groups
        .into_iter()
        .map(|(key, (cell, services))| IndicatorRow {
            key,
            cell,
            services_online: services.len() as u64,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn incremental_equals_from_scratch_and_duckdb(
        specs in proptest::collection::vec(spec(), 0..60),
        cuts in proptest::collection::vec(0..60usize, 0..6),
    ) {
        let all: Vec<DossierSnapshot> = specs.iter().map(snapshot).collect();

        // One snapshot at a time.
        let mut live = LiveIndicators::new();
        for s in &all {
            live.ingest(s.clone());
        }
        let incremental = live.aggregates.rows();

        // From scratch over the final newest snapshots.
        let scratch = Aggregates::from_latest(live.latest.values()).rows();
        prop_assert_eq!(&incremental, &scratch);

        // The baseline's SQL, transcribed.
        prop_assert_eq!(&incremental, &duckdb_semantics(&all));

        // In batches (random boundaries), each batch applied as one Delta.
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(all.len())).collect();
        bounds.push(0);
        bounds.push(all.len());
        bounds.sort_unstable();
        let mut batched = LiveIndicators::new();
        let mut agg = Aggregates::new();
        for w in bounds.windows(2) {
            let delta = batched.ingest_batch_as_delta(all[w[0]..w[1]].iter().cloned());
            agg.merge(&delta);
        }
        prop_assert_eq!(&agg.rows(), &incremental);
        prop_assert_eq!(&agg, &live.aggregates);

        // `Aggregates::apply` with an explicit stored snapshot, the way a store drives it.
        let mut stored: HashMap<(String, String), DossierSnapshot> = HashMap::new();
        let mut by_apply = Aggregates::new();
        for s in &all {
            let k = (s.source.to_string(), s.dossier_id.to_string());
            let old = stored.get(&k);
            let changed = by_apply.apply(old, s);
            prop_assert_eq!(changed, old.is_none_or(|o| s.version > o.version));
            if changed {
                stored.insert(k, s.clone());
            }
        }
        prop_assert_eq!(&by_apply.rows(), &incremental);
    }
}

#[test]
fn a_newer_version_moves_the_dossier_to_another_cell() {
    let base = Spec {
        key: 0,
        version: 1,
        province: 0,
        received: 2,
        channel: 0,
        status: 2,
        service: 0,
        due: Some(2),
        done_after: 0,
        fee: 15_000,
        paid: true,
        e2e: true,
    };
    let v1 = snapshot(&base);
    let v2 = snapshot(&Spec {
        version: 2,
        province: 1,
        received: 4,
        ..base.clone()
    });
    let mut live = LiveIndicators::new();
    assert!(live.ingest(v1.clone()));
    let rows = live.aggregates.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].csv_line(), "01,2025-08,1,1,1,1,1,1,15000,1");
    // Re-sent and older versions change nothing.
    assert!(!live.ingest(v1.clone()));
    assert!(!live.ingest(snapshot(&Spec {
        version: 0,
        province: 2,
        ..base.clone()
    })));
    assert!(live.ingest(v2));
    let rows = live.aggregates.rows();
    assert_eq!(rows.len(), 1, "the old cell disappears: {rows:?}");
    assert_eq!(rows[0].csv_line(), "79,2026-01,1,1,1,1,1,1,15000,1");
    assert_eq!(live.latest.len(), 1);
    assert_eq!(live.latest.get("dvcqg", "D0").unwrap().version, 2);
}

#[test]
fn services_online_counts_distinct_services_and_forgets_them() {
    let base = Spec {
        key: 0,
        version: 1,
        province: 0,
        received: 2,
        channel: 0,
        status: 0,
        service: 0,
        due: None,
        done_after: 0,
        fee: 0,
        paid: false,
        e2e: false,
    };
    let mut live = LiveIndicators::new();
    // Three online dossiers of two services, one direct dossier of a third.
    live.ingest(snapshot(&Spec {
        key: 0,
        ..base.clone()
    }));
    live.ingest(snapshot(&Spec {
        key: 1,
        ..base.clone()
    }));
    live.ingest(snapshot(&Spec {
        key: 2,
        service: 1,
        ..base.clone()
    }));
    live.ingest(snapshot(&Spec {
        key: 3,
        service: 2,
        channel: 1,
        ..base.clone()
    }));
    let key = live.aggregates.rows()[0].key;
    assert_eq!(live.aggregates.get(&key).unwrap().services_online, 2);
    // One of the two dossiers of service 0 goes direct: the service still counts.
    live.ingest(snapshot(&Spec {
        key: 0,
        version: 2,
        channel: 1,
        ..base.clone()
    }));
    assert_eq!(live.aggregates.get(&key).unwrap().services_online, 2);
    // The other one too: now it does not.
    live.ingest(snapshot(&Spec {
        key: 1,
        version: 2,
        channel: 2,
        ..base.clone()
    }));
    assert_eq!(live.aggregates.get(&key).unwrap().services_online, 1);
    let mut per_service: Vec<(String, u64)> = live
        .aggregates
        .online_services(&key)
        .map(|(s, n)| (s.to_string(), n))
        .collect();
    per_service.sort();
    assert_eq!(per_service, [("1.000001".to_string(), 1)]);
}

#[test]
fn on_time_needs_a_due_date_and_counts_equal_instants() {
    let base = Spec {
        key: 0,
        version: 1,
        province: 0,
        received: 2,
        channel: 0,
        status: 2,
        service: 0,
        due: Some(2),
        done_after: 0,
        fee: 0,
        paid: false,
        e2e: false,
    };
    let on_time = |s: &Spec| snapshot(s).completed_on_time();
    assert!(on_time(&base), "completed_at == due_at is on time");
    assert!(on_time(&Spec {
        done_after: -1,
        ..base.clone()
    }));
    assert!(!on_time(&Spec {
        done_after: 1,
        ..base.clone()
    }));
    assert!(
        !on_time(&Spec {
            due: None,
            ..base.clone()
        }),
        "no due date: not on time"
    );
    assert!(
        !on_time(&Spec {
            status: 3,
            ..base.clone()
        }),
        "rejected is not completed"
    );
}

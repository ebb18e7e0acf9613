//! Reader behaviour: CSV headers, cell counts, physical line numbers (quoted multi-line
//! cells, empty lines, CRLF), invalid UTF-8, unclosed quotes, overlong lines, tiny
//! reads, format detection, and the NDJSON reader's line handling.

use std::io::Read;

use dxhub_ingest::{
    CsvReader, DossierReader, Format, IngestError, MAX_LINE_BYTES, NdjsonReader, Rejection,
    parse_all,
};

const HEADER: &str = "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online";

fn row(id: &str) -> String {
    format!(
        "{id},dvcqg,3,1.001612,79,26878,online,true,processing,2025-07-01T08:30:00+07:00,2025-07-05T08:30:00+07:00,,150000,true"
    )
}

/// `(line, reason)` of each rejection, and the dossier ids accepted.
fn run(text: &[u8], format: Format) -> (Vec<String>, Vec<(u64, String)>, u64) {
    let (ok, bad, lines) = parse_all(text, format).unwrap();
    (
        ok.iter().map(|s| s.dossier_id.to_string()).collect(),
        bad.iter().map(|r| (r.line, r.reason.clone())).collect(),
        lines,
    )
}

fn header_error(text: &str) -> dxhub_ingest::HeaderProblem {
    match CsvReader::new(text.as_bytes()) {
        Err(IngestError::Header(p)) => p,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("header accepted: {text:?}"),
    }
}

#[test]
fn csv_header_must_name_each_field_once() {
    let missing = HEADER.replace(",paid_online", "");
    let p = header_error(&format!("{missing}\n{}\n", row("a")));
    assert_eq!(p.missing, ["paid_online"]);
    assert!(p.unknown.is_empty() && p.duplicate.is_empty());
    assert_eq!(p.line, 1);

    let unknown = HEADER.replace("fee_vnd", "fee");
    let p = header_error(&format!("{unknown},foo\n"));
    assert_eq!(p.missing, ["fee_vnd"]);
    assert_eq!(p.unknown, ["fee", "foo"]);
    let msg = IngestError::Header(p).to_string();
    assert_eq!(
        msg,
        "line 1: the CSV header is not the spec's; missing columns: \"fee_vnd\"; unknown columns: \"fee\", \"foo\""
    );

    let dup = HEADER.replace("source", "version");
    let p = header_error(&dup);
    assert_eq!(p.duplicate, ["version"]);
    assert_eq!(p.missing, ["source"]);

    let upper = HEADER.replace("channel", "Channel");
    assert_eq!(header_error(&upper).unknown, ["Channel"]);

    let spaced = HEADER.replace(",source", ", source");
    assert_eq!(header_error(&spaced).unknown, [" source"]);

    assert!(matches!(
        CsvReader::new(&b""[..]),
        Err(IngestError::NoHeader)
    ));
    assert!(matches!(
        CsvReader::new(&b"\n\r\n"[..]),
        Err(IngestError::NoHeader)
    ));
    let p = header_error("\n\n\"dossier_id,source\n");
    assert_eq!(p.line, 3);
    assert!(p.malformed.is_some());
}

#[test]
fn csv_header_variants_that_are_accepted() {
    // Byte-order mark, CRLF, quoted names, empty lines before the header.
    let text = format!(
        "\u{feff}\r\n\"dossier_id\",{}\r\n{}\r\n",
        &HEADER["dossier_id,".len()..],
        row("a")
    );
    let (ok, bad, lines) = run(text.as_bytes(), Format::Csv);
    assert_eq!((ok, bad, lines), (vec!["a".to_string()], vec![], 3));

    // Columns in another order are mapped by name.
    let mut cols: Vec<&str> = HEADER.split(',').collect();
    let r = row("b");
    let mut cells: Vec<&str> = r.split(',').collect();
    cols.reverse();
    cells.reverse();
    let text = format!("{}\n{}\n", cols.join(","), cells.join(","));
    let (reordered, bad, _) = parse_all(text.as_bytes(), Format::Csv).unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    let (plain, _, _) = parse_all(format!("{HEADER}\n{r}\n").as_bytes(), Format::Csv).unwrap();
    assert_eq!(reordered, plain);

    // A header alone: no records.
    assert_eq!(run(HEADER.as_bytes(), Format::Csv), (vec![], vec![], 1));
}

#[test]
fn csv_wrong_cell_counts_are_rejected_with_their_line() {
    let r = row("a");
    let short = r.rsplit_once(',').unwrap().0.to_string();
    let text = format!("{HEADER}\n{r}\n{short}\n{r},extra\n,\n{}\n", row("z"));
    let (ok, bad, lines) = run(text.as_bytes(), Format::Csv);
    assert_eq!(ok, ["a", "z"]);
    assert_eq!(
        bad,
        [
            (3, "expected 14 cells, found 13".to_string()),
            (4, "expected 14 cells, found 15".to_string()),
            (5, "expected 14 cells, found 2".to_string()),
        ]
    );
    assert_eq!(lines, 6);
}

#[test]
fn csv_line_numbers_stay_physical_across_quoted_line_breaks() {
    let text = format!(
        "{HEADER}\n{}\n\"multi\nline\",{}\n{}\n\"G-q\",\"dvcqg\",\"3\",\"1.001612\",\"79\",\"\",\"online\",\"true\",\"received\",\"2025-07-01T08:30:00+07:00\",\"\",\"\",\"\",\"\"\n\"a \"\"quoted\"\" id\",{}\n{}\n",
        row("first"),
        &row("x")[2..],
        row("after"),
        &row("y")[2..],
        row("v1").replace(",3,", ",-3,"),
    );
    let (ok, bad, lines) = run(text.as_bytes(), Format::Csv);
    assert_eq!(ok, ["first", "after", "G-q", "a \"quoted\" id"]);
    assert_eq!(
        bad,
        [
            (
                3,
                "dossier_id: \"multi\\nline\" contains a control character".to_string()
            ),
            (8, "version: \"-3\" is not an integer ≥ 0".to_string()),
        ]
    );
    assert_eq!(lines, 8);
}

#[test]
fn csv_quoted_cells_may_hide_commas_and_crlf() {
    let text = format!(
        "{HEADER}\r\n\"a,b\",{}\r\n\"c\r\nd\",{}\r\n{}\r\n",
        &row("x")[2..],
        &row("x")[2..],
        row("e")
    );
    let (ok, bad, lines) = run(text.as_bytes(), Format::Csv);
    assert_eq!(ok, ["a,b", "e"]);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, 3);
    assert!(bad[0].1.contains("control character"), "{:?}", bad[0]);
    assert_eq!(lines, 5);
}

#[test]
fn csv_malformed_quoting_rejects_only_its_line() {
    let text = format!(
        "{HEADER}\nab\"c,{}\n\"ab\"c,{}\n{}\n",
        &row("x")[2..],
        &row("x")[2..],
        row("ok")
    );
    let (ok, bad, _) = run(text.as_bytes(), Format::Csv);
    assert_eq!(ok, ["ok"]);
    assert_eq!(
        bad,
        [
            (2, "malformed CSV: a quote inside an unquoted cell (quote the whole cell and double the quote)".to_string()),
            (3, "malformed CSV: a quoted cell must be followed by a comma or the end of the line".to_string()),
        ]
    );
}

#[test]
fn csv_unclosed_quote_rejects_its_line_and_reading_resumes_on_the_next() {
    let text = format!(
        "{HEADER}\n{}\n\"oops,{}\n{}\n{}\n",
        row("a"),
        &row("x")[2..],
        row("b"),
        row("c")
    );
    let (ok, bad, lines) = run(text.as_bytes(), Format::Csv);
    assert_eq!(ok, ["a", "b", "c"]);
    assert_eq!(
        bad,
        [(
            3,
            "malformed CSV: a quoted cell is not closed before the end of the file".to_string()
        )]
    );
    assert_eq!(lines, 5);
    // The same without a final newline, and with the quote on the last line.
    let text = format!("{HEADER}\n{}\n\"oops", row("a"));
    let (ok, bad, lines) = run(text.as_bytes(), Format::Csv);
    assert_eq!(ok, ["a"]);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, 3);
    assert_eq!(lines, 3);
}

#[test]
fn csv_empty_lines_are_skipped_but_counted_and_the_last_newline_is_optional() {
    let text = format!(
        "{HEADER}\n\n{}\n\r\n\n{}\n   \n{}",
        row("a"),
        row("b"),
        row("c")
    );
    let (ok, bad, lines) = run(text.as_bytes(), Format::Csv);
    assert_eq!(ok, ["a", "b", "c"]);
    assert_eq!(bad, [(7, "expected 14 cells, found 1".to_string())]);
    assert_eq!(lines, 8);
    let text = format!("{HEADER}\n{}\n", row("a"));
    assert_eq!(
        run(text.as_bytes(), Format::Csv),
        (vec!["a".into()], vec![], 2)
    );
    let text = format!("{HEADER}\n{}\n\n\n", row("a"));
    assert_eq!(
        run(text.as_bytes(), Format::Csv),
        (vec!["a".into()], vec![], 4)
    );
}

#[test]
fn invalid_utf8_rejects_the_line_and_the_rest_continues() {
    let mut text = format!("{HEADER}\n{}\n", row("a")).into_bytes();
    text.extend_from_slice(b"G\xff1");
    text.extend_from_slice(row("")[..].as_bytes());
    text.push(b'\n');
    text.extend_from_slice(format!("{}\n", row("b")).as_bytes());
    let (ok, bad, _) = run(&text, Format::Csv);
    assert_eq!(ok, ["a", "b"]);
    assert_eq!(
        bad,
        [(
            3,
            "the line is not valid UTF-8 (byte 0xff at byte 2 of the line)".to_string()
        )]
    );

    let mut nd = b"{\"dossier_id\":\"G\xff\"}\n".to_vec();
    nd.extend_from_slice(b"{}\n");
    let (_, bad, _) = run(&nd, Format::Ndjson);
    assert_eq!(
        bad[0],
        (
            1,
            "the line is not valid UTF-8 (byte 0xff at byte 17 of the line)".to_string()
        )
    );
    assert_eq!(bad[1], (2, "dossier_id is required".to_string()));
}

#[test]
fn overlong_lines_are_rejected_without_stopping_the_file() {
    let huge = "x".repeat(MAX_LINE_BYTES + 10);
    let text = format!(
        "{HEADER}\n{}\n{huge}\n{}\n\"{huge}\n{}\n",
        row("a"),
        row("b"),
        row("c")
    );
    let (ok, bad, lines) = run(text.as_bytes(), Format::Csv);
    assert_eq!(ok, ["a", "b", "c"]);
    let long = format!("the line is longer than {MAX_LINE_BYTES} bytes");
    assert_eq!(bad, [(3, long.clone()), (5, long.clone())]);
    assert_eq!(lines, 6);

    let text = format!("{huge}\n{{}}\n");
    let (_, bad, lines) = run(text.as_bytes(), Format::Ndjson);
    assert_eq!(bad[0], (1, long));
    assert_eq!(bad[1].0, 2);
    assert_eq!(lines, 2);
}

#[test]
fn a_quoted_cell_running_past_the_length_limit_rejects_only_its_first_line() {
    let mut text = format!("{HEADER}\n\"open,{}\n", &row("x")[2..]);
    while text.len() < MAX_LINE_BYTES + 1000 {
        text.push_str(&row("in"));
        text.push('\n');
    }
    text.push_str(&row("last"));
    text.push('\n');
    let (ok, bad, _) = run(text.as_bytes(), Format::Csv);
    assert_eq!(bad.len(), 1, "{:?}", &bad[..bad.len().min(3)]);
    assert_eq!(bad[0].0, 2);
    assert!(bad[0].1.contains("not closed within"), "{:?}", bad[0]);
    assert_eq!(ok.last().map(String::as_str), Some("last"));
    assert!(ok.iter().filter(|s| *s == "in").count() > 1000);
}

/// A reader that hands out at most `n` bytes per call (and sometimes zero-length
/// interruptions), to exercise every buffer boundary.
struct Trickle<'a> {
    data: &'a [u8],
    n: usize,
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(7) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "try again",
            ));
        }
        let k = self
            .n
            .min(buf.len())
            .min(self.data.len())
            .min(1 + self.calls % self.n);
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/golden/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn tiny_reads_give_the_same_result_as_one_big_read() {
    let tricky = format!(
        "\u{feff}{HEADER}\r\n{}\r\n\"multi\nline\",{}\n\n\"a,b\",{}\nab\"c\n{}",
        row("a"),
        &row("x")[2..],
        &row("x")[2..],
        row("z")
    )
    .into_bytes();
    for (name, format, data) in [
        ("tricky", Format::Csv, tricky),
        ("bad_2k.csv", Format::Csv, golden("bad_2k.csv")),
        ("bad_2k.ndjson", Format::Ndjson, golden("bad_2k.ndjson")),
    ] {
        let whole = parse_all(&data[..], format).unwrap();
        for n in [1, 2, 3, 5, 8, 13, 64, 1000] {
            let r = Trickle {
                data: &data,
                n,
                calls: 0,
            };
            let trickled = parse_all(r, format).unwrap();
            assert_eq!(trickled.0, whole.0, "{name} n={n}");
            assert_eq!(trickled.1, whole.1, "{name} n={n}");
            assert_eq!(trickled.2, whole.2, "{name} n={n}");
        }
    }
}

#[test]
fn tiny_reads_and_overlong_lines() {
    let huge = "x".repeat(MAX_LINE_BYTES + 10);
    let exact = "y".repeat(MAX_LINE_BYTES);
    let mut data = format!(
        "{HEADER}\n{}\n{huge}\n{exact}\n\"{huge}\n{}\n\"open,{}\n",
        row("a"),
        row("b"),
        &row("x")[2..]
    );
    while data.len() < 4 * MAX_LINE_BYTES {
        data.push_str(&row("in"));
        data.push('\n');
    }
    let data = data.into_bytes();
    let whole = parse_all(&data[..], Format::Csv).unwrap();
    assert_eq!(whole.1.len(), 4, "{:?}", whole.1);
    for n in [4096, 65536, 300_000] {
        let r = Trickle {
            data: &data,
            n,
            calls: 0,
        };
        let trickled = parse_all(r, Format::Csv).unwrap();
        assert_eq!(trickled.1, whole.1, "n={n}");
        assert_eq!(trickled.0.len(), whole.0.len(), "n={n}");
        assert_eq!(trickled.2, whole.2, "n={n}");
    }
}

#[test]
fn iterating_and_batches_agree_and_count_lines() {
    let data = golden("bad_2k.csv");
    let mut r = CsvReader::new(&data[..]).unwrap();
    assert_eq!(r.header_line(), 1);
    let mut ok = Vec::new();
    let mut bad: Vec<Rejection> = Vec::new();
    for item in &mut r {
        match item.unwrap() {
            Ok(s) => ok.push(s),
            Err(rej) => bad.push(rej),
        }
    }
    assert_eq!(r.lines_read(), 2001);
    assert_eq!(r.records_read(), 2000);
    let (ok2, bad2, lines) = parse_all(&data[..], Format::Csv).unwrap();
    assert_eq!((ok, bad, 2001), (ok2, bad2, lines));

    // Batches of 7.
    let mut r = DossierReader::new(&data[..], Format::Csv).unwrap();
    let (mut s, mut j) = (Vec::new(), Vec::new());
    let mut calls = 0;
    loop {
        let n = r.next_batch(&mut s, &mut j, 7).unwrap();
        if n == 0 {
            break;
        }
        assert!(n <= 7);
        calls += 1;
    }
    assert_eq!(calls, 2000usize.div_ceil(7));
    assert_eq!(s.len() + j.len(), 2000);
    assert_eq!(r.records_read(), 2000);
}

#[test]
fn ndjson_lines_empty_lines_and_crlf() {
    let data = golden("feed_2k.ndjson");
    let text = String::from_utf8(data).unwrap();
    let mut lines: Vec<&str> = text.lines().take(3).collect();
    lines.insert(1, "");
    let body = lines.join("\r\n");
    let (ok, bad, n) = run(body.as_bytes(), Format::Ndjson);
    assert_eq!((ok.len(), bad.len(), n), (3, 0, 4));
    let padded = format!("{body}\n\n");
    let mut r = NdjsonReader::new(padded.as_bytes()).unwrap();
    let items: Vec<_> = (&mut r).map(Result::unwrap).collect();
    assert_eq!(items.len(), 3);
    assert_eq!(r.lines_read(), 5);
}

#[test]
fn format_detection() {
    assert_eq!(Format::from_path("feed.CSV"), Some(Format::Csv));
    assert_eq!(Format::from_path("/x/feed.ndjson"), Some(Format::Ndjson));
    assert_eq!(Format::from_path("feed.jsonl"), Some(Format::Ndjson));
    assert_eq!(Format::from_path("feed.txt"), None);
    assert_eq!(
        Format::from_content_type("text/csv; charset=utf-8"),
        Some(Format::Csv)
    );
    assert_eq!(
        Format::from_content_type("Application/X-NDJSON"),
        Some(Format::Ndjson)
    );
    assert_eq!(Format::from_content_type("text/plain"), None);
    assert_eq!(Format::sniff(b"\xef\xbb\xbf  {\"a\":1}"), Format::Ndjson);
    assert_eq!(Format::sniff(HEADER.as_bytes()), Format::Csv);
    assert_eq!(Format::sniff(b""), Format::Csv);
    assert_eq!(
        Format::detect(Some("x.csv"), Some("application/x-ndjson"), b"dossier_id"),
        Format::Ndjson
    );
    assert_eq!(Format::detect(Some("x.csv"), None, b"{"), Format::Csv);
    assert_eq!(Format::detect(None, None, b"\n{"), Format::Ndjson);

    for name in ["feed_2k.csv", "feed_2k.ndjson"] {
        let data = golden(name);
        let mut r = DossierReader::sniffed(&data[..]).unwrap();
        assert_eq!(Some(r.format()), Format::from_path(name));
        let (mut s, mut j) = (Vec::new(), Vec::new());
        while r.next_batch(&mut s, &mut j, 500).unwrap() > 0 {}
        assert_eq!((s.len(), j.len()), (2000, 0));
    }
}

#[test]
fn parallel_parsing_equals_sequential_parsing() {
    use dxhub_ingest::parse_parallel;
    let huge = "x".repeat(MAX_LINE_BYTES + 10);
    let mid = format!("{},{}", row("mid"), "z".repeat(600 * 1024));
    let mut tricky = format!(
        "\u{feff}{HEADER}\r\n{}\r\n\"multi\nline\",{}\n\n\"a,b\",{}\nab\"c\n{huge}\n{mid}\n\"open,{}\n",
        row("a"),
        &row("x")[2..],
        &row("x")[2..],
        &row("x")[2..],
    );
    let mut i = 0;
    while tricky.len() < 3 * 1024 * 1024 {
        tricky.push_str(&row(&format!("r{i}")));
        tricky.push_str(if i % 1000 == 0 { "\n\n" } else { "\n" });
        if i % 5000 == 0 {
            tricky.push_str(&format!("\"q{i}\",{}\n", &row("x")[2..]));
        }
        i += 1;
    }
    tricky.push_str(&row("last"));
    for (name, format, data) in [
        ("tricky", Format::Csv, tricky.into_bytes()),
        ("bad_2k.csv", Format::Csv, golden("bad_2k.csv")),
        ("feed_2k.csv", Format::Csv, golden("feed_2k.csv")),
        ("bad_2k.ndjson", Format::Ndjson, golden("bad_2k.ndjson")),
        ("feed_2k.ndjson", Format::Ndjson, golden("feed_2k.ndjson")),
    ] {
        let (want_s, want_r, want_lines) = parse_all(&data[..], format).unwrap();
        for threads in [1, 2, 3] {
            let (mut s, mut r) = (Vec::new(), Vec::new());
            let mut next_line = None;
            let sum = parse_parallel(&data[..], format, threads, |b| {
                if let Some(n) = next_line {
                    assert_eq!(b.first_line, n, "{name}: batches arrive in order");
                }
                next_line = Some(b.first_line + b.lines);
                s.extend(b.snapshots);
                r.extend(b.rejections);
            })
            .unwrap();
            assert_eq!(sum.lines, want_lines, "{name} threads={threads}");
            assert_eq!(sum.snapshots as usize, want_s.len(), "{name}");
            assert_eq!(sum.rejections as usize, want_r.len(), "{name}");
            assert_eq!(r, want_r, "{name} threads={threads}");
            assert!(s == want_s, "{name} threads={threads}: snapshots differ");
        }
        // Short reads: chunks are then cut from buffers filled in many reads, and what
        // follows a chunk's last line goes over to the next buffer.
        for n in [1000, 65_536] {
            let (mut s, mut r) = (Vec::new(), Vec::new());
            let trickle = Trickle {
                data: &data,
                n,
                calls: 0,
            };
            let sum = parse_parallel(trickle, format, 2, |b| {
                s.extend(b.snapshots);
                r.extend(b.rejections);
            })
            .unwrap();
            assert_eq!(sum.lines, want_lines, "{name} n={n}");
            assert_eq!(r, want_r, "{name} n={n}");
            assert!(s == want_s, "{name} n={n}: snapshots differ");
        }
    }
}

#[test]
fn parallel_parsing_with_a_check_rejects_and_encodes_on_the_parsing_threads() {
    use dxhub_ingest::{
        BatchBuilder, DossierSnapshot, KeyedBatch, Spares, parse_parallel, parse_parallel_with,
    };
    let check = |s: &DossierSnapshot| {
        if s.version.is_multiple_of(3) {
            Err(("version", format!("{} is refused", s.version)))
        } else {
            Ok(())
        }
    };
    let finals = |b: &KeyedBatch| -> Vec<(Vec<u8>, u64, Vec<u8>)> {
        (0..b.len())
            .map(|i| (b.key(i).to_vec(), b.version(i), b.fields(i).to_vec()))
            .collect()
    };
    // A quoted record is parsed on the reading thread: it is checked there.
    let mut quoted = golden("feed_2k.csv");
    quoted.extend_from_slice(format!("\"q\",{}\n", &row("x")[2..]).as_bytes());
    for (name, format, data) in [
        ("bad_2k.csv", Format::Csv, golden("bad_2k.csv")),
        ("feed_2k.csv + quoted", Format::Csv, quoted),
        ("feed_2k.ndjson", Format::Ndjson, golden("feed_2k.ndjson")),
    ] {
        // What the check should do, worked out from an unchecked parse.
        let (mut want_rejections, mut want) = (Vec::new(), BatchBuilder::new());
        parse_parallel(&data[..], format, 1, |b| {
            want_rejections.extend(b.rejections);
            for (s, &line) in b.snapshots.iter().zip(&b.snapshot_lines) {
                match check(s) {
                    Ok(()) => want.push(s),
                    Err((field, reason)) => want_rejections.push(Rejection {
                        line,
                        field: Some(field.into()),
                        reason,
                    }),
                }
            }
        })
        .unwrap();
        want_rejections.sort_by_key(|r| r.line);
        let want = want.finish();
        assert!(
            want_rejections
                .iter()
                .any(|r| r.field.as_deref() == Some("version"))
        );
        for threads in [1, 2, 3] {
            let (mut rejections, mut got) = (Vec::new(), BatchBuilder::new());
            let sum = parse_parallel_with(
                &data[..],
                format,
                threads,
                &Spares::new(),
                Some(&check),
                |b| {
                    assert!(b.snapshots.is_empty(), "{name}: checked lines come encoded");
                    rejections.extend(b.rejections);
                    got.append(b.encoded);
                },
            )
            .unwrap();
            rejections.sort_by_key(|r| r.line);
            assert_eq!(rejections, want_rejections, "{name} threads={threads}");
            assert_eq!(sum.rejections as usize, want_rejections.len());
            let got = got.finish();
            assert_eq!(sum.snapshots, got.lines(), "{name} threads={threads}");
            assert_eq!(got.lines(), want.lines(), "{name} threads={threads}");
            assert!(
                finals(&got) == finals(&want),
                "{name} threads={threads}: batches differ"
            );
        }
    }
}

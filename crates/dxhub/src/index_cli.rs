//! `dxhub index`: scores from a CSV of indicator values with a shipped or given methodology
//! (nothing stored), and the list of shipped methodologies.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use dxhub_index::{AppliesTo, Methodology, Values};

/// The `index` subcommands.
#[derive(Subcommand)]
pub enum IndexCmd {
    /// Scores and ranks units from `unit_code,indicator,value` rows; prints
    /// `unit_code,score,rank` as CSV, stores nothing.
    Score {
        /// A shipped methodology id (see `dxhub index methodologies`), or the id of the file
        /// given with --methodology-file.
        #[arg(long)]
        methodology: String,
        /// A methodology TOML file to use instead of the shipped ones.
        #[arg(long, value_name = "FILE.toml")]
        methodology_file: Option<PathBuf>,
        /// The values: CSV with header `unit_code,indicator,value`; `-` reads standard input.
        #[arg(long, value_name = "FILE.csv")]
        values: PathBuf,
        /// Values are of the 63 provinces before 2025-07-01: score them on the 34-province
        /// map, each new province taking the mean of its predecessors' values (the rule
        /// used when DTI 2024 was ranked on both maps).
        #[arg(long)]
        onto_34: bool,
        /// With --onto-34: weight each old province by `unit_code,weight` rows (e.g. its
        /// population) instead of the plain mean.
        #[arg(long, value_name = "FILE.csv", requires = "onto_34")]
        weights: Option<PathBuf>,
    },
    /// Lists the shipped methodologies: id, version and names.
    Methodologies,
}

/// Runs an `index` subcommand.
pub fn run(cmd: IndexCmd) -> anyhow::Result<()> {
    match cmd {
        IndexCmd::Methodologies => {
            println!("id,version,applies_to,name_vi,name_en");
            for m in dxhub_index::shipped() {
                println!(
                    "{},{},{},{},{}",
                    m.id,
                    m.version,
                    level_name(m.applies_to),
                    quote(&m.name_vi),
                    quote(&m.name_en)
                );
            }
            Ok(())
        }
        IndexCmd::Score {
            methodology,
            methodology_file,
            values,
            onto_34,
            weights,
        } => {
            let m = choose(&methodology, methodology_file.as_deref())?;
            let text = if values.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the values from standard input")?;
                s
            } else {
                std::fs::read_to_string(&values)
                    .with_context(|| format!("cannot read {}", values.display()))?
            };
            let name = if values.as_os_str() == "-" {
                "<stdin>".to_owned()
            } else {
                values.display().to_string()
            };
            let mut vals = read_values(&m, &name, &text)?;
            if onto_34 {
                vals = onto_34_map(&vals, weights.as_deref())?;
            }
            let scores = dxhub_index::score(&m, &vals)?;
            for s in &scores {
                for code in &s.missing {
                    eprintln!(
                        "warning: unit {}: no value for scored indicator {code}; counted as 0",
                        s.unit
                    );
                }
            }
            let mut out = String::from("unit_code,score,rank\n");
            for s in &scores {
                // Both scales print 4 decimals: ratios as published (0.8002), points too.
                out.push_str(&format!("{},{:.4},{}\n", quote(&s.unit), s.score, s.rank));
            }
            print!("{out}");
            Ok(())
        }
    }
}

/// Re-expresses 63-province values on the 34-province map (plain or weighted mean).
fn onto_34_map(values: &Values, weights: Option<&std::path::Path>) -> anyhow::Result<Values> {
    let weight_of: Option<std::collections::BTreeMap<String, f64>> = match weights {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut out = std::collections::BTreeMap::new();
            let mut lines = text.lines().enumerate();
            match lines.next() {
                Some((_, h)) if h.trim_start_matches('\u{feff}').trim() == "unit_code,weight" => {}
                _ => bail!("{}:1: the header must be unit_code,weight", path.display()),
            }
            for (i, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
                let (code, w) = line.split_once(',').with_context(|| {
                    format!("{}:{}: expected unit_code,weight", path.display(), i + 1)
                })?;
                let w: f64 = w
                    .trim()
                    .parse()
                    .ok()
                    .filter(|w: &f64| w.is_finite() && *w >= 0.0)
                    .with_context(|| {
                        format!(
                            "{}:{}: field weight: '{}' is not a number of 0 or more",
                            path.display(),
                            i + 1,
                            w.trim()
                        )
                    })?;
                if out.insert(code.trim().to_owned(), w).is_some() {
                    bail!(
                        "{}:{}: field unit_code: '{}' given twice",
                        path.display(),
                        i + 1,
                        code.trim()
                    );
                }
            }
            Some(out)
        }
    };
    let mut mapping: std::collections::BTreeMap<String, Vec<(String, f64)>> = Default::default();
    for line in dxhub_reference::PROVINCE_MERGER_63_TO_34.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let (Some(old), Some(new)) = (cols.first(), cols.get(2)) else {
            continue;
        };
        if !values.contains_key(*old) {
            continue;
        }
        let w = match &weight_of {
            None => 1.0,
            Some(map) => *map
                .get(*old)
                .with_context(|| format!("no weight for unit {old} (a predecessor of {new})"))?,
        };
        mapping
            .entry((*new).to_owned())
            .or_default()
            .push(((*old).to_owned(), w));
    }
    for unit in values.keys() {
        if !mapping.values().flatten().any(|(old, _)| old == unit) {
            bail!("unit {unit} is not one of the 63 provinces before 2025-07-01");
        }
    }
    let weighting = if weight_of.is_some() {
        dxhub_index::Weighting::Weighted
    } else {
        dxhub_index::Weighting::Mean
    };
    Ok(dxhub_index::reexpress(values, &mapping, weighting)?)
}

fn level_name(level: AppliesTo) -> &'static str {
    match level {
        AppliesTo::Province => "province",
        AppliesTo::Ministry => "ministry",
    }
}

/// Quotes a CSV field when needed.
fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The methodology: from the file when given (its id must match), else a shipped one.
fn choose(id: &str, file: Option<&std::path::Path>) -> anyhow::Result<Methodology> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let m = dxhub_index::load(&path.display().to_string(), &text)?;
        if m.id != id {
            bail!(
                "--methodology {id}: the file {} defines methodology '{}'",
                path.display(),
                m.id
            );
        }
        return Ok(m);
    }
    dxhub_index::shipped_by_id(id).with_context(|| {
        format!(
            "--methodology: unknown methodology '{id}' (known: {})",
            dxhub_index::shipped_ids().join(", ")
        )
    })
}

/// Reads `unit_code,indicator,value` rows; every bad row is an error naming line, field
/// and reason.
fn read_values(m: &Methodology, name: &str, text: &str) -> anyhow::Result<Values> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .with_context(|| format!("{name}: line 1: cannot read the header"))?
        .clone();
    let want = ["unit_code", "indicator", "value"];
    if header.iter().collect::<Vec<_>>() != want {
        bail!(
            "{name}: line 1: the header must be exactly unit_code,indicator,value, found {}",
            header.iter().collect::<Vec<_>>().join(",")
        );
    }
    let known: Vec<&str> = m.main_indicators().map(|i| i.code.as_str()).collect();
    let mut values = Values::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{name}: malformed CSV"))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != want.len() {
            bail!(
                "{name}: line {line}: expected 3 fields (unit_code,indicator,value), found {}",
                record.len()
            );
        }
        let field = |i: usize| record.get(i).unwrap_or("");
        let (unit, code, value) = (field(0), field(1), field(2));
        if unit.is_empty() {
            bail!("{name}: line {line}: field unit_code: empty");
        }
        if !known.contains(&code) {
            bail!(
                "{name}: line {line}: field indicator: unknown indicator '{code}' for {} (known: {})",
                m.id,
                known.join(", ")
            );
        }
        let v: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .with_context(|| {
                format!("{name}: line {line}: field value: '{value}' is not a number")
            })?;
        if !(0.0..=1.0).contains(&v) {
            bail!("{name}: line {line}: field value: {value} is outside 0..1");
        }
        let row = values.entry(unit.to_owned()).or_default();
        if row.insert(code.to_owned(), v).is_some() {
            bail!(
                "{name}: line {line}: field indicator: duplicate value for unit {unit} and indicator {code}"
            );
        }
    }
    Ok(values)
}

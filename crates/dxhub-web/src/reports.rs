//! Reported values as people send them: the numbers typed in a form (Vietnamese decimal
//! commas and percentages accepted), and the XLSX template a unit downloads, fills in and
//! uploads again. Every bad value is reported with its field, or its sheet, row and
//! column, and nothing is written unless everything is valid.

use dxhub_index::{Element, Methodology, Source, ValueKind};
use dxhub_store::{ReportedValue, ValueChange};

/// The sheet holding the values in the template.
pub const VALUES_SHEET: &str = "Giá trị";
/// The sheet that says which report the file belongs to.
pub const INFO_SHEET: &str = "Thông tin";
/// The header of the values sheet.
pub const HEADER: [&str; 5] = ["Mã", "Chỉ tiêu", "Đơn vị tính", "Giá trị", "Ghi chú"];

/// The elements a unit reports for a methodology, in file order.
pub fn reported_elements(m: &Methodology) -> Vec<&Element> {
    m.elements
        .iter()
        .filter(|e| matches!(e.source, Source::Reported))
        .collect()
}

/// How a kind of value is described to people (Vietnamese, English).
pub fn kind_label(kind: ValueKind) -> (&'static str, &'static str) {
    match kind {
        ValueKind::Ratio => ("tỷ lệ 0–1 (hoặc %)", "share 0–1 (or %)"),
        ValueKind::Count => ("số lượng", "count"),
        ValueKind::Vnd => ("đồng", "VND"),
        ValueKind::Number => ("số", "number"),
    }
}

/// Reads a value typed by a person for `element`: `0.85`, `0,85`, `85%`, `1.234.567`
/// (thousands dots) are accepted where they are unambiguous. Returns why not otherwise.
pub fn parse_value(element: &Element, text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (t, percent) = match t.strip_suffix('%') {
        Some(rest) => (rest.trim_end(), true),
        None => (t, false),
    };
    let normalised = normalise_number(t).ok_or_else(|| format!("'{text}' is not a number"))?;
    let mut v: f64 = normalised
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if !v.is_finite() {
        return Err(format!("'{text}' is not a number"));
    }
    if percent {
        if element.kind != ValueKind::Ratio {
            return Err(format!("'{text}': a percentage only fits a share"));
        }
        v /= 100.0;
    }
    check_range(element, v).map_err(|reason| format!("'{text}': {reason}"))?;
    Ok(v)
}

/// Checks a number against its element's kind.
pub fn check_range(element: &Element, v: f64) -> Result<(), String> {
    match element.kind {
        ValueKind::Ratio if !(0.0..=1.0).contains(&v) => {
            Err("a share must lie between 0 and 1 (or 0% and 100%)".into())
        }
        ValueKind::Count if v < 0.0 || v.fract() != 0.0 => {
            Err("a count must be a whole number, 0 or more".into())
        }
        ValueKind::Vnd if v < 0.0 => Err("an amount cannot be negative".into()),
        _ => Ok(()),
    }
}

/// `1.234.567,5` → `1234567.5`; `0,85` → `0.85`; `1,234.5` → `1234.5`; `-3` stays.
fn normalise_number(t: &str) -> Option<String> {
    if t.is_empty()
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '-' | '+' | 'e' | 'E'))
    {
        return None;
    }
    let dots = t.matches('.').count();
    let commas = t.matches(',').count();
    Some(match (dots, commas) {
        (_, 0) if dots <= 1 => t.to_owned(),
        (0, 1) => t.replace(',', "."),
        // Several dots and at most one comma: dots group thousands (Vietnamese style).
        (_, 0..=1) if dots > 1 || t.rfind(',') > t.rfind('.') => {
            t.replace('.', "").replace(',', ".")
        }
        // Commas group thousands, one dot is the decimal point (English style).
        (0..=1, _) => t.replace(',', ""),
        _ => return None,
    })
}

/// A value problem found in a form or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: a form field name, or `sheet 'Giá trị', row 5, column D`.
    pub at: String,
    /// Why.
    pub reason: String,
}

/// Reads the value fields of the report form (`value:<code>`, `note:<code>`): an empty
/// value clears it. Returns the changes, or every problem found.
pub fn changes_from_form(
    m: &Methodology,
    fields: &[(String, String)],
) -> Result<Vec<ValueChange>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut changes = Vec::new();
    for (name, _) in fields {
        if let Some(code) = name
            .strip_prefix("value:")
            .or_else(|| name.strip_prefix("note:"))
            && !reported_elements(m).iter().any(|e| e.code == code)
        {
            problems.push(Problem {
                at: name.clone(),
                reason: format!("'{code}' is not a reported value of {}", m.id),
            });
        }
    }
    for e in reported_elements(m) {
        let get = |prefix: &str| {
            fields
                .iter()
                .find(|(k, _)| k.strip_prefix(prefix) == Some(e.code.as_str()))
                .map(|(_, v)| v.trim().to_owned())
        };
        let Some(text) = get("value:") else { continue };
        let note = get("note:").filter(|n| !n.is_empty());
        if let Some(n) = &note
            && (n.chars().count() > 2000
                || n.chars().any(|c| c.is_control() && c != '\n' && c != '\r'))
        {
            problems.push(Problem {
                at: format!("note:{}", e.code),
                reason: "at most 2,000 printable characters".into(),
            });
            continue;
        }
        if text.is_empty() {
            changes.push(ValueChange {
                code: e.code.clone(),
                value: None,
                note: None,
            });
            continue;
        }
        match parse_value(e, &text) {
            Ok(v) => changes.push(ValueChange {
                code: e.code.clone(),
                value: Some(v),
                note,
            }),
            Err(reason) => problems.push(Problem {
                at: format!("value:{}", e.code),
                reason,
            }),
        }
    }
    if problems.is_empty() {
        Ok(changes)
    } else {
        Err(problems)
    }
}

/// What the template's information sheet records, checked on upload so a file filled in
/// for another unit or period is not applied to this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    /// Methodology id.
    pub methodology: String,
    /// Methodology version.
    pub version: u32,
    /// Period.
    pub period: String,
    /// Unit code.
    pub unit: String,
    /// Unit name (for people).
    pub unit_name: String,
}

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> String {
    format!("cannot write the template: {e}")
}

/// The XLSX template of a report, holding the current values.
pub fn template(
    m: &Methodology,
    info: &TemplateInfo,
    current: &[ReportedValue],
) -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let locked_grey = Format::new().set_background_color("F2F2F2");
    let ws = wb.add_worksheet();
    ws.set_name(VALUES_SHEET).map_err(xlsx_err)?;
    for (col, h) in HEADER.iter().enumerate() {
        ws.write_with_format(0, col as u16, *h, &bold)
            .map_err(xlsx_err)?;
    }
    for (i, e) in reported_elements(m).iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_with_format(row, 0, &e.code, &locked_grey)
            .map_err(xlsx_err)?;
        ws.write_with_format(row, 1, &e.name_vi, &locked_grey)
            .map_err(xlsx_err)?;
        ws.write_with_format(row, 2, kind_label(e.kind).0, &locked_grey)
            .map_err(xlsx_err)?;
        if let Some(v) = current.iter().find(|v| v.code == e.code) {
            ws.write_number(row, 3, v.value).map_err(xlsx_err)?;
            if let Some(n) = &v.note {
                ws.write(row, 4, n).map_err(xlsx_err)?;
            }
        }
    }
    ws.set_column_width(0, 26).map_err(xlsx_err)?;
    ws.set_column_width(1, 60).map_err(xlsx_err)?;
    ws.set_column_width(2, 20).map_err(xlsx_err)?;
    ws.set_column_width(3, 14).map_err(xlsx_err)?;
    ws.set_column_width(4, 50).map_err(xlsx_err)?;
    ws.set_freeze_panes(1, 0).map_err(xlsx_err)?;
    let info_ws = wb.add_worksheet();
    info_ws.set_name(INFO_SHEET).map_err(xlsx_err)?;
    let rows: [(&str, String); 6] = [
        ("Bộ chỉ số (methodology)", info.methodology.clone()),
        ("Phiên bản (version)", info.version.to_string()),
        ("Kỳ (period)", info.period.clone()),
        ("Mã đơn vị (unit code)", info.unit.clone()),
        ("Đơn vị (unit)", info.unit_name.clone()),
        (
            "Hướng dẫn (how to)",
            "Điền cột 'Giá trị' (và 'Ghi chú' nếu cần) ở trang 'Giá trị'; không đổi cột 'Mã'. \
             Tỷ lệ ghi 0–1 hoặc %. Để trống để xóa giá trị."
                .to_owned(),
        ),
    ];
    for (i, (k, v)) in rows.iter().enumerate() {
        info_ws
            .write_with_format(i as u32, 0, *k, &bold)
            .map_err(xlsx_err)?;
        info_ws.write(i as u32, 1, v).map_err(xlsx_err)?;
    }
    info_ws.set_column_width(0, 28).map_err(xlsx_err)?;
    info_ws.set_column_width(1, 60).map_err(xlsx_err)?;
    wb.save_to_buffer().map_err(xlsx_err)
}

fn column_letter(col: usize) -> char {
    (b'A' + col as u8) as char
}

fn cell_text(c: &calamine::Data) -> String {
    use calamine::Data;
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// Reads a filled-in template: every problem located by sheet, row and column; the
/// changes only when there is none. Empty value cells clear the value.
pub fn read_upload(
    m: &Methodology,
    expected: &TemplateInfo,
    bytes: &[u8],
) -> Result<Vec<ValueChange>, Vec<Problem>> {
    use calamine::{Data, Reader, Xlsx};
    let one = |at: &str, reason: String| {
        vec![Problem {
            at: at.to_owned(),
            reason,
        }]
    };
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes))
        .map_err(|e| one("file", format!("not a readable XLSX workbook ({e})")))?;
    let info = book.worksheet_range(INFO_SHEET).map_err(|_| {
        one(
            "file",
            format!("no sheet '{INFO_SHEET}': use the template downloaded from dxhub"),
        )
    })?;
    let info_at = |row: u32| info.get_value((row, 1)).map(cell_text).unwrap_or_default();
    let mut problems = Vec::new();
    for (row, what, want) in [
        (0u32, "methodology", expected.methodology.clone()),
        (2, "period", expected.period.clone()),
        (3, "unit code", expected.unit.clone()),
    ] {
        let got = info_at(row);
        // A numeric cell may come back as "24" or "2025"; compare as text.
        let got = got.strip_suffix(".0").unwrap_or(&got).to_owned();
        if got != want {
            problems.push(Problem {
                at: format!("sheet '{INFO_SHEET}', row {}, column B", row + 1),
                reason: format!("this file is for {what} '{got}', but this report is for '{want}'"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let range = book.worksheet_range(VALUES_SHEET).map_err(|_| {
        one(
            "file",
            format!("no sheet '{VALUES_SHEET}': use the template downloaded from dxhub"),
        )
    })?;
    let at = |row: usize, col: usize| {
        format!(
            "sheet '{VALUES_SHEET}', row {}, column {}",
            row + 1,
            column_letter(col)
        )
    };
    let start = range.start().unwrap_or((0, 0));
    if start != (0, 0) && !range.is_empty() {
        return Err(one(
            &at(start.0 as usize, start.1 as usize),
            "the sheet must start at A1 with the template's header".into(),
        ));
    }
    let rows: Vec<&[Data]> = range.rows().collect();
    let header_ok = rows.first().is_some_and(|h| {
        HEADER
            .iter()
            .enumerate()
            .all(|(i, want)| h.get(i).map(cell_text).as_deref() == Some(*want))
    });
    if !header_ok {
        return Err(one(
            &at(0, 0),
            format!("the header must read {}", HEADER.join(" | ")),
        ));
    }
    let elements = reported_elements(m);
    let mut seen = std::collections::BTreeSet::new();
    let mut changes = Vec::new();
    for (i, row) in rows.iter().enumerate().skip(1) {
        let code = row.first().map(cell_text).unwrap_or_default();
        let value = row.get(3).cloned().unwrap_or(Data::Empty);
        let note = row.get(4).map(cell_text).filter(|n| !n.is_empty());
        if code.is_empty() {
            if !matches!(value, Data::Empty) {
                problems.push(Problem {
                    at: at(i, 0),
                    reason: "a value without a code".into(),
                });
            }
            continue;
        }
        let Some(e) = elements.iter().find(|e| e.code == code) else {
            problems.push(Problem {
                at: at(i, 0),
                reason: format!("'{code}' is not a reported value of {}", m.id),
            });
            continue;
        };
        if !seen.insert(code.clone()) {
            problems.push(Problem {
                at: at(i, 0),
                reason: format!("'{code}' appears twice"),
            });
            continue;
        }
        let parsed = match &value {
            Data::Empty => Ok(None),
            Data::Float(f) => check_range(e, *f)
                .map(|()| Some(*f))
                .map_err(|r| format!("{f}: {r}")),
            Data::Int(n) => check_range(e, *n as f64)
                .map(|()| Some(*n as f64))
                .map_err(|r| format!("{n}: {r}")),
            Data::String(s) if s.trim().is_empty() => Ok(None),
            Data::String(s) => parse_value(e, s).map(Some),
            other => Err(format!("'{other}' is not a number")),
        };
        match parsed {
            Ok(v) => changes.push(ValueChange {
                code: code.clone(),
                value: v,
                note: if v.is_some() { note } else { None },
            }),
            Err(reason) => problems.push(Problem {
                at: at(i, 3),
                reason,
            }),
        }
    }
    if problems.is_empty() {
        Ok(changes)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_people_type_them() {
        assert_eq!(normalise_number("0,85").as_deref(), Some("0.85"));
        assert_eq!(normalise_number("1.234.567").as_deref(), Some("1234567"));
        assert_eq!(
            normalise_number("1.234.567,5").as_deref(),
            Some("1234567.5")
        );
        assert_eq!(normalise_number("1,234.5").as_deref(), Some("1234.5"));
        assert_eq!(normalise_number("0.85").as_deref(), Some("0.85"));
        assert_eq!(normalise_number("abc"), None);
        assert_eq!(normalise_number(""), None);
    }
}

//! A unit's report for one methodology and period: the values form, the XLSX template
//! and upload, evidence files, and the workflow buttons each role may press. Officers fill
//! in their own unit's report; reviewers verify or return it; another reviewer (or an
//! administrator) approves it, and an approved revision is locked.

use axum::Form;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dxhub_core::auth::{Action, Decision, authorize};
use dxhub_core::reports::{ReportKey, ReportState, Transition, evidence_media_type};
use dxhub_core::units::{Unit, UnitLevel};
use dxhub_index::{AppliesTo, Methodology};
use dxhub_store::{Evidence, NewEvidence, Report, ReportFilter, ReportedValue};
use maud::{Markup, html};

use super::{PageCtx, PageError};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::reports::{
    Problem, TemplateInfo, changes_from_form, kind_label, read_upload, reported_elements, template,
};

/// What a report page is about, resolved from its path.
struct Target {
    methodology: Methodology,
    key: ReportKey,
    unit: Unit,
}

impl Target {
    fn path(&self) -> String {
        report_path(&(
            self.key.methodology.clone(),
            self.key.period.clone(),
            self.key.unit.clone(),
        ))
    }

    fn view(&self) -> Action<'_> {
        Action::ViewReports {
            level: self.key.level,
            province_or_ministry: &self.key.unit,
        }
    }

    /// What taking a workflow step asks of the caller (the buttons shown and the step
    /// taken are decided alike).
    fn step_action(&self, step: Transition, verified_by: Option<i64>) -> Action<'_> {
        match step {
            Transition::Submit => self.edit(),
            Transition::Return | Transition::Verify => Action::ReviewReport,
            Transition::Approve => Action::ApproveReport { verified_by },
        }
    }

    fn edit(&self) -> Action<'_> {
        Action::EditReport {
            level: self.key.level,
            province_or_ministry: &self.key.unit,
        }
    }
}

/// The page of the report a path names.
fn report_path((m, period, unit): &(String, String, String)) -> String {
    format!("/reports/{m}/{period}/{unit}")
}

fn methodology(id: &str) -> Result<Methodology, ApiError> {
    dxhub_index::shipped_by_id(id).ok_or_else(|| {
        ApiError::NotFound(format!(
            "there is no methodology '{id}'; known: {}",
            dxhub_index::shipped_ids().join(", ")
        ))
    })
}

async fn target(
    state: &AppState,
    ctx: &PageCtx,
    (m, period, code): &(String, String, String),
) -> Result<Target, PageError> {
    let methodology = methodology(m).map_err(|e| ctx.err(e))?;
    let parsed: dxhub_index::Period = period
        .parse()
        .map_err(|e: dxhub_index::PeriodParseError| ctx.err(ApiError::bad("period", e.0)))?;
    let level = match methodology.applies_to {
        AppliesTo::Province => UnitLevel::Province,
        AppliesTo::Ministry => UnitLevel::Ministry,
    };
    if UnitLevel::of_code(code) != Some(level) {
        return Err(ctx.err(ApiError::bad(
            "unit",
            format!(
                "'{code}' is not a {} code; {} assesses {}s",
                level.as_str(),
                m,
                level.as_str()
            ),
        )));
    }
    // The unit version in force at the end of the period (the map it is assessed on).
    let end = jiff::civil::date(parsed.year() as i16, 12, 31);
    let versions = state
        .store
        .unit_versions(code, Some(level))
        .await
        .map_err(|e| ctx.err(e))?;
    let unit = versions
        .iter()
        .find(|u| u.valid_on(end))
        .or(versions.last())
        .cloned()
        .ok_or_else(|| {
            ctx.err(ApiError::NotFound(format!(
                "there is no unit with code {code}"
            )))
        })?;
    Ok(Target {
        key: ReportKey {
            methodology: methodology.id.clone(),
            period: parsed.to_string(),
            level,
            unit: code.clone(),
        },
        methodology,
        unit,
    })
}

fn allowed(caller: &Caller, action: &Action<'_>) -> bool {
    authorize(&caller.principal, action) == Decision::Allow
}

fn user_id(caller: &Caller) -> i64 {
    caller.user.as_ref().map(|u| u.id).unwrap_or(0)
}

/// A message shown above the form: text and whether it is good news.
type Flash = Option<(String, bool)>;

/// The values typed in a refused form, shown again so nothing typed is lost.
type Typed<'a> = Option<&'a [(String, String)]>;

struct View<'a> {
    t: &'a Target,
    report: Option<Report>,
    values: Vec<ReportedValue>,
    evidence: Vec<Evidence>,
    revisions: Vec<Report>,
}

async fn load(
    state: &AppState,
    ctx: &PageCtx,
    t: &Target,
) -> Result<
    (
        Option<Report>,
        Vec<ReportedValue>,
        Vec<Evidence>,
        Vec<Report>,
    ),
    PageError,
> {
    let store = &state.store;
    let report = store.current_report(&t.key).await.map_err(|e| ctx.err(e))?;
    let (values, evidence) = match &report {
        Some(r) => (
            store.report_values(r.id).await.map_err(|e| ctx.err(e))?,
            store.evidence(r.id).await.map_err(|e| ctx.err(e))?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let revisions = store
        .report_revisions(&t.key)
        .await
        .map_err(|e| ctx.err(e))?;
    Ok((report, values, evidence, revisions))
}

fn problems_list(ctx: &PageCtx, problems: &[Problem]) -> Markup {
    let lang = ctx.lang;
    html! {
        div.error role="alert" {
            p { (lang.t("Chưa lưu gì, vì có lỗi:", "Nothing was saved, because of these problems:")) }
            ul { @for p in problems { li { code { (p.at) } ": " (p.reason) } } }
        }
    }
}

fn body(
    ctx: &PageCtx,
    v: &View<'_>,
    flash: &Flash,
    problems: &[Problem],
    typed: Typed<'_>,
) -> Markup {
    let lang = ctx.lang;
    let t = v.t;
    let m = &t.methodology;
    let state = v
        .report
        .as_ref()
        .map(|r| r.state)
        .unwrap_or(ReportState::Draft);
    let can_edit = allowed(&ctx.caller, &t.edit()) && state.editable();
    let path = t.path();
    let typed_value = |code: &str, prefix: &str| {
        typed.and_then(|f| {
            f.iter()
                .find(|(k, _)| k.strip_prefix(prefix) == Some(code))
                .map(|(_, v)| v.clone())
        })
    };
    let steps: Vec<Transition> = Transition::ALL
        .into_iter()
        .filter(|s| s.from_states().contains(&state) && v.report.is_some())
        .filter(|s| {
            allowed(
                &ctx.caller,
                &t.step_action(*s, v.report.as_ref().and_then(|r| r.verified_by)),
            )
        })
        .collect();
    let (svi, sen) = state.label();
    html! {
        p.crumbs { a href="/reports" { (lang.t("Báo cáo", "Reports")) } " › " (m.id) " › " (t.key.period) }
        h1 { (t.unit.name) " — " (lang.t(&m.name_vi, &m.name_en)) ", " (t.key.period) }
        p {
            (lang.t("Trạng thái: ", "State: ")) strong.state { (lang.t(svi, sen)) }
            @if let Some(r) = &v.report { " · " (lang.t("lần sửa ", "revision ")) (r.revision)
                " · " (lang.t("cập nhật ", "updated ")) (super::local_time(&r.updated_at)) " " (lang.t("bởi ", "by ")) (r.updated_by) }
        }
        @if let Some(r) = &v.report { @if let Some(c) = &r.comment {
            p.notice role="note" { strong { (lang.t("Ý kiến: ", "Comment: ")) } (c) }
        } }
        @if let Some((msg, ok)) = flash { p class=(if *ok { "notice" } else { "error" }) role="status" { (msg) } }
        @if !problems.is_empty() { (problems_list(ctx, problems)) }
        @if state == ReportState::Approved {
            p { (lang.t("Báo cáo đã phê duyệt và bị khóa. Muốn sửa, người thẩm định mở lại thành một lần sửa mới; bản đã duyệt vẫn giữ nguyên.",
                        "This report is approved and locked. A correction is a new revision opened by a reviewer; the approved one stays as it is.")) }
        }
        h2 { (lang.t("Giá trị", "Values")) }
        form method="post" action={ (path) "/values" } {
            input type="hidden" name="csrf" value=(ctx.csrf());
            table.data {
                thead { tr { th { (lang.t("Mã", "Code")) } th { (lang.t("Chỉ tiêu", "Indicator")) } th { (lang.t("Giá trị", "Value")) } th { (lang.t("Ghi chú", "Note")) } } }
                tbody {
                    @for e in reported_elements(m) {
                        @let current = v.values.iter().find(|x| x.code == e.code);
                        @let shown = typed_value(&e.code, "value:").or_else(|| current.map(|c| c.value.to_string())).unwrap_or_default();
                        @let note = typed_value(&e.code, "note:").or_else(|| current.and_then(|c| c.note.clone())).unwrap_or_default();
                        @let (kvi, ken) = kind_label(e.kind);
                        @let bad = problems.iter().any(|p| p.at == format!("value:{}", e.code));
                        tr {
                            td { code { (e.code) } }
                            td { label for={ "v-" (e.code) } { (lang.t(&e.name_vi, &e.name_en)) } br; small { (lang.t(kvi, ken)) } }
                            td {
                                @if can_edit {
                                    input id={ "v-" (e.code) } type="text" inputmode="decimal" name={ "value:" (e.code) } value=(shown) size="10" aria-invalid=(if bad { "true" } else { "false" });
                                } @else { (shown) }
                            }
                            td {
                                @if can_edit {
                                    input type="text" name={ "note:" (e.code) } value=(note) maxlength="2000" aria-label=(lang.t("Ghi chú", "Note"));
                                } @else { (note) }
                            }
                        }
                    }
                }
            }
            @if can_edit { button type="submit" { (lang.t("Lưu giá trị", "Save values")) } }
        }
        p { a href={ (path) "/template.xlsx" } { (lang.t("Tải mẫu Excel (kèm giá trị hiện có)", "Download the Excel template (with the current values)")) } }
        @if can_edit {
            form.stack method="post" action={ (path) "/xlsx" } enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(ctx.csrf());
                label for="xlsx" { (lang.t("Nộp tệp Excel đã điền", "Upload the filled-in Excel file")) }
                input #xlsx type="file" name="file" accept=".xlsx" required;
                button type="submit" { (lang.t("Nộp tệp", "Upload")) }
            }
        }
        h2 { (lang.t("Minh chứng", "Evidence")) }
        @if v.evidence.is_empty() { p { (lang.t("Chưa có tệp minh chứng.", "No evidence files yet.")) } }
        @else {
            table.data {
                thead { tr { th { (lang.t("Tệp", "File")) } th { (lang.t("Chỉ tiêu", "Indicator")) } th { (lang.t("Kích thước", "Size")) } th { "SHA-256" } th { (lang.t("Người nộp", "Uploaded by")) } @if can_edit { th {} } } }
                tbody { @for f in &v.evidence { tr {
                    td { a href={ "/evidence/" (f.id) } { (f.file_name) } }
                    td { (f.element.as_deref().unwrap_or("—")) }
                    td { (super::thousands(f.size as u64, lang)) " B" }
                    td { code { (&f.sha256[..16]) "…" } }
                    td { (f.uploaded_by) }
                    @if can_edit { td { form method="post" action={ "/evidence/" (f.id) "/delete" } {
                        input type="hidden" name="csrf" value=(ctx.csrf());
                        button.link type="submit" { (lang.t("Xóa", "Remove")) } } } }
                } } }
            }
        }
        @if can_edit {
            form.stack method="post" action={ (path) "/evidence" } enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(ctx.csrf());
                label for="element" { (lang.t("Cho chỉ tiêu (tùy chọn)", "For indicator (optional)")) }
                select #element name="element" {
                    option value="" { (lang.t("Cả báo cáo", "The whole report")) }
                    @for e in reported_elements(m) { option value=(e.code) { (e.code) } }
                }
                label for="evidence" { (lang.t("Tệp (PDF, ảnh, Word/Excel/PowerPoint; tối đa 10 MiB)", "File (PDF, image, Word/Excel/PowerPoint; at most 10 MiB)")) }
                input #evidence type="file" name="file" required accept=".pdf,.png,.jpg,.jpeg,.webp,.docx,.xlsx,.pptx,.odt";
                button type="submit" { (lang.t("Nộp minh chứng", "Attach")) }
            }
        }
        @if !steps.is_empty() {
            h2 { (lang.t("Quy trình", "Workflow")) }
            @for s in &steps {
                @let (bvi, ben) = s.label();
                form.stack method="post" action={ (path) "/step" } {
                    input type="hidden" name="csrf" value=(ctx.csrf());
                    input type="hidden" name="step" value=(s.as_str());
                    input type="hidden" name="expected" value=(state.as_str());
                    @if s.needs_comment() {
                        label for={ "c-" (s.as_str()) } { (lang.t("Lý do trả lại (bắt buộc)", "Why it is returned (required)")) }
                        textarea id={ "c-" (s.as_str()) } name="comment" required maxlength="2000" {}
                    }
                    button type="submit" { (lang.t(bvi, ben)) }
                }
            }
        }
        @if state == ReportState::Approved && allowed(&ctx.caller, &Action::ReopenReport) {
            form.stack method="post" action={ (path) "/reopen" } {
                input type="hidden" name="csrf" value=(ctx.csrf());
                label for="reason" { (lang.t("Mở lại để sửa: lý do (bắt buộc)", "Reopen for a correction: reason (required)")) }
                textarea #reason name="reason" required maxlength="2000" {}
                button type="submit" { (lang.t("Mở lần sửa mới", "Open a new revision")) }
            }
        }
        @if v.revisions.len() > 1 {
            h2 { (lang.t("Các lần sửa", "Revisions")) }
            ul { @for r in &v.revisions { @let (a, b) = r.state.label(); li { (lang.t("Lần ", "Revision ")) (r.revision) ": " (lang.t(a, b)) " · " (super::local_time(&r.updated_at)) } } }
        }
    }
}

async fn render(
    state: &AppState,
    ctx: &PageCtx,
    t: &Target,
    flash: Flash,
    problems: &[Problem],
    typed: Typed<'_>,
) -> Result<Response, PageError> {
    let (report, values, evidence, revisions) = load(state, ctx, t).await?;
    let view = View {
        t,
        report,
        values,
        evidence,
        revisions,
    };
    let mut r = ctx.render(
        &format!("{} {}", t.unit.name, t.key.period),
        body(ctx, &view, &flash, problems, typed),
    );
    if !problems.is_empty() {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

/// `GET /reports/{methodology}/{period}/{unit}`.
pub async fn page(
    State(state): State<AppState>,
    Path(p): Path<(String, String, String)>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let path = report_path(&p);
    let (ctx, params) = PageCtx::new(&path, &raw, &headers, caller)?;
    params.finish(&["lang"]).map_err(|e| ctx.err(e))?;
    let t = target(&state, &ctx, &p).await?;
    ctx.require(&t.view())?;
    render(&state, &ctx, &t, None, &[], None).await
}

fn field<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The report revision to change, opened (revision 1, draft) on first use.
async fn open(state: &AppState, ctx: &PageCtx, t: &Target) -> Result<Report, PageError> {
    state
        .store
        .open_report(
            &t.key,
            &ctx.caller.actor(),
            ctx.caller.change("report.open", t.key.object()),
        )
        .await
        .map_err(|e| ctx.err(e))
}

/// `POST /reports/{m}/{p}/{u}/values`: the values form.
pub async fn save_values(
    State(state): State<AppState>,
    Path(p): Path<(String, String, String)>,
    headers: HeaderMap,
    caller: Caller,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let path = report_path(&p);
    let ctx = PageCtx::for_form(&path, &headers, caller);
    let t = target(&state, &ctx, &p).await?;
    ctx.require(&t.edit())?;
    ctx.caller
        .check_csrf(field(&f, "csrf"))
        .map_err(|e| ctx.err(e))?;
    let changes = match changes_from_form(&t.methodology, &f) {
        Ok(c) => c,
        Err(problems) => return render(&state, &ctx, &t, None, &problems, Some(&f)).await,
    };
    let report = open(&state, &ctx, &t).await?;
    state
        .store
        .set_report_values(
            report.id,
            &changes,
            &ctx.caller.actor(),
            ctx.caller.change("report.values", t.key.object()),
        )
        .await
        .map_err(|e| ctx.err(e))?;
    let msg = ctx.lang.t("Đã lưu giá trị.", "Values saved.").to_owned();
    render(&state, &ctx, &t, Some((msg, true)), &[], None).await
}

/// `POST /reports/{m}/{p}/{u}/step`: submit, return, verify or approve.
pub async fn step(
    State(state): State<AppState>,
    Path(p): Path<(String, String, String)>,
    headers: HeaderMap,
    caller: Caller,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let path = report_path(&p);
    let ctx = PageCtx::for_form(&path, &headers, caller);
    let t = target(&state, &ctx, &p).await?;
    let step: Transition = field(&f, "step")
        .unwrap_or("")
        .parse()
        .map_err(|e: String| {
            ctx.err(ApiError::Invalid {
                field: "step".into(),
                reason: e,
            })
        })?;
    let report = state
        .store
        .current_report(&t.key)
        .await
        .map_err(|e| ctx.err(e))?;
    ctx.require(&t.step_action(step, report.as_ref().and_then(|r| r.verified_by)))?;
    ctx.caller
        .check_csrf(field(&f, "csrf"))
        .map_err(|e| ctx.err(e))?;
    let Some(report) = report else {
        return Err(ctx.err(ApiError::NotFound(
            "this report has not been started".into(),
        )));
    };
    let expected: ReportState =
        field(&f, "expected")
            .unwrap_or("")
            .parse()
            .map_err(|e: String| {
                ctx.err(ApiError::Invalid {
                    field: "expected".into(),
                    reason: e,
                })
            })?;
    let comment = field(&f, "comment")
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if step.needs_comment() && comment.is_none() {
        let problems = [Problem {
            at: "comment".into(),
            reason: "say why the report is returned".into(),
        }];
        return render(&state, &ctx, &t, None, &problems, None).await;
    }
    if comment.is_some_and(|c| c.chars().count() > 2000) {
        return Err(ctx.err(ApiError::Invalid {
            field: "comment".into(),
            reason: "at most 2,000 characters".into(),
        }));
    }
    let audit = ctx
        .caller
        .change(&format!("report.{}", step.as_str()), t.key.object());
    state
        .store
        .transition_report(
            report.id,
            expected,
            step,
            (user_id(&ctx.caller), &ctx.caller.actor()),
            comment,
            audit,
        )
        .await
        .map_err(|e| ctx.err(e))?;
    let (vi, en) = step.to_state().label();
    let msg = format!(
        "{} {}",
        ctx.lang.t("Báo cáo nay là:", "The report is now:"),
        ctx.lang.t(vi, en)
    );
    render(&state, &ctx, &t, Some((msg, true)), &[], None).await
}

/// `POST /reports/{m}/{p}/{u}/reopen`: a correcting revision of an approved report.
pub async fn reopen(
    State(state): State<AppState>,
    Path(p): Path<(String, String, String)>,
    headers: HeaderMap,
    caller: Caller,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let path = report_path(&p);
    let ctx = PageCtx::for_form(&path, &headers, caller);
    let t = target(&state, &ctx, &p).await?;
    ctx.require(&Action::ReopenReport)?;
    ctx.caller
        .check_csrf(field(&f, "csrf"))
        .map_err(|e| ctx.err(e))?;
    let reason = field(&f, "reason").map(str::trim).unwrap_or("");
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(ctx.err(ApiError::Invalid {
            field: "reason".into(),
            reason: "say, in at most 2,000 characters, why the approved report is reopened".into(),
        }));
    }
    let report = state
        .store
        .current_report(&t.key)
        .await
        .map_err(|e| ctx.err(e))?
        .ok_or_else(|| {
            ctx.err(ApiError::NotFound(
                "this report has not been started".into(),
            ))
        })?;
    state
        .store
        .reopen_report(
            report.id,
            &ctx.caller.actor(),
            reason,
            ctx.caller.change("report.reopen", t.key.object()),
        )
        .await
        .map_err(|e| ctx.err(e))?;
    let msg = ctx
        .lang
        .t(
            "Đã mở lần sửa mới (bản nháp).",
            "A new revision (draft) is open.",
        )
        .to_owned();
    render(&state, &ctx, &t, Some((msg, true)), &[], None).await
}

/// The fields of a multipart form: text fields, and the one file (name, bytes).
struct Upload {
    fields: Vec<(String, String)>,
    file: Option<(String, Vec<u8>)>,
}

async fn read_multipart(mut mp: Multipart) -> Result<Upload, ApiError> {
    let mut up = Upload {
        fields: Vec::new(),
        file: None,
    };
    let bad = |e: axum::extract::multipart::MultipartError| ApiError::Invalid {
        field: "file".into(),
        reason: format!("the upload could not be read: {}", e.body_text()),
    };
    while let Some(part) = mp.next_field().await.map_err(bad)? {
        let name = part.name().unwrap_or("").to_owned();
        if name == "file" {
            let file_name = part.file_name().unwrap_or("").to_owned();
            let bytes = part.bytes().await.map_err(bad)?;
            if bytes.len() > dxhub_core::reports::EVIDENCE_MAX_BYTES + 1 {
                return Err(ApiError::Invalid {
                    field: "file".into(),
                    reason: "files may be at most 10 MiB".into(),
                });
            }
            up.file = Some((file_name, bytes.to_vec()));
        } else {
            let text = part.text().await.map_err(bad)?;
            up.fields.push((name, text));
        }
    }
    Ok(up)
}

/// The common start of an upload to a report: who may fill it in, the form read, its
/// CSRF token checked.
async fn editable_upload(
    state: &AppState,
    p: &(String, String, String),
    headers: &HeaderMap,
    caller: Caller,
    mp: Multipart,
) -> Result<(PageCtx, Target, Upload), PageError> {
    let ctx = PageCtx::for_form(&report_path(p), headers, caller);
    let t = target(state, &ctx, p).await?;
    ctx.require(&t.edit())?;
    let up = read_multipart(mp).await.map_err(|e| ctx.err(e))?;
    ctx.caller
        .check_csrf(field(&up.fields, "csrf"))
        .map_err(|e| ctx.err(e))?;
    Ok((ctx, t, up))
}

fn need_file(up: &Upload) -> Result<(&str, &[u8]), ApiError> {
    match &up.file {
        Some((name, bytes)) if !name.is_empty() && !bytes.is_empty() => Ok((name, bytes)),
        _ => Err(ApiError::Invalid {
            field: "file".into(),
            reason: "choose a file to upload".into(),
        }),
    }
}

fn template_info(t: &Target) -> TemplateInfo {
    TemplateInfo {
        methodology: t.methodology.id.clone(),
        version: t.methodology.version,
        period: t.key.period.clone(),
        unit: t.key.unit.clone(),
        unit_name: t.unit.name.clone(),
    }
}

/// `POST /reports/{m}/{p}/{u}/xlsx`: the filled-in template.
pub async fn upload_xlsx(
    State(state): State<AppState>,
    Path(p): Path<(String, String, String)>,
    headers: HeaderMap,
    caller: Caller,
    mp: Multipart,
) -> Result<Response, PageError> {
    let (ctx, t, up) = editable_upload(&state, &p, &headers, caller, mp).await?;
    let (_, bytes) = need_file(&up).map_err(|e| ctx.err(e))?;
    let changes = match read_upload(&t.methodology, &template_info(&t), bytes) {
        Ok(c) => c,
        Err(problems) => return render(&state, &ctx, &t, None, &problems, None).await,
    };
    let report = open(&state, &ctx, &t).await?;
    state
        .store
        .set_report_values(
            report.id,
            &changes,
            &ctx.caller.actor(),
            ctx.caller.change("report.values_xlsx", t.key.object()),
        )
        .await
        .map_err(|e| ctx.err(e))?;
    let msg = format!(
        "{} {}",
        ctx.lang.t(
            "Đã nhận tệp Excel; số giá trị:",
            "Excel file applied; values:"
        ),
        changes.len()
    );
    render(&state, &ctx, &t, Some((msg, true)), &[], None).await
}

/// `GET /reports/{m}/{p}/{u}/template.xlsx`.
pub async fn template_xlsx(
    State(state): State<AppState>,
    Path(p): Path<(String, String, String)>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let path = report_path(&p);
    let (ctx, _) = PageCtx::new(&path, &RawQuery(None), &headers, caller)?;
    let t = target(&state, &ctx, &p).await?;
    ctx.require(&t.view())?;
    let (_, values, _, _) = load(&state, &ctx, &t).await?;
    let bytes = template(&t.methodology, &template_info(&t), &values)
        .map_err(|e| ctx.err(ApiError::Store(dxhub_store::StoreError::Database(e))))?;
    let name = format!("{}_{}_{}.xlsx", t.key.methodology, t.key.period, t.key.unit);
    Ok(super::attachment(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &name,
    ))
}

/// `POST /reports/{m}/{p}/{u}/evidence`: attach a file.
pub async fn upload_evidence(
    State(state): State<AppState>,
    Path(p): Path<(String, String, String)>,
    headers: HeaderMap,
    caller: Caller,
    mp: Multipart,
) -> Result<Response, PageError> {
    let (ctx, t, up) = editable_upload(&state, &p, &headers, caller, mp).await?;
    let (name, bytes) = need_file(&up).map_err(|e| ctx.err(e))?;
    let element = field(&up.fields, "element").filter(|e| !e.is_empty());
    if let Some(e) = element
        && !reported_elements(&t.methodology)
            .iter()
            .any(|x| x.code == e)
    {
        return Err(ctx.err(ApiError::Invalid {
            field: "element".into(),
            reason: format!("'{e}' is not a reported value of {}", t.methodology.id),
        }));
    }
    let media = match evidence_media_type(name, bytes) {
        Ok(m) => m,
        Err(reason) => {
            let problems = [Problem {
                at: "file".into(),
                reason,
            }];
            return render(&state, &ctx, &t, None, &problems, None).await;
        }
    };
    let file_name: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(name)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let report = open(&state, &ctx, &t).await?;
    state
        .store
        .add_evidence(
            report.id,
            NewEvidence {
                element: element.map(str::to_owned),
                file_name,
                media_type: media.to_owned(),
                content: bytes.to_vec(),
            },
            &ctx.caller.actor(),
            ctx.caller.change("report.evidence_add", t.key.object()),
        )
        .await
        .map_err(|e| ctx.err(e))?;
    let msg = ctx
        .lang
        .t("Đã nộp minh chứng.", "Evidence attached.")
        .to_owned();
    render(&state, &ctx, &t, Some((msg, true)), &[], None).await
}

/// The report an evidence file belongs to, for access checks.
async fn evidence_target(
    state: &AppState,
    ctx: &PageCtx,
    id: i64,
) -> Result<(Evidence, Vec<u8>, Target), PageError> {
    let (ev, bytes) = state
        .store
        .evidence_content(id)
        .await
        .map_err(|e| ctx.err(e))?
        .ok_or_else(|| {
            ctx.err(ApiError::NotFound(format!(
                "there is no evidence file {id}"
            )))
        })?;
    let report = state
        .store
        .report(ev.report_id)
        .await
        .map_err(|e| ctx.err(e))?
        .ok_or_else(|| {
            ctx.err(ApiError::NotFound(format!(
                "there is no evidence file {id}"
            )))
        })?;
    let k = &report.key;
    let t = target(
        &state.clone(),
        ctx,
        &(k.methodology.clone(), k.period.clone(), k.unit.clone()),
    )
    .await?;
    Ok((ev, bytes, t))
}

/// `GET /evidence/{id}`: the file, for those who may see the report.
pub async fn evidence_file(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, _) = PageCtx::new(
        &format!("/evidence/{id}"),
        &RawQuery(None),
        &headers,
        caller,
    )?;
    let (ev, bytes, t) = evidence_target(&state, &ctx, id).await?;
    ctx.require(&t.view())?;
    Ok(super::attachment(bytes, &ev.media_type, &ev.file_name))
}

/// `POST /evidence/{id}/delete`.
pub async fn delete_evidence(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    caller: Caller,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let ctx = PageCtx::for_form(&format!("/evidence/{id}"), &headers, caller);
    let (ev, _, t) = evidence_target(&state, &ctx, id).await?;
    ctx.require(&t.edit())?;
    ctx.caller
        .check_csrf(field(&f, "csrf"))
        .map_err(|e| ctx.err(e))?;
    state
        .store
        .remove_evidence(
            id,
            ctx.caller
                .change("report.evidence_remove", t.key.object())
                .with(serde_json::to_string(&ev).ok(), None),
        )
        .await
        .map_err(|e| ctx.err(e))?;
    let ctx = PageCtx::for_form(&t.path(), &headers, ctx.caller.clone());
    let msg = ctx
        .lang
        .t("Đã xóa minh chứng.", "Evidence removed.")
        .to_owned();
    render(&state, &ctx, &t, Some((msg, true)), &[], None).await
}

/// `GET /reports`: the reports the caller works on — a unit's own, or the review queue.
pub async fn list(
    State(state): State<AppState>,
    raw: RawQuery,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, PageError> {
    let (ctx, mut params) = PageCtx::new("/reports", &raw, &headers, caller)?;
    let state_filter = params
        .take("state")
        .map_err(|e| ctx.err(e))?
        .map(|s| {
            s.parse::<ReportState>()
                .map_err(|e| ctx.err(ApiError::bad("state", e)))
        })
        .transpose()?;
    params.finish(&["lang", "state"]).map_err(|e| ctx.err(e))?;
    ctx.require(&Action::ListReports)?;
    let Some(user) = ctx.caller.user.clone() else {
        return Err(ctx.err(ApiError::Unauthorized("sign in to see reports".into())));
    };
    let lang = ctx.lang;
    let mut reports = state
        .store
        .reports(&ReportFilter {
            state: state_filter,
            ..ReportFilter::default()
        })
        .await
        .map_err(|e| ctx.err(e))?;
    reports.retain(|r| {
        allowed(
            &ctx.caller,
            &Action::ViewReports {
                level: r.key.level,
                province_or_ministry: &r.key.unit,
            },
        )
    });
    let own_unit = match &user.scope {
        dxhub_core::auth::Scope::Province(c) | dxhub_core::auth::Scope::Ministry(c) => {
            Some(c.clone())
        }
        _ => None,
    };
    let year = dxhub_core::date::today_in_vietnam().year();
    let body = html! {
        h1 { (lang.t("Báo cáo chỉ số", "Index reports")) }
        @if let Some(code) = &own_unit {
            h2 { (lang.t("Báo cáo của đơn vị", "Your unit's reports")) }
            ul {
                @for m in dxhub_index::shipped() {
                    @let fits = matches!((m.applies_to, dxhub_core::units::UnitLevel::of_code(code)),
                        (AppliesTo::Province, Some(UnitLevel::Province)) | (AppliesTo::Ministry, Some(UnitLevel::Ministry)));
                    @if fits {
                        li { a href={ "/reports/" (m.id) "/" (year - 1) "/" (code) } { (lang.t(&m.name_vi, &m.name_en)) ", " (year - 1) } }
                    }
                }
            }
        }
        h2 { (lang.t("Danh sách", "All you can see")) }
        p { (lang.t("Lọc: ", "Filter: "))
            a href="/reports" { (lang.t("tất cả", "all")) }
            @for s in ReportState::ALL { @let (vi, en) = s.label(); " · " a href={ "/reports?state=" (s.as_str()) } { (lang.t(vi, en)) } } }
        @if reports.is_empty() { p { (lang.t("Không có báo cáo nào.", "No reports.")) } }
        @else {
            table.data {
                thead { tr { th { (lang.t("Bộ chỉ số", "Methodology")) } th { (lang.t("Kỳ", "Period")) } th { (lang.t("Đơn vị", "Unit")) } th { (lang.t("Trạng thái", "State")) } th { (lang.t("Cập nhật", "Updated")) } } }
                tbody { @for r in &reports { @let (vi, en) = r.state.label(); tr {
                    td { (r.key.methodology) } td { (r.key.period) }
                    td { a href={ "/reports/" (r.key.methodology) "/" (r.key.period) "/" (r.key.unit) } { (r.key.unit) } }
                    td { (lang.t(vi, en)) } td { (super::local_time(&r.updated_at)) }
                } } }
            }
        }
    };
    Ok(ctx.render(lang.t("Báo cáo", "Reports"), body))
}

//! Accounts, roles and scopes in a real browser: headless Chromium driven through
//! chromedriver (WebDriver) clicks and types through the real `dxhub` binary's pages.
//!
//! Each test starts its own `dxhub demo` in a temporary directory, creates its accounts with
//! `dxhub user add`, and starts its own chromedriver on a free port. Screenshots are saved
//! in the temporary directory, and copied to `DXHUB_SCREENSHOT_DIR` when it is set. Without
//! Chromium or chromedriver the tests fail, unless `DXHUB_SKIP_BROWSER=1` skips them.

mod common;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Running, dxhub};
use fantoccini::{Client, ClientBuilder, Locator};

/// How long any one thing (an element, a page, the driver) may take to appear.
const WAIT: Duration = Duration::from_secs(30);
/// How often to look again while waiting.
const POLL: Duration = Duration::from_millis(50);

const OFFICER_EMAIL: &str = "can.bo.24@example.vn";
const OFFICER_NAME: &str = "Nguyễn Văn Bắc";
const OFFICER_PASSWORD: &str = "mat-khau-can-bo-24";
const ADMIN_EMAIL: &str = "quan.tri@example.vn";
const ADMIN_NAME: &str = "Trần Thị Quản";
const ADMIN_PASSWORD: &str = "mat-khau-quan-tri";

/// Chromium and chromedriver, or None when browser tests were explicitly skipped.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let find = |candidates: &[&str]| candidates.iter().map(PathBuf::from).find(|p| p.exists());
    let chromium = find(&[
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]);
    let driver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    if let (Some(c), Some(d)) = (&chromium, &driver) {
        return Some((c.clone(), d.clone()));
    }
    let missing = match (chromium, driver) {
        (None, None) => "Chromium and chromedriver are",
        (None, _) => "Chromium is",
        _ => "chromedriver is",
    };
    if std::env::var("DXHUB_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("!!! WebDriver test SKIPPED (DXHUB_SKIP_BROWSER=1): {missing} not installed !!!");
        return None;
    }
    panic!(
        "{missing} not installed (Debian packages chromium and chromium-driver): run scripts/test-deps.sh (or scripts/test), or set DXHUB_SKIP_BROWSER=1 to skip on purpose"
    );
}

/// A chromedriver process in its own process group, so that the browsers it starts go
/// with it even when a test fails half-way.
struct Chromedriver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Chromedriver {
    fn start(exe: &Path, log: &Path) -> Chromedriver {
        // A port taken between asking for it and chromedriver binding it makes chromedriver
        // exit at once; then try another.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let child = Command::new(exe)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
            let mut d = Chromedriver {
                child,
                url: format!("http://127.0.0.1:{port}"),
                log: log.to_owned(),
            };
            if d.wait_ready(port) {
                return d;
            }
        }
        panic!("chromedriver did not start; its log:\n{}", read_log(log));
    }

    /// Polls `/status` until the driver is ready; false if it exited first.
    fn wait_ready(&mut self, port: u16) -> bool {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if driver_ready(port) {
                return true;
            }
            std::thread::sleep(POLL);
        }
        panic!(
            "chromedriver not ready after {WAIT:?}; its log:\n{}",
            read_log(&self.log)
        );
    }
}

/// Whether chromedriver on `port` answers `/status` with `"ready":true`. (It keeps the
/// connection open despite `Connection: close`, so read only until the answer is seen.)
fn driver_ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let request =
        format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if text.contains("\"ready\":true") {
            return true;
        }
        if text.contains("\"ready\":false") {
            return false;
        }
    }
    false
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The group has the id of the driver; it holds the driver and any browser left.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_log(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Everything one test runs against. Dropped in field order: driver, server, files.
struct Fixture {
    driver: Chromedriver,
    server: Running,
    chromium: PathBuf,
    data_dir: PathBuf,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Starts the demo and a chromedriver; None when browser tests are skipped.
    fn start() -> Option<Fixture> {
        let (chromium, chromedriver) = browser_tools()?;
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let server = Running::start(&["demo", "--data-dir", data_dir.to_str().unwrap()]);
        let driver = Chromedriver::start(&chromedriver, &dir.path().join("chromedriver.log"));
        std::fs::create_dir_all(dir.path().join("shots")).unwrap();
        Some(Fixture {
            driver,
            server,
            chromium,
            data_dir,
            dir,
        })
    }

    /// Creates an account with `dxhub user add … --password-stdin` in the demo's store.
    fn add_user(&self, email: &str, name: &str, role: &str, scope: Option<&str>, password: &str) {
        let db = format!("sqlite://{}", self.data_dir.join("dxhub.db").display());
        let mut cmd = dxhub();
        cmd.args(["user", "add", "--database", &db, "--email", email])
            .args(["--name", name, "--role", role]);
        if let Some(s) = scope {
            cmd.args(["--scope", s]);
        }
        let mut child = cmd
            .arg("--password-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dxhub user add");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "dxhub user add {email}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Opens a browser session, runs `body` with it and always ends the session (which
    /// quits Chromium), also when `body` panics; then passes the panic on.
    fn run<F, Fut>(&self, body: F)
    where
        F: FnOnce(Page) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let profile = self.dir.path().join("profile");
        let caps = serde_json::json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-dev-shm-usage",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--hide-scrollbars",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let outcome = rt.block_on(async {
            let client =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&self.driver.url)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "no browser session: {e}; chromedriver log:\n{}",
                            read_log(&self.driver.log)
                        )
                    });
            let page = Page {
                client: client.clone(),
                base: self.server.base.clone(),
                shots: self.dir.path().join("shots"),
            };
            let outcome = tokio::spawn(body(page)).await;
            if let Err(e) = client.close().await {
                eprintln!("closing the browser session: {e}");
            }
            outcome
        });
        rt.shutdown_timeout(Duration::from_secs(5));
        if let Err(e) = outcome {
            eprintln!("chromedriver log (end):\n{}", read_log(&self.driver.log));
            match e.try_into_panic() {
                Ok(p) => std::panic::resume_unwind(p),
                Err(e) => panic!("browser task: {e}"),
            }
        }
    }
}

/// The browser as a person uses it: go to addresses, click links and buttons, type.
#[derive(Clone)]
struct Page {
    client: Client,
    base: String,
    shots: PathBuf,
}

impl Page {
    /// Goes to a path of the server, as if typed in the address bar.
    async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("go to {url}: {e}"));
        self.wait_loaded().await;
    }

    /// Marks the current document, runs `act`, and waits until another document has
    /// loaded: what a click on a link or a submit button does.
    async fn navigating<Fut: Future<Output = ()>>(&self, what: &str, act: Fut) {
        self.client
            .execute("window.__dxhubOld = true;", vec![])
            .await
            .expect("mark the page");
        act.await;
        let deadline = Instant::now() + WAIT;
        loop {
            let gone = self
                .client
                .execute(
                    "return window.__dxhubOld !== true && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if matches!(gone, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{what}: no new page after {WAIT:?}; still at {}",
                    self.path().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_loaded(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = self
                .client
                .execute("return document.readyState;", vec![])
                .await;
            if matches!(ready, Ok(serde_json::Value::String(s)) if s == "complete") {
                return;
            }
            assert!(Instant::now() < deadline, "page not loaded after {WAIT:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// The element, waiting (bounded) for it to appear.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    /// Texts of all elements matching `css` (none is fine).
    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await.unwrap() {
            out.push(e.text().await.unwrap());
        }
        out
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Clears a field and types `value` into it.
    async fn type_into(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Clicks a link of the main navigation in the header, by its text.
    async fn follow_nav(&self, text: &str) {
        let xpath =
            format!("//header//nav[not(contains(@class,'lang'))]//a[normalize-space()='{text}']");
        let link = self
            .client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|_| panic!("no navigation link {text:?}"));
        self.navigating(text, async {
            link.click().await.unwrap();
        })
        .await;
    }

    /// Clicks the button with this text inside `within` (a CSS scope for the XPath below).
    async fn press(&self, scope_xpath: &str, text: &str) {
        let xpath = format!("{scope_xpath}//button[normalize-space()='{text}']");
        let Ok(button) = self.client.find(Locator::XPath(&xpath)).await else {
            panic!("no button {text:?} on {}", self.path().await)
        };
        self.navigating(text, async {
            button.click().await.unwrap();
        })
        .await;
    }

    /// The path (and query, if any) of the current page.
    async fn path(&self) -> String {
        match self.client.current_url().await {
            Ok(u) => match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_owned(),
            },
            Err(e) => format!("(unknown: {e})"),
        }
    }

    /// The HTTP status of the current document, from the Navigation Timing API.
    async fn status(&self) -> u64 {
        self.client
            .execute(
                "return performance.getEntriesByType('navigation')[0].responseStatus;",
                vec![],
            )
            .await
            .expect("navigation timing")
            .as_u64()
            .expect("a status number")
    }

    /// Link texts of the main navigation in the header.
    async fn nav(&self) -> Vec<String> {
        self.texts("header.top > nav:not(.lang) a").await
    }

    /// The signed-in person as the header shows them ("" when signed out).
    async fn who(&self) -> String {
        self.texts("header.top .who span").await.concat()
    }

    async fn h1(&self) -> String {
        self.text("main h1").await
    }

    /// Signs in through the form of the page shown now (the sign-in page).
    async fn submit_login(&self, email: &str, password: &str) {
        self.type_into("main form input#email", email).await;
        self.type_into("main form input#password", password).await;
        self.press("//main//form", "Đăng nhập").await;
    }

    async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/login").await;
        self.submit_login(email, password).await;
    }

    /// Saves a screenshot of the window as NAME.png; copies it to DXHUB_SCREENSHOT_DIR
    /// when set.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap();
        if let Ok(keep) = std::env::var("DXHUB_SCREENSHOT_DIR") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&path, Path::new(&keep).join(format!("{name}.png"))).unwrap();
        }
        path
    }

    /// Checks that the current page is the 403 page.
    async fn assert_forbidden(&self, what: &str) {
        assert_eq!(self.status().await, 403, "{what}: status");
        assert_eq!(self.h1().await, "Không có quyền", "{what}: heading");
        assert!(
            self.client
                .title()
                .await
                .unwrap()
                .starts_with("Không có quyền"),
            "{what}: title"
        );
        assert!(
            self.text("main p.error")
                .await
                .contains("không cho phép xem trang này"),
            "{what}: explanation"
        );
    }
}

/// A province officer of (new) Bắc Ninh, 24: sign in, the navigation of the role, the
/// unit workspace (save the contact), the scope following lineage to old Bắc Ninh (27),
/// 403 outside the scope and on admin pages, sign out, and back in through `next`.
#[test]
fn province_officer_works_in_their_scope_only() {
    let Some(fx) = Fixture::start() else { return };
    fx.add_user(
        OFFICER_EMAIL,
        OFFICER_NAME,
        "province_officer",
        Some("24"),
        OFFICER_PASSWORD,
    );
    let shots = fx.dir.path().join("shots");
    fx.run(|page| async move {
        page.sign_in(OFFICER_EMAIL, OFFICER_PASSWORD).await;
        assert_eq!(page.path().await, "/", "signed in, back to the home page");
        let who = page.who().await;
        for part in [OFFICER_NAME, "Cán bộ tỉnh", "tỉnh 24"] {
            assert!(who.contains(part), "header {who:?} lacks {part:?}");
        }
        let nav = page.nav().await;
        assert!(nav.contains(&"Bản đồ hành chính".to_owned()), "{nav:?}");
        assert!(nav.contains(&"Đơn vị của tôi".to_owned()), "{nav:?}");
        for absent in ["Tài khoản", "Khóa API", "Nhật ký thay đổi"] {
            assert!(!nav.contains(&absent.to_owned()), "{absent} in {nav:?}");
        }
        assert_eq!(
            page.texts("header.top .who button").await,
            ["Đăng xuất"],
            "sign-out button"
        );
        page.screenshot("officer-home").await;
        // A telephone-sized window: the header must wrap, not overflow sideways.
        page.client.set_window_size(400, 860).await.unwrap();
        let overflow = page
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .unwrap();
        page.screenshot("officer-home-narrow").await;
        assert!(
            overflow.as_i64().is_some_and(|px| px <= 0),
            "narrow window: the page is {overflow} px wider than the viewport"
        );
        page.client.set_window_size(1280, 900).await.unwrap();

        // The workspace of the unit, through the navigation.
        page.follow_nav("Đơn vị của tôi").await;
        assert_eq!(page.path().await, "/manage/units/24");
        assert_eq!(page.status().await, 200);
        let h1 = page.h1().await;
        assert!(h1.contains("Bắc Ninh"), "{h1:?}");

        let contact = [
            ("#office", "Sở Khoa học và Công nghệ tỉnh Bắc Ninh"),
            ("#person", "Lê Thị Hồng Nhung"),
            ("#cemail", "chuyendoiso@bacninh.gov.vn"),
            ("#phone", "+84 222 3822 123"),
        ];
        for (field, value) in contact {
            page.type_into(field, value).await;
        }
        page.press("//main//form", "Lưu").await;
        assert_eq!(page.status().await, 200);
        assert_eq!(page.text("main p.notice").await, "Đã lưu.");
        page.screenshot("officer-unit-saved").await;
        // Saved for real: a fresh visit shows the values.
        page.goto("/manage/units/24").await;
        for (field, value) in contact {
            assert_eq!(page.value(field).await, value, "{field} after reload");
        }

        // Old Bắc Ninh (27) merged into 24: the scope follows the lineage.
        page.goto("/manage/units/27").await;
        assert_eq!(page.status().await, 200, "/manage/units/27");
        let h1 = page.h1().await;
        assert!(h1.contains("Bắc Ninh"), "{h1:?}");
        page.find("main form input#office").await;

        // Outside the scope, and the admin pages: 403.
        page.goto("/manage/units/01").await;
        page.assert_forbidden("/manage/units/01").await;
        page.screenshot("officer-forbidden").await;
        page.goto("/admin/users").await;
        page.assert_forbidden("/admin/users").await;

        // Sign out from the header; the workspace then asks to sign in.
        page.goto("/").await;
        page.press("//header", "Đăng xuất").await;
        assert_eq!(page.path().await, "/");
        assert_eq!(page.who().await, "", "still shown as signed in");
        assert_eq!(page.texts("header.top a.signin").await, ["Đăng nhập"]);
        assert!(!page.nav().await.contains(&"Đơn vị của tôi".to_owned()));
        page.goto("/manage/units/24").await;
        assert_eq!(page.path().await, "/login?next=%2Fmanage%2Funits%2F24");
        assert_eq!(page.h1().await, "Đăng nhập");

        // Signing in there comes back to the page asked for.
        page.submit_login(OFFICER_EMAIL, OFFICER_PASSWORD).await;
        assert_eq!(page.path().await, "/manage/units/24");
        assert_eq!(
            page.value("#office").await,
            "Sở Khoa học và Công nghệ tỉnh Bắc Ninh"
        );
    });
    for name in ["officer-home", "officer-unit-saved", "officer-forbidden"] {
        assert!(shots.join(format!("{name}.png")).exists(), "{name}.png");
    }
}

/// An administrator: the admin navigation, an API key created through the form and shown
/// once, and its creation in the audit trail (found with the filter form).
#[test]
fn admin_creates_an_api_key_and_finds_it_in_the_audit_trail() {
    let Some(fx) = Fixture::start() else { return };
    fx.add_user(ADMIN_EMAIL, ADMIN_NAME, "admin", None, ADMIN_PASSWORD);
    fx.run(|page| async move {
        page.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(page.path().await, "/");
        let who = page.who().await;
        assert!(
            who.contains(ADMIN_NAME) && who.contains("Quản trị"),
            "{who:?}"
        );
        let nav = page.nav().await;
        for present in [
            "Bản đồ hành chính",
            "Nhật ký thay đổi",
            "Tài khoản",
            "Khóa API",
        ] {
            assert!(
                nav.contains(&present.to_owned()),
                "{present} not in {nav:?}"
            );
        }
        assert!(!nav.contains(&"Đơn vị của tôi".to_owned()), "{nav:?}");

        page.follow_nav("Khóa API").await;
        assert_eq!(page.path().await, "/admin/keys");
        assert_eq!(page.h1().await, "Khóa API");
        page.type_into("#kname", "Cổng dịch vụ công tỉnh").await;
        page.type_into("#sources", "dvc, motcua").await;
        let tick = page
            .find("input[type=checkbox][value='ingest:dossiers']")
            .await;
        tick.click().await.unwrap();
        assert!(tick.is_selected().await.unwrap(), "ingest:dossiers ticked");
        page.press("//main//form", "Tạo khóa").await;
        assert_eq!(page.status().await, 201);
        let secret = page.text("main .notice code.secret").await;
        assert!(
            secret.starts_with("dxh_") && secret.len() > 20,
            "key shown: {secret:?}"
        );
        let notice = page.text("main .notice").await;
        assert!(
            notice.contains("Khóa của Cổng dịch vụ công tỉnh:"),
            "{notice:?}"
        );
        assert!(notice.contains("Chỉ hiển thị một lần"), "{notice:?}");
        let rows = page.texts("main table.data tbody tr").await;
        assert!(
            rows.iter().any(|r| r.contains("Cổng dịch vụ công tỉnh")
                && r.contains("dvc, motcua")
                && r.contains("ingest:dossiers")),
            "key not listed: {rows:?}"
        );
        page.screenshot("admin-key-created").await;

        // Shown once: the list, opened again, does not show it.
        page.follow_nav("Khóa API").await;
        assert!(page.texts("code.secret").await.is_empty());
        let source = page.client.source().await.unwrap();
        assert!(!source.contains(&secret), "the key is shown again");

        // The audit trail has the creation, by this administrator, without the secret.
        page.follow_nav("Nhật ký thay đổi").await;
        assert_eq!(page.path().await, "/admin/audit");
        assert_eq!(page.status().await, 200);
        page.type_into("form.filters input[name=action]", "key.create")
            .await;
        page.press("//main//form[contains(@class,'filters')]", "Lọc")
            .await;
        assert!(
            page.path().await.contains("action=key.create"),
            "{}",
            page.path().await
        );
        let rows = page.texts("main table.audit tbody tr").await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        // The entry names the key by its id (the number in dxh_<id>_…) and records its name.
        let key_object = format!("key:{}", secret.split('_').nth(1).unwrap_or("?"));
        for part in [
            "key.create",
            key_object.as_str(),
            "Cổng dịch vụ công tỉnh",
            ADMIN_EMAIL,
            "ingest:dossiers",
        ] {
            assert!(row.contains(part), "audit row {row:?} lacks {part:?}");
        }
        let source = page.client.source().await.unwrap();
        assert!(!source.contains(&secret), "the key is in the audit trail");
        page.screenshot("admin-audit").await;
    });
}

/// A wrong password: the error is shown, the visitor stays on the sign-in page (with the
/// e-mail kept) and is not signed in; the right password then works from that form.
#[test]
fn wrong_password_keeps_the_visitor_on_the_login_page() {
    let Some(fx) = Fixture::start() else { return };
    fx.add_user(
        OFFICER_EMAIL,
        OFFICER_NAME,
        "province_officer",
        Some("24"),
        OFFICER_PASSWORD,
    );
    fx.run(|page| async move {
        page.sign_in(OFFICER_EMAIL, "sai-mat-khau-roi").await;
        assert_eq!(page.path().await, "/login");
        assert_eq!(page.status().await, 401);
        assert_eq!(page.h1().await, "Đăng nhập");
        assert_eq!(
            page.text("main p.error").await,
            "E-mail hoặc mật khẩu không đúng."
        );
        assert_eq!(page.value("#email").await, OFFICER_EMAIL);
        assert_eq!(page.value("#password").await, "", "password kept");
        assert_eq!(page.who().await, "", "signed in with a wrong password");
        page.screenshot("login-wrong-password").await;

        // Still signed out: a protected page sends to the sign-in page.
        page.goto("/manage/units/24").await;
        assert!(page.path().await.starts_with("/login?next="));

        // The form shown with the error works (its security token was renewed).
        page.sign_in(OFFICER_EMAIL, "sai-mat-khau-roi").await;
        page.submit_login(OFFICER_EMAIL, OFFICER_PASSWORD).await;
        assert_eq!(page.path().await, "/");
        assert!(page.who().await.contains(OFFICER_NAME));
    });
}

/// The DTI report in a real browser: the officer of Bắc Ninh types values (a decimal comma
/// and a percentage), sees a bad value named, saves and submits; a reviewer verifies it;
/// the verifier is not offered the approval.
#[test]
fn officer_fills_in_and_submits_a_report_and_a_reviewer_verifies_it() {
    let Some(fx) = Fixture::start() else { return };
    fx.add_user(
        OFFICER_EMAIL,
        OFFICER_NAME,
        "province_officer",
        Some("24"),
        OFFICER_PASSWORD,
    );
    fx.add_user(
        "tham.dinh@example.vn",
        "Phạm Thẩm Định",
        "reviewer",
        None,
        "mat-khau-tham-dinh",
    );
    fx.run(|page| async move {
        const REPORT: &str = "/reports/dti-province-2025/2026/24";
        page.sign_in(OFFICER_EMAIL, OFFICER_PASSWORD).await;
        page.follow_nav("Báo cáo").await;
        assert_eq!(page.path().await, "/reports");
        page.goto(REPORT).await;
        assert_eq!(page.status().await, 200);
        assert!(page.h1().await.contains("Bắc Ninh"), "{}", page.h1().await);
        page.type_into("#v-nhan_thuc_so", "nhiều").await;
        page.press("//main//form", "Lưu giá trị").await;
        assert_eq!(page.status().await, 422);
        assert!(
            page.text("main div.error")
                .await
                .contains("value:nhan_thuc_so")
        );
        // What was typed is still there to correct.
        assert_eq!(page.value("#v-nhan_thuc_so").await, "nhiều");
        let values = [
            ("#v-nhan_thuc_so", "85%"),
            ("#v-the_che_so", "0,8"),
            ("#v-ha_tang_so", "0.75"),
            ("#v-nhan_luc_so", "0,7"),
            ("#v-an_toan_thong_tin_mang", "0,9"),
            ("#v-hd_chinh_quyen_so", "0,8"),
            ("#v-hd_kinh_te_so", "0,6"),
            ("#v-hd_xa_hoi_so", "0,65"),
        ];
        for (field, v) in values {
            page.type_into(field, v).await;
        }
        page.press("//main//form", "Lưu giá trị").await;
        assert_eq!(page.status().await, 200);
        assert_eq!(
            page.text("main p.notice[role=status]").await,
            "Đã lưu giá trị."
        );
        assert_eq!(page.value("#v-nhan_thuc_so").await, "0.85");
        page.screenshot("report-saved").await;
        page.press("//main//form", "Gửi thẩm định").await;
        assert_eq!(page.text("main strong.state").await, "Đã gửi");
        // Submitted: no longer editable.
        assert!(
            page.client
                .find(Locator::Css("#v-nhan_thuc_so"))
                .await
                .is_err()
        );
        page.press("//header", "Đăng xuất").await;

        page.sign_in("tham.dinh@example.vn", "mat-khau-tham-dinh")
            .await;
        page.goto("/reports?state=submitted").await;
        assert!(
            page.texts("main table td a")
                .await
                .contains(&"24".to_owned())
        );
        page.goto(REPORT).await;
        page.press("//main//form", "Xác nhận đã thẩm định").await;
        assert_eq!(page.text("main strong.state").await, "Đã thẩm định");
        let buttons = page.texts("main form button").await;
        assert!(
            !buttons.contains(&"Phê duyệt".to_owned()),
            "the verifier may not approve: {buttons:?}"
        );
        assert!(buttons.contains(&"Trả lại".to_owned()), "{buttons:?}");
        page.screenshot("report-verified").await;
    });
}

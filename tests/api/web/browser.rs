//! A small WebDriver harness: one chromedriver per test on a free port (killed when the test
//! ends), one headless Chromium session per person with a fresh profile, and queries in the
//! manner of Testing Library's `getByRole` / `getByLabelText`. A failed scenario saves each
//! session's screenshot and console log under `target/webapp-failures/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use fantoccini::elements::{Element, ElementRef};
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use ticketd::domain::Role;
use ticketd::users::Origin;
use uuid::Uuid;

use crate::helpers::{claims, sign, TestApp, TestUser};

/// How long a query waits for what it looks for (the app reloads views a moment after events).
const WAIT: Duration = Duration::from_secs(10);

/// A chromedriver process, killed on drop.
pub struct Driver {
    url: String,
    _process: tokio::process::Child,
    profiles: Vec<PathBuf>,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it answers.
    pub async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let process = tokio::process::Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "start chromedriver (deploy/services.sh installs chromium and chromium-driver)",
            );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = reqwest::get(format!("{url}/status")).await.ok();
            if ready.is_some_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver {
            url,
            _process: process,
            profiles: Vec::new(),
        }
    }

    /// Opens a browser window on `app`'s web app, with `language` as the browser's language.
    pub async fn open(&mut self, app: &TestApp, language: &str) -> Browser {
        let profile = std::env::temp_dir().join(format!("ticketd-chromium-{}", Uuid::new_v4()));
        self.profiles.push(profile.clone());
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,900".into(),
            format!("--lang={language}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        if let Ok(extra) = std::env::var("CHROMIUM_EXTRA_ARGS") {
            args.extend(extra.split_whitespace().map(str::to_string));
        }
        let mut options = json!({
            "args": args,
            "prefs": {"intl.accept_languages": language},
        });
        if let Some(binary) = chromium() {
            options["binary"] = json!(binary);
        }
        let capabilities = json!({"browserName": "chrome", "goog:chromeOptions": options});
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!("an object literal"),
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("open a Chromium session");
        Browser {
            client,
            base: app.address.clone(),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        for profile in &self.profiles {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

fn chromedriver() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into())
}

fn chromium() -> Option<String> {
    std::env::var("CHROMIUM").ok().or_else(|| {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .map(|p| p.to_string())
    })
}

/// Finds visible elements of an ARIA role whose accessible name is `name` (exactly, after
/// collapsing white space), computed as browsers do for the cases the app uses: aria-labelledby,
/// aria-label, <label>, then the text content. Role `control` is any form control.
const QUERY: &str = r#"
const [role, name] = arguments;
const norm = (s) => (s || "").replace(/\s+/g, " ").trim();
const roles = {
  button: "button, [role=button], input[type=submit], input[type=button]",
  link: "a[href], [role=link]",
  textbox: "input:not([type]), input[type=text], input[type=email], input[type=password], textarea, [role=textbox]",
  searchbox: "input[type=search], [role=searchbox]",
  combobox: "select, [role=combobox]",
  checkbox: "input[type=checkbox], [role=checkbox]",
  heading: "h1, h2, h3, h4, h5, h6, [role=heading]",
  article: "article",
  region: "section[aria-labelledby], section[aria-label], [role=region]",
  status: "[role=status]",
  alert: "[role=alert]",
  control: "input, select, textarea",
};
const selector = roles[role];
if (!selector) throw new Error("unknown role " + role);
function accessibleName(el) {
  const by = el.getAttribute("aria-labelledby");
  if (by) return norm(by.split(/\s+/).map((id) => (document.getElementById(id) || {}).textContent || "").join(" "));
  if (el.getAttribute("aria-label")) return norm(el.getAttribute("aria-label"));
  if (el.labels && el.labels.length) return norm([...el.labels].map((l) => l.textContent).join(" "));
  if (el.matches("input, select, textarea")) return norm(el.getAttribute("title"));
  return norm(el.textContent);
}
const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) && getComputedStyle(el).visibility !== "hidden";
return [...document.querySelectorAll(selector)].filter((el) => visible(el) && (name === null || accessibleName(el) === norm(name)));
"#;

/// Keeps what the page logs (console and uncaught errors), for the failure report.
const CAPTURE_CONSOLE: &str = r#"
if (!window.__ticketdLog) {
  window.__ticketdLog = [];
  for (const level of ["log", "info", "warn", "error"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => { window.__ticketdLog.push(level + ": " + args.map(String).join(" ")); original(...args); };
  }
  window.addEventListener("error", (e) => window.__ticketdLog.push("uncaught: " + e.message));
  window.addEventListener("unhandledrejection", (e) => window.__ticketdLog.push("unhandled rejection: " + String(e.reason)));
}
"#;

/// One person's browser window.
pub struct Browser {
    pub client: Client,
    base: String,
}

impl Browser {
    /// Goes to `path` of the app (`/`, `/#/board`).
    pub async fn visit(&self, path: &str) -> Result<()> {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .with_context(|| format!("go to {path}"))?;
        self.client.execute(CAPTURE_CONSOLE, vec![]).await?;
        Ok(())
    }

    /// Reloads the page, as F5 does.
    pub async fn reload(&self) -> Result<()> {
        self.client.refresh().await.context("reload")?;
        self.client.execute(CAPTURE_CONSOLE, vec![]).await?;
        Ok(())
    }

    async fn query(&self, role: &str, name: Option<&str>) -> Result<Vec<Element>> {
        let found = self
            .client
            .execute(QUERY, vec![json!(role), json!(name)])
            .await
            .context("query the page")?;
        let Value::Array(items) = found else {
            bail!("the query answered {found}");
        };
        items
            .into_iter()
            .map(|item| {
                let id = item
                    .as_object()
                    .and_then(|o| o.values().next())
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("not an element: {item}"))?;
                Ok(Element::from_element_id(
                    self.client.clone(),
                    ElementRef::from(id.to_string()),
                ))
            })
            .collect()
    }

    /// The one visible element of `role` named `name`, waiting for it to appear.
    pub async fn by_role(&self, role: &str, name: &str) -> Result<Element> {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut found = self.query(role, Some(name)).await?;
            match found.len() {
                1 => return Ok(found.remove(0)),
                0 if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                0 => bail!("no {role} named {name:?} appeared"),
                n => bail!("{n} elements of role {role} are named {name:?}"),
            }
        }
    }

    /// How many visible elements of `role` are named `name` now.
    pub async fn count(&self, role: &str, name: &str) -> Result<usize> {
        Ok(self.query(role, Some(name)).await?.len())
    }

    /// The form control labelled `label`.
    pub async fn by_label(&self, label: &str) -> Result<Element> {
        self.by_role("control", label).await
    }

    /// Activates the button named `name`.
    pub async fn press(&self, name: &str) -> Result<()> {
        self.on_fresh(&format!("press {name:?}"), async || {
            let button = self.by_role("button", name).await?;
            Ok(button.click().await)
        })
        .await
    }

    /// Follows the link named `name`.
    pub async fn follow(&self, name: &str) -> Result<()> {
        let href = self
            .on_fresh(&format!("follow {name:?}"), async || {
                let link = self.by_role("link", name).await?;
                let href = link.attr("href").await.unwrap_or_default();
                Ok(link.click().await.map(|()| href))
            })
            .await?;
        self.arrived(name, href.as_deref()).await
    }

    /// Runs `act`, which finds an element (failing at once when it cannot) and acts on it, again
    /// while the action finds the element stale: a list or page re-rendered by a live update
    /// between finding and acting leaves the old element behind, and a person would simply act
    /// on the new one.
    async fn on_fresh<T>(
        &self,
        what: &str,
        mut act: impl AsyncFnMut() -> Result<Result<T, CmdError>>,
    ) -> Result<T> {
        for _ in 0..20 {
            match act().await? {
                Err(e) if e.to_string().contains("stale element") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                done => return done.with_context(|| what.to_string()),
            }
        }
        bail!("{what}: the element kept being replaced")
    }

    /// Waits for the page to be at the in-app route `href` (`#/…`) a link led to; a click that
    /// went nowhere fails here, naming the page it stayed on, rather than as a missing heading.
    async fn arrived(&self, name: &str, href: Option<&str>) -> Result<()> {
        let Some(route) = href.filter(|h| h.starts_with('#')) else {
            return Ok(());
        };
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.client.current_url().await?;
            if url.fragment().map(|f| format!("#{f}")).as_deref() == Some(route) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "follow {name:?}: the click did not lead to {route}, the page stayed at {url}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `text` into the field labelled `label`, replacing what it held.
    pub async fn fill(&self, label: &str, text: &str) -> Result<()> {
        self.on_fresh(&format!("type into {label:?}"), async || {
            let field = self.by_label(label).await?;
            Ok(match field.clear().await {
                Ok(()) => field.send_keys(text).await,
                Err(e) => Err(e),
            })
        })
        .await
    }

    /// Picks the option whose value or text is `choice` in the select labelled `label`,
    /// waiting for the option to be there (some lists are filled from the API).
    pub async fn choose(&self, label: &str, choice: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let select = self.by_label(label).await?;
            if select.select_by_value(choice).await.is_ok()
                || select.select_by_label(choice).await.is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("{label:?} never offered {choice:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ticks the checkbox labelled `label`.
    pub async fn tick(&self, label: &str) -> Result<()> {
        let checkbox = self.by_label(label).await?;
        if checkbox.prop("checked").await?.as_deref() != Some("true") {
            checkbox.click().await?;
        }
        Ok(())
    }

    /// The page's visible text.
    pub async fn text(&self) -> Result<String> {
        let text = self
            .client
            .execute("return document.body.innerText", vec![])
            .await?;
        Ok(text.as_str().unwrap_or_default().to_string())
    }

    /// Waits until the page shows `text`.
    pub async fn sees(&self, text: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.text().await?.contains(text) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the page never showed {text:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Checks that the page does not show `text` now.
    pub async fn does_not_see(&self, text: &str) -> Result<()> {
        if self.text().await?.contains(text) {
            bail!("the page shows {text:?}");
        }
        Ok(())
    }

    /// The value shown for `term` in the ticket's details (a `<dt>`/`<dd>` pair).
    pub async fn detail(&self, term: &str) -> Result<String> {
        let value = self
            .client
            .execute(
                r#"const dt = [...document.querySelectorAll("dt")].find((d) => d.textContent.trim() === arguments[0]);
                   return dt && dt.nextElementSibling ? dt.nextElementSibling.textContent.trim() : null;"#,
                vec![json!(term)],
            )
            .await?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// Waits until the ticket's details show `value` for `term`.
    pub async fn sees_detail(&self, term: &str, value: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let shown = self.detail(term).await?;
            if shown == value {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("{term} shows {shown:?}, never {value:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the page is wider than the window (it scrolls sideways).
    pub async fn overflows(&self) -> Result<bool> {
        let wider = self
            .client
            .execute(
                "return document.documentElement.scrollWidth > document.documentElement.clientWidth",
                vec![],
            )
            .await?;
        Ok(wider == json!(true))
    }

    /// The id in the URL's `#/tickets/<id>`.
    pub async fn ticket_in_view(&self) -> Result<Uuid> {
        let url = self.client.current_url().await?;
        let fragment = url.fragment().unwrap_or_default();
        fragment
            .strip_prefix("/tickets/")
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| anyhow!("no ticket in the URL {url}"))
    }

    /// The value of the form control labelled `label`.
    pub async fn value_of(&self, label: &str) -> Result<String> {
        Ok(self
            .by_label(label)
            .await?
            .prop("value")
            .await?
            .unwrap_or_default())
    }

    /// Presses keys on whatever has the focus (`\u{e004}` is Tab, `\u{e007}` Enter).
    pub async fn keys(&self, keys: &str) -> Result<()> {
        let focused = self.client.active_element().await?;
        focused.send_keys(keys).await.context("press keys")
    }

    /// The accessible name of the focused element.
    pub async fn focused_name(&self) -> Result<String> {
        let name = self
            .client
            .execute(
                r#"const el = document.activeElement;
                   const label = el.labels && el.labels.length ? el.labels[0].textContent : "";
                   return (el.getAttribute("aria-label") || label || el.textContent || "").trim();"#,
                vec![],
            )
            .await?;
        Ok(name.as_str().unwrap_or_default().to_string())
    }

    /// Signs in through the form, as a person does.
    pub async fn sign_in(&self, person: &Person) -> Result<()> {
        self.fill("Email", &person.user.email).await?;
        self.fill("Password", &person.password).await?;
        self.press("Sign in").await?;
        self.by_role("button", "Sign out").await?;
        Ok(())
    }

    /// Saves a screenshot to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) -> Result<()> {
        let png = self.client.screenshot().await?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Looks at the view: saves a screenshot as `target/webapp-screenshots/<name>.png` (the
    /// README's pictures come from there) and has axe-core check it: no serious or critical
    /// violation of WCAG 2.1 A/AA.
    pub async fn picture(&self, name: &str) -> Result<()> {
        // Let the last live reload and the focus ring settle.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let shots = target_dir().join("webapp-screenshots");
        self.screenshot(&shots.join(format!("{name}.png"))).await?;
        self.accessible(name).await
    }

    /// Runs axe-core on the page; fails on any serious or critical violation.
    pub async fn accessible(&self, view: &str) -> Result<()> {
        let present = self
            .client
            .execute("return typeof window.axe === 'object'", vec![])
            .await?;
        if present != json!(true) {
            self.client.execute(&axe_source()?, vec![]).await?;
        }
        let found = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
                     .then((r) => done(r.violations
                        .filter((v) => v.impact === "serious" || v.impact === "critical")
                        .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)))
                     .catch((e) => done([`axe failed: ${e}`]));"#,
                vec![],
            )
            .await?;
        let violations: Vec<String> = serde_json::from_value(found)?;
        if !violations.is_empty() {
            bail!("axe-core on {view}:\n{}", violations.join("\n"));
        }
        Ok(())
    }

    async fn console(&self) -> String {
        match self
            .client
            .execute("return (window.__ticketdLog || []).join('\\n')", vec![])
            .await
        {
            Ok(Value::String(log)) => log,
            Ok(other) => other.to_string(),
            Err(e) => format!("(no console log: {e})"),
        }
    }

    /// Ends the session (the browser quits).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// A user with a password, to sign in through the form.
pub struct Person {
    pub user: TestUser,
    pub password: String,
}

/// Adds a user who can sign in with a password.
pub async fn person(app: &TestApp, role: Role, name: &str) -> Person {
    let short = &Uuid::new_v4().simple().to_string()[..8];
    let email = format!("{}.{short}@example.com", role.as_str());
    let password = format!("pw-{short}-long-enough");
    let user =
        crate::helpers::add_user_with(&app.pool, &email, name, role, Some(&password), Origin::Cli)
            .await;
    let token = sign(&claims(user.id, &email, name, role.as_str()));
    Person {
        user: TestUser {
            id: user.id,
            email,
            name: name.to_string(),
            role: role.as_str().to_string(),
            token,
        },
        password,
    }
}

/// axe-core's script: `AXE_CORE_JS`, else where `deploy/test.sh` puts it.
fn axe_source() -> Result<String> {
    let path = std::env::var_os("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("axe-core-4.10.3").join("axe.min.js"));
    std::fs::read_to_string(&path).with_context(|| {
        format!(
            "read axe-core from {} (deploy/test.sh fetches it with npm)",
            path.display()
        )
    })
}

/// Where failure reports and screenshots go: the workspace's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Ends a scenario: on failure, saves every window's screenshot and console log, then fails the
/// test with the scenario's error; on success, closes the windows.
pub async fn finish(test: &str, outcome: Result<()>, browsers: Vec<(&str, Browser)>) {
    if let Err(error) = outcome {
        let dir = target_dir().join("webapp-failures");
        let mut report = format!("{test} failed: {error:#}\n");
        for (who, browser) in browsers {
            let shot = dir.join(format!("{test}-{who}.png"));
            let saved = browser.screenshot(&shot).await;
            let url = browser
                .client
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            report.push_str(&format!(
                "--- {who} at {url}\nscreenshot: {} ({saved:?})\nconsole:\n{}\n",
                shot.display(),
                browser.console().await
            ));
            browser.close().await;
        }
        panic!("{report}");
    }
    for (_, browser) in browsers {
        browser.close().await;
    }
}

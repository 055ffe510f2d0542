//! The Registry pane's wide layout, headless against the embedded registry with the bundled
//! samples: descriptions come lazily for the rows on screen and are asked for once, the
//! preview follows the tag selection, `w` hands the selected version to the Workspace pane,
//! and a relative pull path lands under the workspace.

mod common;
use common::workbench;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use provisioning::extension::samples;
use provisioning::oci::cache::BlobCache;
use provisioning::oci::client::{ClientOptions, Registries};
use provisioning::oci::credentials::CredentialStore;
use provisioning::oci::{Reference, ReferenceDefaults};
use provisioning::tui::app::{Overlay, PaneId, PromptPurpose};
use provisioning::tui::panes::LoadState;
use provisioning::tui::panes::registry::{self, Described, Level};
use provisioning::tui::screen;
use provisioning::tui::theme::Theme;
use provisioning::tui::worker::{self, Request, Response};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use common::TestRegistry;
use common::oci_fixtures::files_under;
use workbench::*;

const LONG: Duration = Duration::from_secs(60);

/// The samples publish one repository per extension.
const SAMPLE_REPOSITORIES: usize = 37;

/// The embedded registry with the samples, and a driver whose workspace is `workspace`.
struct Env {
    registry: TestRegistry,
    scratch: tempfile::TempDir,
    driver: Driver,
}

impl Env {
    async fn start() -> Env {
        common::install_crypto();
        let registry = TestRegistry::start().await;
        let host = registry.host();
        let scratch = tempfile::tempdir().expect("temp dir");
        let options = ClientOptions {
            plain_http_registries: vec![host.clone()],
            ..ClientOptions::default()
        };
        let credentials =
            CredentialStore::new(scratch.path().join("docker/config.json"), None, None);
        let registries = Registries::new(options, credentials).expect("registries");
        let cache = BlobCache::open(scratch.path().join("cache")).expect("cache");
        let defaults = ReferenceDefaults {
            registry: host.clone(),
            namespace: NAMESPACE.to_string(),
        };
        samples::publish(
            &scratch.path().join("samples"),
            &registries,
            &cache,
            &defaults,
        )
        .await
        .expect("the samples are published");
        let workspace = scratch.path().join("workspace");
        std::fs::create_dir_all(&workspace).expect("workspace");
        let app =
            app_with(&host, NAMESPACE, workspace.clone(), Theme::dark()).with_workspace(workspace);
        let driver = Driver::new(app, worker::spawn(registries, cache));
        Env {
            registry,
            scratch,
            driver,
        }
    }

    fn workspace(&self) -> PathBuf {
        self.scratch.path().join("workspace")
    }

    async fn stop(self) {
        self.registry.stop().await;
    }
}

/// Draws the app once at `width`×`height`, as the terminal would.
fn draw(driver: &Driver, width: u16, height: u16) {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|frame| screen::draw(frame, &driver.app))
        .expect("draw");
}

/// The screen's text, one string per row.
fn screen_lines(driver: &Driver, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|frame| screen::draw(frame, &driver.app))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect())
        .collect()
}

fn repository(driver: &Driver, name: &str) -> Reference {
    Reference {
        registry: driver.app.registry.registry().to_string(),
        repository: format!("{NAMESPACE}/{name}"),
        tag: None,
        digest: None,
    }
}

/// The repositories in the window of `rows` rows around the selection.
fn window(driver: &Driver, rows: usize) -> Vec<Reference> {
    let (_, window) = driver.app.registry.repos.window(rows);
    window
        .iter()
        .map(|(_, e)| repository(driver, &e.name))
        .collect()
}

/// How many Describe answers came back for each reference.
fn described_counts(driver: &Driver) -> HashMap<Reference, usize> {
    let mut counts = HashMap::new();
    for response in &driver.seen {
        if let Response::Described { reference, .. } = response {
            *counts.entry(reference.clone()).or_default() += 1;
        }
    }
    counts
}

fn describes(requests: &[Request]) -> Vec<Reference> {
    requests
        .iter()
        .filter_map(|r| match r {
            Request::Describe { reference } => Some(reference.clone()),
            _ => None,
        })
        .collect()
}

/// Applies answers until nothing the pane asked to describe is pending.
async fn until_described(driver: &mut Driver) {
    driver
        .until("the descriptions", LONG, |app| {
            !app.registry
                .descriptions
                .values()
                .any(|d| *d == Described::Pending)
        })
        .await;
}

async fn load_repositories(driver: &mut Driver) {
    driver
        .until("the repositories", LONG, |app| {
            app.registry.repos_state == LoadState::Loaded
        })
        .await;
    assert_eq!(driver.app.registry.repos.total(), SAMPLE_REPOSITORIES);
}

/// Filters the repositories to `name`, selects it and opens its tags (with the preview).
async fn open_tags(driver: &mut Driver, name: &str) {
    load_repositories(driver).await;
    driver.press(ch('/'));
    driver.chars(name);
    driver.code(KeyCode::Enter);
    driver.press(ch('g'));
    while driver
        .app
        .registry
        .repos
        .selected()
        .map(|e| e.name.as_str())
        != Some(name)
    {
        let before = driver.app.registry.repos.selected_index();
        driver.press(ch('j'));
        assert_ne!(
            before,
            driver.app.registry.repos.selected_index(),
            "{name} is listed"
        );
    }
    driver.code(KeyCode::Enter);
    driver.settle().await;
    assert_eq!(driver.app.registry.level, Level::Tags);
    assert_eq!(driver.app.registry.tags_state, LoadState::Loaded);
}

fn previewed_version(driver: &Driver) -> Option<String> {
    driver
        .app
        .registry
        .detail
        .as_ref()?
        .config_content
        .as_ref()?
        .get("version")?
        .as_str()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptions_arrive_for_the_visible_rows_only_and_once() {
    let mut env = Env::start().await;
    let driver = &mut env.driver;
    // A 40-row terminal shows fewer rows than the samples have repositories.
    draw(driver, 120, 40);
    let rows = driver.app.registry.visible_rows();
    assert!(
        rows < SAMPLE_REPOSITORIES,
        "{rows} rows show every repository"
    );
    load_repositories(driver).await;
    // The list is there before any description is.
    assert!(
        driver
            .app
            .registry
            .descriptions
            .values()
            .all(|d| *d == Described::Pending),
        "the list does not wait for descriptions"
    );
    until_described(driver).await;

    let visible = window(driver, rows);
    let counts = described_counts(driver);
    let mut asked: Vec<&Reference> = counts.keys().collect();
    asked.sort_by_key(|r| r.repository.clone());
    let mut expected: Vec<&Reference> = visible.iter().collect();
    expected.sort_by_key(|r| r.repository.clone());
    assert_eq!(asked, expected, "exactly the visible rows are described");
    assert!(counts.values().all(|n| *n == 1), "each once: {counts:?}");
    match driver
        .app
        .registry
        .description(&repository(driver, "kubernetes"))
    {
        Some(Described::Found(d)) => {
            assert_eq!(d.version.as_deref(), Some("1.31.1"), "the newest version");
            assert_eq!(d.kind.as_deref(), Some("taskserv"));
            assert!(
                d.description
                    .as_deref()
                    .is_some_and(|t| t.to_lowercase().contains("kubernetes")),
                "{d:?}"
            );
        }
        other => panic!("kubernetes is described, found {other:?}"),
    }

    // Scrolling to the end asks only for the rows not described yet.
    driver.press(ch('G'));
    let asked_now = describes(&driver.flush());
    let hidden: Vec<Reference> = window(driver, rows)
        .into_iter()
        .filter(|r| !visible.contains(r))
        .collect();
    assert!(!hidden.is_empty());
    assert_eq!(asked_now, hidden, "the newly visible rows, in order");
    until_described(driver).await;
    // Back to the top: everything there is known, nothing is asked again.
    driver.press(ch('g'));
    assert!(describes(&driver.flush()).is_empty());
    let counts = described_counts(driver);
    assert_eq!(counts.len(), SAMPLE_REPOSITORIES);
    assert!(counts.values().all(|n| *n == 1), "each once: {counts:?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_follows_the_tag_selection() {
    let mut env = Env::start().await;
    let driver = &mut env.driver;
    draw(driver, 120, 40);
    open_tags(driver, "kubernetes").await;
    let registry = &driver.app.registry;
    assert_eq!(
        registry.detail_of.as_ref().and_then(|r| r.tag.as_deref()),
        Some("1.31.1"),
        "the first tag is previewed"
    );
    assert_eq!(registry.detail_state, LoadState::Loaded);
    assert_eq!(previewed_version(driver).as_deref(), Some("1.31.1"));

    driver.press(ch('j'));
    assert_eq!(driver.app.registry.level, Level::Tags, "the list stays");
    assert_eq!(driver.app.registry.detail_state, LoadState::Loading);
    driver.settle().await;
    assert_eq!(previewed_version(driver).as_deref(), Some("1.30.2"));

    // Moving on before an answer: only where the selection stops is shown.
    driver.press(ch('j'));
    driver.flush();
    driver.press(ch('j'));
    driver.settle().await;
    assert_eq!(
        driver
            .app
            .registry
            .detail_of
            .as_ref()
            .and_then(|r| r.tag.as_deref()),
        Some("1.28.0")
    );
    assert_eq!(previewed_version(driver).as_deref(), Some("1.28.0"));

    // Enter shows the previewed detail full size, without fetching it again.
    driver.code(KeyCode::Enter);
    assert_eq!(driver.app.registry.level, Level::Detail);
    assert_eq!(driver.app.registry.detail_state, LoadState::Loaded);
    let requests = driver.flush();
    assert!(
        !requests
            .iter()
            .any(|r| matches!(r, Request::Inspect { .. })),
        "{requests:?}"
    );
    env.stop().await;
}

/// A click on a tag previews it, as moving there with the keys does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_on_a_tag_previews_it() {
    let mut env = Env::start().await;
    let driver = &mut env.driver;
    draw(driver, 120, 40);
    open_tags(driver, "kubernetes").await;
    let lines = screen_lines(driver, 120, 40);
    // Click where 1.28.0 is drawn in the tag list (the left part of the screen).
    let row = lines
        .iter()
        .position(|line| {
            line.chars()
                .take(60)
                .collect::<String>()
                .contains(" 1.28.0 ")
        })
        .expect("1.28.0 is on screen") as u16;
    let area = driver.app.registry.geometry.get().area;
    driver.app.handle_mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: area.x + 2,
        row,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(driver.app.registry.detail_state, LoadState::Loading);
    driver.settle().await;
    assert_eq!(previewed_version(driver).as_deref(), Some("1.28.0"));
    env.stop().await;
}

/// Narrow terminals drill down: moving over tags fetches no preview.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrow_terminals_drill_down_without_a_preview() {
    let mut env = Env::start().await;
    let driver = &mut env.driver;
    draw(driver, 80, 24);
    open_tags(driver, "kubernetes").await;
    driver.press(ch('j'));
    let requests = driver.flush();
    assert!(
        !requests
            .iter()
            .any(|r| matches!(r, Request::Inspect { .. })),
        "{requests:?}"
    );
    assert_eq!(driver.app.registry.detail_state, LoadState::Idle);
    driver.code(KeyCode::Enter);
    assert_eq!(driver.app.registry.level, Level::Detail);
    driver.settle().await;
    assert_eq!(previewed_version(driver).as_deref(), Some("1.30.2"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w_adds_the_selected_version_to_the_workspace() {
    let mut env = Env::start().await;
    let driver = &mut env.driver;
    open_tags(driver, "kubernetes").await;
    driver.press(ch('j'));
    driver.press(ch('w'));
    assert_eq!(
        driver.app.pane,
        PaneId::Workspace,
        "w opens the Workspace pane"
    );
    let kubernetes = repository(driver, "kubernetes");
    assert_eq!(
        driver.app.registry.added,
        Some((kubernetes.clone(), Some("1.30.2".to_string())))
    );

    // From the full detail too.
    driver.press(ch('1'));
    driver.press(ch('j'));
    driver.code(KeyCode::Enter);
    driver.settle().await;
    assert_eq!(driver.app.registry.level, Level::Detail);
    driver.press(ch('w'));
    assert_eq!(driver.app.pane, PaneId::Workspace);
    assert_eq!(
        driver.app.registry.added,
        Some((kubernetes, Some("1.29.3".to_string())))
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_pull_path_lands_in_the_workspace() {
    let mut env = Env::start().await;
    let workspace = env.workspace();
    let driver = &mut env.driver;
    open_tags(driver, "etcd").await;
    driver.press(ch('p'));
    let Some(Overlay::Prompt {
        purpose: PromptPurpose::Registry(registry::Ask::PullTo(_)),
        label,
        input,
        ..
    }) = &driver.app.overlay
    else {
        panic!("a pull prompt, found {:?}", driver.app.overlay);
    };
    assert!(
        label.contains(&format!("relative to {}", workspace.display())),
        "{label}"
    );
    for _ in 0..input.text().chars().count() {
        driver.code(KeyCode::Backspace);
    }
    driver.chars("vendor/etcd");
    driver.code(KeyCode::Enter);
    match &driver.app.transfers.jobs[0].request {
        Request::Pull { dest, .. } => assert_eq!(dest, &workspace.join("vendor/etcd")),
        other => panic!("a pull, found {other:?}"),
    }
    driver.settle().await;
    let files = files_under(&workspace.join("vendor/etcd"));
    assert!(files.iter().any(|f| f == "manifest.yaml"), "{files:?}");
    assert!(
        !Path::new("vendor/etcd").exists(),
        "nothing was written relative to where the tests run"
    );
    env.stop().await;
}

/// Answers the open prompt with `text`, replacing what it offered.
fn answer(driver: &mut Driver, text: &str) {
    assert!(
        matches!(driver.app.overlay, Some(Overlay::Prompt { .. })),
        "a prompt is open: {:?}",
        driver.app.overlay
    );
    driver.press(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::CONTROL));
    driver.press(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    driver.chars(text);
    driver.code(KeyCode::Enter);
}

/// `R` takes `host/namespace` (a scheme too) and lists that namespace on that host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_registry_takes_a_namespace() {
    let mut env = Env::start().await;
    let driver = &mut env.driver;
    load_repositories(driver).await;
    let host = driver.app.registry.registry().to_string();
    driver.press(ch('R'));
    answer(driver, &format!("http://{host}/provisioning-extensions/"));
    let requests = driver.flush();
    assert!(
        requests.iter().any(|r| matches!(
            r,
            Request::Repositories { registry, namespace }
                if *registry == host && namespace == "provisioning-extensions"
        )),
        "{requests:?}"
    );
    assert_eq!(
        driver.app.registry.registries,
        std::slice::from_ref(&host),
        "no second entry"
    );
    driver.settle().await;
    assert_eq!(driver.app.registry.repos.total(), SAMPLE_REPOSITORIES);
    env.stop().await;
}

/// Copying a tag onto itself is refused before any job starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copying_a_tag_onto_itself_is_refused() {
    let mut env = Env::start().await;
    let driver = &mut env.driver;
    open_tags(driver, "redis").await;
    let selected = driver.app.registry.selected_reference().expect("a tag");
    driver.press(ch('c'));
    answer(driver, &selected.to_string());
    assert!(driver.app.transfers.jobs.is_empty(), "no job");
    assert!(
        driver
            .app
            .toasts
            .iter()
            .any(|t| t.text.contains("is what you are copying")),
        "{:?}",
        driver.app.toasts
    );
    env.stop().await;
}

/// The detail shows how many signatures a manifest has, and whether one verifies with a key
/// the workspace trusts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_detail_shows_signatures_and_the_trusted_key() {
    use provisioning::oci::sign::{self, Signer};
    use provisioning::tui::worker::SignatureSummary;

    let mut env = Env::start().await;
    let workspace = env.workspace();
    let driver = &mut env.driver;
    let host = driver.app.registry.registry().to_string();
    draw(driver, 120, 40);
    open_tags(driver, "kubernetes").await;
    driver
        .until("the signatures", LONG, |app| {
            app.registry.signatures.is_some()
        })
        .await;
    let digest = driver
        .app
        .registry
        .detail
        .as_ref()
        .expect("previewed")
        .digest
        .clone();
    assert_eq!(
        driver.app.registry.signatures,
        Some(Ok(SignatureSummary::default())),
        "not signed yet"
    );

    // The workspace trusts one key; the manifest gets signed with it.
    let (private, public) = sign::generate_key_pair(b"pw").expect("key pair");
    std::fs::create_dir_all(workspace.join("config")).unwrap();
    std::fs::write(workspace.join("trusted.pub"), public.as_bytes()).unwrap();
    std::fs::write(
        workspace.join("config/provisioning.yaml"),
        format!(
            "{}\nsignatures:\n  keys: [trusted.pub]\n",
            samples::workspace_config(&host)
        ),
    )
    .unwrap();
    let signer = Signer::from_encrypted_pem(private.as_bytes(), b"pw").expect("signer");
    let registries = Registries::new(
        ClientOptions {
            plain_http_registries: vec![host.clone()],
            ..ClientOptions::default()
        },
        CredentialStore::new(workspace.join("docker.json"), None, None),
    )
    .expect("registries");
    let client = registries.client(&host);
    sign::sign_manifest(
        &client,
        &format!("{NAMESPACE}/kubernetes"),
        &digest,
        &signer,
    )
    .await
    .expect("signed");

    // Away and back: the preview asks again.
    driver.press(ch('j'));
    driver.settle().await;
    driver.press(ch('k'));
    driver
        .until("the new signatures", LONG, |app| {
            app.registry
                .detail_of
                .as_ref()
                .and_then(|r| r.tag.as_deref())
                == Some("1.31.1")
                && app.registry.signatures.is_some()
        })
        .await;
    assert_eq!(
        driver.app.registry.signatures,
        Some(Ok(SignatureSummary {
            count: 1,
            verified_with: Some("trusted.pub".into()),
            trusted_keys: 1,
        }))
    );
    let screen = screen_lines(driver, 120, 40).join("\n");
    assert!(screen.contains("1 (verified with trusted.pub)"), "{screen}");
    env.stop().await;
}

//! The workbench's state machine, headless: keys go to the app, its requests to a real worker,
//! and the worker talks to an embedded registry with the bundled samples published. Nothing is
//! drawn here (see workbench_snapshots for that).

mod common;
use common::workbench;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use provisioning::extension::manifest::ExtensionType;
use provisioning::extension::samples;
use provisioning::extension::scaffold::{self, ScaffoldSpec};
use provisioning::oci::ReferenceDefaults;
use provisioning::oci::cache::BlobCache;
use provisioning::oci::client::{ClientOptions, Registries};
use provisioning::oci::credentials::CredentialStore;
use provisioning::tui::action::Action;
use provisioning::tui::app::{
    Overlay, PaneId, PromptPurpose, TOAST_LIFE, ToastKind, palette_matches,
};
use provisioning::tui::keymap::SECTIONS;
use provisioning::tui::panes::LoadState;
use provisioning::tui::panes::publish::Step;
use provisioning::tui::panes::registry::{self, Level};
use provisioning::tui::panes::transfers::JobState;
use provisioning::tui::theme::Theme;
use provisioning::tui::worker::{self, Request, Response};

use common::TestRegistry;
use common::faults::{Fault, FaultKind, FaultProxy};
use common::oci_fixtures::files_under;
use workbench::*;

/// Sample repositories (one per extension) the bundled inventory publishes.
const SAMPLE_REPOSITORIES: usize = 37;

const LONG: Duration = Duration::from_secs(60);

/// A registry (optionally with the samples), a client for it and a scratch directory.
struct Env {
    registry: TestRegistry,
    host: String,
    registries: Registries,
    cache: BlobCache,
    scratch: tempfile::TempDir,
}

impl Env {
    /// `plain_extra`: more hosts the client reaches over plain HTTP.
    async fn start(with_samples: bool, plain_extra: &[String]) -> Env {
        common::install_crypto();
        let registry = TestRegistry::start().await;
        let host = registry.host();
        let scratch = tempfile::tempdir().expect("temp dir");
        let mut plain = vec![host.clone()];
        plain.extend(plain_extra.iter().cloned());
        let registries = registries_in(scratch.path(), plain);
        let cache = BlobCache::open(scratch.path().join("cache")).expect("cache");
        if with_samples {
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
        }
        Env {
            registry,
            host,
            registries,
            cache,
            scratch,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// A driver for an app on this registry under `namespace`, its picker at `workspace`.
    fn driver_in(&self, namespace: &str, workspace: PathBuf) -> Driver {
        let app = app_with(&self.host, namespace, workspace, Theme::dark());
        Driver::new(
            app,
            worker::spawn(self.registries.clone(), self.cache.clone()),
        )
    }

    /// A driver whose app and worker reach this registry only through `proxy`.
    fn driver_through(&self, proxy: &FaultProxy) -> Driver {
        let workspace = self.path("workspace");
        std::fs::create_dir_all(&workspace).expect("workspace");
        let app = app_with(&proxy.host, NAMESPACE, workspace, Theme::dark());
        let registries = registries_in(self.scratch.path(), vec![proxy.host.clone()]);
        Driver::new(app, worker::spawn(registries, self.cache.clone()))
    }

    fn driver(&self) -> Driver {
        let workspace = self.path("workspace");
        std::fs::create_dir_all(&workspace).expect("workspace");
        self.driver_in(NAMESPACE, workspace)
    }

    async fn stop(self) {
        self.registry.stop().await;
    }
}

/// Clients for `plain` hosts over plain HTTP, with credentials kept under `scratch`.
fn registries_in(scratch: &Path, plain: Vec<String>) -> Registries {
    let options = ClientOptions {
        plain_http_registries: plain,
        ..ClientOptions::default()
    };
    let credentials = CredentialStore::new(scratch.join("docker/config.json"), None, None);
    Registries::new(options, credentials).expect("registries")
}

/// Applies answers until no description the Registry pane asked for is pending.
async fn until_described(driver: &mut Driver) {
    driver
        .until("the descriptions", LONG, |app| {
            !app.registry
                .descriptions
                .values()
                .any(|d| *d == registry::Described::Pending)
        })
        .await;
}

/// Waits until `proxy` has received, after its first `after` requests, one whose path
/// contains `path`.
async fn proxy_received(proxy: &FaultProxy, path: &str, after: usize) {
    let end = std::time::Instant::now() + LONG;
    while !proxy.seen()[after..].iter().any(|r| r.path.contains(path)) {
        assert!(
            std::time::Instant::now() < end,
            "the proxy never received {path}: {:?}",
            proxy.seen()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Accepts connections and never answers: requests to it hang until cancelled.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let host = listener.local_addr().expect("address").to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (host, task)
}

fn repo_names(driver: &Driver) -> Vec<String> {
    let list = &driver.app.registry.repos;
    (0..list.len())
        .map(|i| {
            let (_, rows) = list.window(i + 1);
            rows.last().map(|(_, e)| e.name.clone()).unwrap_or_default()
        })
        .collect()
}

fn tag_names(driver: &Driver) -> Vec<String> {
    let list = &driver.app.registry.tags;
    let (_, rows) = list.window(list.len().max(1));
    rows.iter().map(|(_, t)| t.tag.clone()).collect()
}

fn selected_repo(driver: &Driver) -> Option<String> {
    driver.app.registry.repos.selected().map(|e| e.name.clone())
}

/// Moves the repository selection to `name` with j/k.
fn select_repo(driver: &mut Driver, name: &str) {
    driver.press(ch('g'));
    for _ in 0..driver.app.registry.repos.len() {
        if selected_repo(driver).as_deref() == Some(name) {
            return;
        }
        driver.press(ch('j'));
    }
    assert_eq!(
        selected_repo(driver).as_deref(),
        Some(name),
        "{name} is listed"
    );
}

/// Loads the repositories, filters to `name` and opens its tags.
/// Enter in the detail offers the declared dependencies and jumps to the chosen one's tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_in_the_detail_opens_a_dependency() {
    let env = Env::start(true, &[]).await;
    let mut driver = env.driver();
    open_tags(&mut driver, "kubernetes").await;
    driver.code(KeyCode::Enter);
    driver.settle().await;
    assert_eq!(driver.app.registry.detail_state, LoadState::Loaded);
    driver.code(KeyCode::Enter);
    answer_prompt(&mut driver, "etcd");
    driver.settle().await;
    assert_eq!(driver.app.registry.level, Level::Tags);
    assert_eq!(driver.app.registry.tags_state, LoadState::Loaded);
    assert_eq!(
        driver
            .app
            .registry
            .tags_of
            .as_ref()
            .map(|r| r.name().to_string()),
        Some("etcd".to_string())
    );
    assert_eq!(tag_names(&driver), ["3.5.12", "3.5.9"]);
    env.stop().await;
}

async fn open_tags(driver: &mut Driver, name: &str) {
    driver.settle().await;
    driver.press(ch('/'));
    driver.chars(name);
    driver.code(KeyCode::Enter);
    select_repo(driver, name);
    driver.code(KeyCode::Enter);
    driver.settle().await;
    assert_eq!(driver.app.registry.level, Level::Tags);
    assert_eq!(driver.app.registry.tags_state, LoadState::Loaded);
}

/// Replaces a prompt's text with `text` and confirms it.
fn answer_prompt(driver: &mut Driver, text: &str) {
    let Some(Overlay::Prompt { input, .. }) = &driver.app.overlay else {
        panic!("a prompt is open, found {:?}", driver.app.overlay);
    };
    for _ in 0..input.text().chars().count() {
        driver.code(KeyCode::Backspace);
    }
    driver.chars(text);
    driver.code(KeyCode::Enter);
}

/// Starts a pull that hangs: the registry is switched to a black hole, whose listing and tags
/// are answered here (the worker's own requests to it never return), then `p` pulls its tag.
async fn start_stuck_pull(driver: &mut Driver, hole: &str, dest: &Path) -> u64 {
    driver.settle().await;
    driver.press(ch('R'));
    assert!(matches!(
        &driver.app.overlay,
        Some(Overlay::Prompt {
            purpose: PromptPurpose::Registry(registry::Ask::SwitchRegistry),
            ..
        })
    ));
    answer_prompt(driver, hole);
    driver.flush();
    assert_eq!(driver.app.registry.registry(), hole);
    driver.app.handle_response(Response::Repositories {
        registry: hole.to_string(),
        result: Ok(named_repositories(NAMESPACE, &["kubernetes"])),
    });
    driver.code(KeyCode::Enter);
    driver.flush();
    let reference = driver.app.registry.tags_of.clone().expect("tags requested");
    driver.app.handle_response(Response::Tags {
        reference: reference.clone(),
        result: Ok(tag_entries(hole, &reference.repository, &["1.31.1"])),
    });
    driver.press(ch('p'));
    answer_prompt(driver, &dest.display().to_string());
    let sent = driver.flush();
    let job = sent
        .iter()
        .find_map(|r| match r {
            Request::Pull { job, .. } => Some(*job),
            _ => None,
        })
        .expect("a pull was requested");
    assert_eq!(driver.app.transfers.running(), 1);
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repositories_load_from_the_registry() {
    let env = Env::start(true, &[]).await;
    let mut driver = env.driver();
    assert_eq!(
        driver.app.registry.repos_state,
        LoadState::Loading,
        "loading starts at once"
    );
    driver.settle().await;
    assert_eq!(driver.app.registry.repos_state, LoadState::Loaded);
    assert_eq!(driver.app.registry.repos.total(), SAMPLE_REPOSITORIES);
    let names = repo_names(&driver);
    for expected in ["kubernetes", "kubectl", "containerd", "etcd", "postgres"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(
        driver
            .app
            .registry
            .repos
            .items()
            .iter()
            .all(|e| e.repository == format!("{NAMESPACE}/{}", e.name)),
        "names are shown without the namespace"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_filters_the_repositories() {
    let env = Env::start(true, &[]).await;
    let mut driver = env.driver();
    driver.settle().await;
    driver.press(ch('/'));
    assert!(driver.app.registry.repos.filtering, "/ starts filtering");
    driver.chars("kube");
    let mut names = repo_names(&driver);
    names.sort();
    assert_eq!(names, ["kubectl", "kubernetes"]);
    assert_eq!(
        driver.app.registry.repos.total(),
        SAMPLE_REPOSITORIES,
        "the filter hides, not drops"
    );
    driver.code(KeyCode::Enter);
    assert!(
        !driver.app.registry.repos.filtering,
        "enter ends typing the filter"
    );
    assert_eq!(
        driver.app.registry.repos.filter.text(),
        "kube",
        "and keeps it"
    );
    // A new `/` starts a new filter; the line edits like a shell's.
    driver.press(ch('/'));
    driver.chars("etc");
    assert_eq!(repo_names(&driver), ["etcd"], "not `kubeetc`");
    driver.press(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::CONTROL));
    driver.chars("r");
    assert_eq!(driver.app.registry.repos.filter.text(), "retc");
    driver.press(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::CONTROL));
    driver.press(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    driver.chars("redis");
    assert_eq!(repo_names(&driver), ["redis"]);
    driver.press(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
    assert_eq!(
        driver.app.registry.repos.filter.text(),
        "",
        "ctrl-w takes the word"
    );
    assert_eq!(driver.app.registry.repos.len(), SAMPLE_REPOSITORIES);
    driver.chars("kube");
    driver.code(KeyCode::Esc);
    assert_eq!(
        driver.app.registry.repos.len(),
        SAMPLE_REPOSITORIES,
        "esc clears the filter"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_shows_tags_newest_first_then_the_detail() {
    let env = Env::start(true, &[]).await;
    let mut driver = env.driver();
    open_tags(&mut driver, "kubernetes").await;
    assert_eq!(
        tag_names(&driver),
        ["1.31.1", "1.30.2", "1.29.3", "1.28.0", "1.27.11"],
        "newest first"
    );
    assert_eq!(
        driver.app.registry.tags.selected().map(|t| t.tag.as_str()),
        Some("1.31.1")
    );

    // The selected tag is previewed beside the list; enter shows that detail full size,
    // without fetching it again.
    assert_eq!(
        driver
            .app
            .registry
            .detail_of
            .as_ref()
            .and_then(|r| r.tag.as_deref()),
        Some("1.31.1")
    );
    driver.code(KeyCode::Enter);
    assert_eq!(driver.app.registry.level, Level::Detail);
    assert_eq!(driver.app.registry.detail_state, LoadState::Loaded);
    let sent = driver.flush();
    assert!(
        !sent.iter().any(|r| matches!(r, Request::Inspect { .. })),
        "{sent:?}"
    );
    let detail = driver.app.registry.detail.as_ref().expect("detail loaded");
    assert_eq!(
        detail.artifact_type.as_deref(),
        Some(provisioning::extension::package::ARTIFACT_TYPE)
    );
    let config = detail
        .config_content
        .as_ref()
        .expect("the extension manifest is shown");
    assert_eq!(config["name"], "kubernetes");
    assert_eq!(config["version"], "1.31.1");
    let dependencies: Vec<&String> = config["dependencies"]
        .as_object()
        .expect("dependencies")
        .keys()
        .collect();
    assert_eq!(dependencies, ["containerd", "etcd"]);
    assert_eq!(config["dependencies"]["containerd"], ">=2.0.0");
    assert!(
        detail.reference.contains("/kubernetes:1.31.1@sha256:"),
        "{}",
        detail.reference
    );
    env.stop().await;
}

/// How long the proxy holds the tags request in the Esc test.
const HOLD: Duration = Duration::from_secs(2);

/// Esc stops the load in the worker, not only in the app: the tags request is in flight (the
/// proxy in front of the registry holds it) when Esc is pressed, and its answer never comes,
/// while a later request, held twice as long, does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esc_while_loading_cancels_the_fetch() {
    let env = Env::start(true, &[]).await;
    let proxy = FaultProxy::start(&env.registry.url).await;
    let mut driver = env.driver_through(&proxy);
    driver.settle().await;
    assert_eq!(driver.app.registry.repos.total(), SAMPLE_REPOSITORIES);
    // The table's descriptions (which list tags too) are in before the tags are opened.
    until_described(&mut driver).await;
    let before = proxy.seen().len();
    let tags_asked = |proxy: &FaultProxy| {
        proxy.seen()[before..]
            .iter()
            .filter(|r| r.path.contains("/tags/list"))
            .count()
    };
    proxy.inject(Fault {
        method: Some("GET"),
        path_contains: "/tags/list".into(),
        times: 1,
        kind: FaultKind::Delay(HOLD),
    });
    driver.code(KeyCode::Enter);
    assert_eq!(driver.app.registry.tags_state, LoadState::Loading);
    let sent = driver.flush();
    assert!(
        matches!(sent.as_slice(), [Request::Tags { .. }]),
        "{sent:?}"
    );
    proxy_received(&proxy, "/tags/list", before).await;

    driver.code(KeyCode::Esc);
    assert_eq!(
        driver.app.registry.tags_state,
        LoadState::Failed("cancelled".into())
    );
    let sent = driver.flush();
    assert!(
        matches!(sent.as_slice(), [Request::CancelFetches]),
        "{sent:?}"
    );

    // Sent after the tags and held longer: had the load gone on, its answer would come first.
    proxy.inject(Fault {
        method: Some("GET"),
        path_contains: "/_catalog".into(),
        times: 1,
        kind: FaultKind::Delay(HOLD * 2),
    });
    driver.seen.clear();
    driver
        .worker
        .requests
        .send(Request::Repositories {
            registry: proxy.host.clone(),
            namespace: NAMESPACE.to_string(),
        })
        .unwrap();
    driver
        .until_answer("the later listing", LONG, |r| {
            matches!(r, Response::Repositories { .. })
        })
        .await;
    let tags: Vec<&Response> = driver
        .seen
        .iter()
        .filter(|r| matches!(r, Response::Tags { .. }))
        .collect();
    assert!(tags.is_empty(), "the cancelled load answered: {tags:?}");
    assert_eq!(
        tags_asked(&proxy),
        1,
        "the tags were asked for once, and not again"
    );
    assert_eq!(
        driver.app.registry.tags_state,
        LoadState::Failed("cancelled".into())
    );
    assert!(driver.app.registry.tags.is_empty());
    env.stop().await;
}

/// A toast stays for its lifetime on the app's clock, then goes at the next tick.
#[test]
fn toasts_fade_after_their_lifetime() {
    let mut app = app_with(
        "registry.example:5000",
        NAMESPACE,
        PathBuf::from("/nonexistent/workspace"),
        Theme::dark(),
    );
    app.toast("copied", ToastKind::Info);
    let clock = app.clock().clone();
    clock.advance(TOAST_LIFE - Duration::from_millis(1));
    assert!(!app.tick(), "nothing changed yet");
    assert_eq!(app.toasts.len(), 1);
    clock.advance(Duration::from_millis(1));
    assert!(app.tick(), "the toast's going is a change to draw");
    assert!(app.toasts.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_another_repository_replaces_the_stale_fetch() {
    let env = Env::start(true, &[]).await;
    let mut driver = env.driver();
    driver.settle().await;
    driver.press(ch('/'));
    driver.chars("kube");
    driver.code(KeyCode::Enter);
    select_repo(&mut driver, "kubectl");
    driver.code(KeyCode::Enter);
    let kubectl = driver
        .app
        .registry
        .tags_of
        .clone()
        .expect("kubectl's tags requested");
    // The selection moves on before the answer arrives.
    driver.press(ch('h'));
    select_repo(&mut driver, "kubernetes");
    driver.code(KeyCode::Enter);
    let kubernetes = driver
        .app
        .registry
        .tags_of
        .clone()
        .expect("kubernetes's tags requested");
    let sent = driver.flush();
    assert_eq!(
        sent.iter()
            .filter(|r| matches!(r, Request::Tags { .. }))
            .count(),
        2,
        "{sent:?}"
    );
    driver.settle().await;
    assert_eq!(driver.app.registry.tags_of.as_ref(), Some(&kubernetes));
    assert_eq!(
        tag_names(&driver),
        ["1.31.1", "1.30.2", "1.29.3", "1.28.0", "1.27.11"]
    );
    // Whether or not the worker's stale answer came back, a late one changes nothing.
    driver.app.handle_response(Response::Tags {
        reference: kubectl.clone(),
        result: Ok(tag_entries(
            &env.host,
            &kubectl.repository,
            &["1.31.1", "1.29.3"],
        )),
    });
    assert_eq!(
        tag_names(&driver).len(),
        5,
        "the stale kubectl answer is ignored"
    );
    assert_eq!(driver.app.registry.tags_of.as_ref(), Some(&kubernetes));
    driver.app.handle_response(Response::Tags {
        reference: kubectl,
        result: Err("stale failure".into()),
    });
    assert_eq!(
        driver.app.registry.tags_state,
        LoadState::Loaded,
        "nor does a stale failure"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_goes_up_one_level() {
    let env = Env::start(true, &[]).await;
    let mut driver = env.driver();
    open_tags(&mut driver, "kubernetes").await;
    driver.code(KeyCode::Enter);
    driver.settle().await;
    assert_eq!(driver.app.registry.level, Level::Detail);
    driver.press(ch('h'));
    assert_eq!(driver.app.registry.level, Level::Tags);
    assert_eq!(tag_names(&driver).len(), 5, "the tags are still there");
    driver.code(KeyCode::Backspace);
    assert_eq!(driver.app.registry.level, Level::Repositories);
    assert_eq!(
        selected_repo(&driver).as_deref(),
        Some("kubernetes"),
        "the selection is kept"
    );
    driver.press(ch('h'));
    assert_eq!(
        driver.app.registry.level,
        Level::Repositories,
        "back at the top stays"
    );
    driver.app.apply(Action::Open);
    driver.code(KeyCode::Left);
    assert_eq!(
        driver.app.registry.level,
        Level::Repositories,
        "← is back too"
    );
    assert!(
        driver
            .flush()
            .iter()
            .all(|r| matches!(r, Request::Tags { .. }))
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_creates_a_job_that_finishes_with_the_files() {
    let env = Env::start(true, &[]).await;
    let mut driver = env.driver();
    open_tags(&mut driver, "kubernetes").await;
    driver.press(ch('p'));
    match &driver.app.overlay {
        Some(Overlay::Prompt {
            purpose: PromptPurpose::Registry(registry::Ask::PullTo(reference)),
            input,
            ..
        }) => {
            assert_eq!(reference.tag.as_deref(), Some("1.31.1"));
            assert_eq!(
                input.text(),
                "./kubernetes",
                "a default directory is offered"
            );
        }
        other => panic!("a pull prompt, found {other:?}"),
    }
    let dest = env.path("pulled/kubernetes");
    answer_prompt(&mut driver, &dest.display().to_string());
    assert!(driver.app.overlay.is_none());
    assert_eq!(driver.app.transfers.jobs.len(), 1);
    assert_eq!(driver.app.transfers.jobs[0].state, JobState::Running);
    assert_eq!(driver.app.transfers.jobs[0].kind, "pull");
    driver.settle().await;
    let job = &driver.app.transfers.jobs[0];
    match &job.state {
        JobState::Done(text) => assert!(text.contains("files in"), "{text}"),
        other => panic!("the pull finished Done, found {other:?}"),
    }
    assert!(!job.blobs.is_empty(), "progress was reported per blob");
    let (done, total) = job.bytes();
    assert_eq!(done, total);
    let files = files_under(&dest);
    assert!(files.iter().any(|f| f == "manifest.yaml"), "{files:?}");
    assert!(files.len() > 1, "{files:?}");
    let manifest = std::fs::read_to_string(dest.join("manifest.yaml")).unwrap();
    assert!(manifest.contains("1.31.1"), "{manifest}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_cancels_a_running_job() {
    let (hole, hole_task) = black_hole().await;
    let env = Env::start(false, std::slice::from_ref(&hole)).await;
    let mut driver = env.driver();
    let dest = env.path("never");
    let job = start_stuck_pull(&mut driver, &hole, &dest).await;
    driver.press(ch('4'));
    assert_eq!(driver.app.pane, PaneId::Transfers);
    driver.press(ch('x'));
    let sent = driver.flush();
    assert!(
        sent.iter()
            .any(|r| matches!(r, Request::CancelJob { job: j } if *j == job)),
        "{sent:?}"
    );
    driver
        .until("the job to stop", LONG, |app| app.transfers.running() == 0)
        .await;
    assert_eq!(driver.app.transfers.jobs[0].state, JobState::Cancelled);
    assert!(!dest.exists(), "nothing was written");
    // Cancelling a finished job asks nothing of the worker.
    driver.press(ch('x'));
    assert!(driver.flush().is_empty());
    hole_task.abort();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_to_an_unreachable_registry_explains() {
    let env = Env::start(true, &[]).await;
    let mut driver = env.driver();
    driver.settle().await;
    driver.press(ch('R'));
    answer_prompt(&mut driver, "127.0.0.1:1");
    assert_eq!(driver.app.registry.registry(), "127.0.0.1:1");
    assert_eq!(driver.app.registry.repos_state, LoadState::Loading);
    assert!(
        driver.app.registry.repos.is_empty(),
        "the old registry's list is gone"
    );
    driver.until("the listing to fail", LONG, is_idle).await;
    match &driver.app.registry.repos_state {
        LoadState::Failed(text) => {
            assert!(text.contains("127.0.0.1:1"), "{text}");
            assert!(
                text.contains("R to choose another"),
                "says what to do: {text}"
            );
        }
        other => panic!("an explanation, found {other:?}"),
    }
    assert!(
        driver.app.registry.registries.contains(&env.host),
        "the first registry stays known"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn palette_filters_actions_and_runs_one() {
    let env = Env::start(false, &[]).await;
    let mut driver = env.driver();
    driver.press(ch(':'));
    assert!(matches!(driver.app.overlay, Some(Overlay::Palette { .. })));
    driver.chars("pane");
    let Some(Overlay::Palette { input, .. }) = &driver.app.overlay else {
        panic!("the palette stays open while typing");
    };
    assert_eq!(input.text(), "pane");
    assert_eq!(
        palette_matches(&driver.app.keymap, "registry", input.text()),
        [
            Action::NextPane,
            Action::PrevPane,
            Action::GoRegistry,
            Action::GoDependencies,
            Action::GoWorkspace,
            Action::GoTransfers,
            Action::GoPublish
        ]
    );
    assert_eq!(driver.app.pane, PaneId::Registry, "typing runs nothing");
    for _ in 0..5 {
        driver.code(KeyCode::Down);
    }
    driver.code(KeyCode::Enter);
    assert!(driver.app.overlay.is_none());
    assert_eq!(driver.app.pane, PaneId::Transfers, "the chosen action ran");
    driver.press(ch(':'));
    driver.code(KeyCode::Esc);
    assert!(driver.app.overlay.is_none());
    assert_eq!(driver.app.pane, PaneId::Transfers);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_mark_opens_the_help_with_the_keymap() {
    let env = Env::start(false, &[]).await;
    let mut driver = env.driver();
    driver.press(ch('?'));
    assert!(matches!(driver.app.overlay, Some(Overlay::Help)));
    for action in Action::ALL {
        assert!(
            SECTIONS
                .iter()
                .any(|pane| !driver.app.keymap.keys_for(pane, action).is_empty()),
            "{action:?} has a key to list"
        );
    }
    assert_eq!(
        driver.app.keymap.keys_for("registry", Action::Filter),
        ["/"]
    );
    assert!(
        driver
            .app
            .keymap
            .keys_for("registry", Action::Quit)
            .contains(&"q".to_string())
    );
    driver.press(ch('4'));
    assert_eq!(
        driver.app.pane,
        PaneId::Registry,
        "keys do not leak through the help"
    );
    driver.press(ch('q'));
    assert!(driver.app.overlay.is_none(), "q closes the help");
    assert!(!driver.app.quit, "and does not quit");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q_asks_first_while_a_transfer_runs() {
    let (hole, hole_task) = black_hole().await;
    let env = Env::start(false, std::slice::from_ref(&hole)).await;
    let mut driver = env.driver();
    start_stuck_pull(&mut driver, &hole, &env.path("never")).await;
    driver.press(ch('q'));
    assert!(!driver.app.quit);
    match &driver.app.overlay {
        Some(Overlay::Prompt {
            purpose: PromptPurpose::QuitConfirm,
            label,
            ..
        }) => assert!(label.contains("1 transfer(s) running"), "{label}"),
        other => panic!("a confirmation, found {other:?}"),
    }
    driver.chars("n");
    driver.code(KeyCode::Enter);
    assert!(!driver.app.quit, "n keeps the workbench open");
    driver.press(ch('q'));
    driver.chars("y");
    driver.code(KeyCode::Enter);
    assert!(driver.app.quit, "y quits");
    hole_task.abort();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_without_transfers_needs_no_confirmation() {
    let env = Env::start(false, &[]).await;
    let mut driver = env.driver();
    driver.settle().await;
    driver.press(ch('q'));
    assert!(driver.app.quit);
    assert!(driver.app.overlay.is_none());
    env.stop().await;
}

/// A scaffolded taskserv `name` in `workspace`.
fn scaffold_extension(workspace: &Path, name: &str) -> PathBuf {
    let dir = workspace.join(name);
    scaffold::generate_into(&ScaffoldSpec::new(ExtensionType::Taskserv, name), &dir)
        .expect("scaffold");
    dir
}

/// Opens the Publish pane and chooses the picker entry `name`.
fn choose_in_picker(driver: &mut Driver, name: &str) {
    driver.press(ch('5'));
    assert_eq!(driver.app.pane, PaneId::Publish);
    assert_eq!(driver.app.publish.step, Step::Pick);
    let index = driver
        .app
        .publish
        .entries
        .iter()
        .position(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name} in {:?}", driver.app.publish.entries));
    assert!(
        driver.app.publish.entries[index].extension,
        "marked as an extension"
    );
    for _ in 0..index {
        driver.press(ch('j'));
    }
    driver.code(KeyCode::Enter);
}

/// `R` in the target step sends the push to another namespace, and the result says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_target_can_change_namespace() {
    let env = Env::start(false, &[]).await;
    let workspace = env.path("workspace");
    scaffold_extension(&workspace, "redis");
    let mut driver = env.driver_in("workbench-publish", workspace);
    driver.settle().await;
    choose_in_picker(&mut driver, "redis");
    driver.settle().await;
    assert_eq!(driver.app.publish.step, Step::Package);
    driver.code(KeyCode::Enter);
    driver.settle().await;
    assert_eq!(driver.app.publish.step, Step::Target);
    driver.press(ch('R'));
    answer_prompt(&mut driver, &format!("{}/team-b", env.host));
    driver.settle().await;
    let target = driver.app.publish.target().expect("target");
    assert_eq!(
        target.to_string(),
        format!("{}/team-b/redis:0.1.0", env.host)
    );
    assert_eq!(driver.app.publish.existing_state, LoadState::Loaded);
    driver.code(KeyCode::Enter);
    driver.settle().await;
    assert_eq!(driver.app.publish.step, Step::Done);
    assert!(
        matches!(driver.app.publish.verified, Some(Ok(_))),
        "{:?}",
        driver.app.publish.verified
    );
    assert!(
        driver
            .app
            .publish
            .workspace_line()
            .is_some_and(|l| l.contains("/team-b/redis:0.1.0")),
        "{:?}",
        driver.app.publish.workspace_line()
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_validates_packages_pushes_and_verifies() {
    let env = Env::start(false, &[]).await;
    let workspace = env.path("workspace");
    std::fs::create_dir_all(workspace.join("notes")).unwrap();
    let dir = scaffold_extension(&workspace, "redis");
    let mut driver = env.driver_in("workbench-publish", workspace);
    driver.settle().await;
    choose_in_picker(&mut driver, "redis");
    assert_eq!(driver.app.publish.step, Step::Validate);
    assert_eq!(driver.app.publish.dir.as_ref(), Some(&dir));
    driver.settle().await;

    let publish = &driver.app.publish;
    assert_eq!(publish.step, Step::Package, "valid, so packaged");
    assert_eq!(publish.validation, LoadState::Loaded);
    let summary = publish.summary.as_ref().expect("validation summary");
    assert_eq!(
        (summary.name.as_str(), summary.kind.as_str()),
        ("redis", "taskserv")
    );
    assert_eq!(summary.version, semver::Version::new(0, 1, 0));
    assert_eq!(publish.package_state, LoadState::Loaded);
    let package = publish.package.clone().expect("package summary");
    let scaffolded = files_under(&dir);
    assert_eq!(
        package.files,
        scaffolded.len(),
        "every scaffolded file is packaged: {scaffolded:?}"
    );
    assert!(package.size > 0);
    assert!(
        package.digest.to_string().starts_with("sha256:"),
        "{}",
        package.digest
    );
    assert!(package.manifest_digest.to_string().starts_with("sha256:"));

    driver.code(KeyCode::Enter);
    assert_eq!(driver.app.publish.step, Step::Target);
    driver.settle().await;
    let publish = &driver.app.publish;
    assert_eq!(
        publish.existing_state,
        LoadState::Loaded,
        "a new repository has no versions"
    );
    assert!(publish.existing.is_empty());
    let target = publish.target().expect("target");
    assert_eq!(
        target.to_string(),
        format!("{}/workbench-publish/redis:0.1.0", env.host)
    );
    let suggestions: Vec<String> = publish
        .suggestions()
        .iter()
        .map(|(_, v)| v.to_string())
        .collect();
    assert_eq!(suggestions, ["0.1.1", "0.2.0", "1.0.0"]);
    assert!(!publish.version_conflict());

    driver.code(KeyCode::Enter);
    assert_eq!(driver.app.publish.step, Step::Push);
    let job = driver.app.publish.push_job.expect("a push job");
    assert_eq!(driver.app.transfers.jobs.len(), 1);
    assert_eq!(driver.app.transfers.jobs[0].kind, "push");
    driver.settle().await;

    let publish = &driver.app.publish;
    assert_eq!(publish.step, Step::Done);
    match &publish.push_result {
        Some(Ok(text)) => assert!(text.starts_with("pushed sha256:"), "{text}"),
        other => panic!("pushed, found {other:?}"),
    }
    assert_eq!(
        publish.verified,
        Some(Ok(package.manifest_digest.clone())),
        "read back"
    );
    assert_eq!(
        publish.workspace_line().as_deref(),
        Some(
            format!(
                "taskservs:\n  - \"oci://{}/workbench-publish/redis:0.1.0\"",
                env.host
            )
            .as_str()
        )
    );
    let pushed = driver.app.transfers.job_mut(job).expect("job");
    assert!(
        matches!(pushed.state, JobState::Done(_)),
        "{:?}",
        pushed.state
    );

    // The registry has it now.
    driver
        .worker
        .requests
        .send(Request::Tags {
            reference: target.with_tag("0.1.0"),
        })
        .unwrap();
    driver.seen.clear();
    driver
        .until_answer("the pushed tags", LONG, |r| {
            matches!(r, Response::Tags { .. })
        })
        .await;
    let tags = driver.seen.iter().find_map(|r| match r {
        Response::Tags { result, .. } => Some(result.clone()),
        _ => None,
    });
    let tags: Vec<String> = tags
        .unwrap()
        .expect("tags")
        .into_iter()
        .map(|t| t.tag)
        .collect();
    assert_eq!(tags, ["0.1.0"]);

    // w hands the published version to the Workspace pane's add.
    driver.press(ch('w'));
    assert_eq!(driver.app.pane, PaneId::Workspace);
    assert_eq!(
        driver.app.publish.added,
        Some((
            provisioning::oci::Reference {
                tag: None,
                ..target.clone()
            },
            Some("0.1.0".to_string())
        ))
    );
    driver.press(ch('5'));
    assert_eq!(driver.app.pane, PaneId::Publish);

    // Enter at the end starts over.
    driver.code(KeyCode::Enter);
    assert_eq!(driver.app.publish.step, Step::Pick);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_extension_shows_its_problems_with_positions() {
    let env = Env::start(false, &[]).await;
    let workspace = env.path("workspace");
    let dir = scaffold_extension(&workspace, "broken");
    let manifest = dir.join("manifest.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("version: 0.1.0"), "{text}");
    std::fs::write(
        &manifest,
        text.replace("version: 0.1.0", "version: one-point-oh"),
    )
    .unwrap();
    let mut driver = env.driver_in("workbench-publish", workspace);
    driver.settle().await;
    choose_in_picker(&mut driver, "broken");
    driver.settle().await;
    let publish = &driver.app.publish;
    assert_eq!(publish.step, Step::Validate, "stays at validation");
    assert_eq!(publish.validation, LoadState::Failed("invalid".into()));
    assert!(publish.package.is_none() && publish.summary.is_none());
    assert!(!publish.problems.is_empty());
    let positioned = publish.problems.iter().find(|p| {
        let Some((_, rest)) = p.split_once("manifest.yaml:") else {
            return false;
        };
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().and_then(|l| l.parse::<usize>().ok());
        let column = parts.next().and_then(|c| c.parse::<usize>().ok());
        line.is_some_and(|l| l > 0) && column.is_some_and(|c| c > 0)
    });
    let problem = positioned
        .unwrap_or_else(|| panic!("a problem with line:column in {:#?}", publish.problems));
    assert!(problem.contains("version"), "{problem}");

    // Fixed and validated again (v), it goes on to packaging.
    std::fs::write(&manifest, text).unwrap();
    driver.press(ch('v'));
    driver.settle().await;
    assert_eq!(driver.app.publish.step, Step::Package);
    assert!(driver.app.publish.problems.is_empty());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_repositories_stay_navigable() {
    let env = Env::start(false, &[]).await;
    let mut driver = env.driver();
    // The worker's answer (an empty registry) is replaced by a large listing, as a reload
    // (ctrl-r) would bring.
    driver.settle().await;
    driver.press(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL));
    assert_eq!(driver.app.registry.repos_state, LoadState::Loading);
    // The reload request itself is not sent: the listing below answers it.
    let _ = driver.app.take_requests();
    let registry = driver.app.registry.registry().to_string();
    driver.app.handle_response(Response::Repositories {
        registry,
        result: Ok(repository_entries(NAMESPACE, 10_000)),
    });
    assert_eq!(driver.app.registry.repos.total(), 10_000);
    assert_eq!(selected_repo(&driver).as_deref(), Some("repo-00000"));
    driver.press(ch('G'));
    assert_eq!(driver.app.registry.repos.selected_index(), 9_999);
    assert_eq!(selected_repo(&driver).as_deref(), Some("repo-09999"));
    let (offset, rows) = driver.app.registry.repos.window(38);
    assert_eq!(offset, 10_000 - 38, "the window follows the selection");
    assert_eq!(rows.len(), 38);
    driver.press(ch('j'));
    assert_eq!(
        driver.app.registry.repos.selected_index(),
        9_999,
        "clamped at the end"
    );
    driver.press(ch('k'));
    assert_eq!(selected_repo(&driver).as_deref(), Some("repo-09998"));
    driver.press(ch('g'));
    assert_eq!(selected_repo(&driver).as_deref(), Some("repo-00000"));
    driver.code(KeyCode::PageDown);
    assert!(
        driver.app.registry.repos.selected_index() >= 1,
        "page down moves"
    );
    driver.press(ch('/'));
    driver.chars("0999");
    assert_eq!(driver.app.registry.repos.len(), 11);
    driver.code(KeyCode::Enter);
    driver.press(ch('G'));
    assert_eq!(selected_repo(&driver).as_deref(), Some("repo-09999"));
    driver.code(KeyCode::Enter);
    // Descriptions were asked only for rows that were on screen, each once.
    let (describes, requested): (Vec<Request>, Vec<Request>) = driver
        .app
        .take_requests()
        .into_iter()
        .partition(|r| matches!(r, Request::Describe { .. }));
    assert!(
        describes.len() <= 4 * driver.app.registry.visible_rows(),
        "{} descriptions asked",
        describes.len()
    );
    match requested.as_slice() {
        [Request::Tags { reference }] => {
            assert_eq!(reference.repository, format!("{NAMESPACE}/repo-09999"))
        }
        other => panic!("the tags of the last one, found {other:?}"),
    }
    env.stop().await;
}

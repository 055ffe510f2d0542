//! The Dependencies pane with the real worker and resolver against an embedded registry holding
//! the bundled samples: the tree grows event by event and ends in the resolved set; the
//! inventory's traps (a conflict, a core too old, a cycle) show with their explanation; invert
//! lists every path; esc mid-resolution keeps the previous result; the lock's state per node;
//! `enter` and `u` speak to the Registry and Workspace panes.

mod common;
use common::workbench;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use provisioning::deps::sync::{SyncOptions, sync};
use provisioning::deps::{ResolveEvent, ResolveOptions};
use provisioning::extension::samples;
use provisioning::oci::ReferenceDefaults;
use provisioning::oci::cache::BlobCache;
use provisioning::oci::client::{ClientOptions, Registries};
use provisioning::oci::credentials::CredentialStore;
use provisioning::tui::action::Action;
use provisioning::tui::app::{App, PaneId};
use provisioning::tui::panes::dependencies::model::Status;
use provisioning::tui::panes::{Effects, LoadState, Message};
use provisioning::tui::theme::Theme;
use provisioning::tui::view::Pane;
use provisioning::tui::worker::resolve::{LockState, NodeLock, set_debounce};
use provisioning::tui::worker::{self, Request, Response};
use provisioning::workspace::Workspace;

use common::TestRegistry;
use workbench::*;

const LONG: Duration = Duration::from_secs(60);

/// The sample workspace's resolved set: modules pinned, the rest the newest that fits.
const SAMPLE_SET: [(&str, &str); 10] = [
    ("aws", "2.0.0"),
    ("buildkit", "0.12.0"),
    ("cilium", "1.14.0"),
    ("containerd", "1.7.0"),
    ("etcd", "3.5.12"),
    ("kubernetes", "1.28.0"),
    ("oci-reg", "2.0.1"),
    ("os", "1.1.0"),
    ("runc", "1.2.0"),
    ("upcloud", "1.5.0"),
];

struct Env {
    _registry: TestRegistry,
    host: String,
    registries: Registries,
    cache: BlobCache,
    scratch: tempfile::TempDir,
    ws: PathBuf,
}

impl Env {
    async fn start(plain_extra: &[String]) -> Env {
        common::install_crypto();
        set_debounce(Duration::ZERO);
        let registry = TestRegistry::start().await;
        let host = registry.host();
        let scratch = tempfile::tempdir().expect("temp dir");
        let mut plain = vec![host.clone()];
        plain.extend(plain_extra.iter().cloned());
        let registries = Registries::new(
            ClientOptions {
                plain_http_registries: plain,
                ..ClientOptions::default()
            },
            CredentialStore::new(scratch.path().join("docker/config.json"), None, None),
        )
        .expect("registries");
        let cache = BlobCache::open(scratch.path().join("cache")).expect("cache");
        samples::publish(
            &scratch.path().join("samples"),
            &registries,
            &cache,
            &ReferenceDefaults {
                registry: host.clone(),
                namespace: NAMESPACE.to_string(),
            },
        )
        .await
        .expect("the samples are published");
        let ws = scratch.path().join("ws");
        std::fs::create_dir_all(ws.join("config")).expect("config dir");
        std::fs::write(config_path(&ws), samples::workspace_config(&host)).expect("workspace");
        Env {
            _registry: registry,
            host,
            registries,
            cache,
            scratch,
            ws,
        }
    }

    /// An app on the Dependencies pane of the sample workspace, with a worker of its own.
    fn driver(&self) -> Driver {
        let mut app = app_with(&self.host, NAMESPACE, self.ws.clone(), Theme::dark());
        app.take_requests();
        app.apply(Action::GoDependencies);
        let worker = worker::spawn(
            self.registries.clone(),
            BlobCache::open(self.scratch.path().join("cache")).expect("cache"),
        );
        Driver::new(app, worker)
    }

    /// The sample workspace's text with `from` replaced by `to`.
    fn edited(&self, from: &str, to: &str) -> String {
        let text = std::fs::read_to_string(config_path(&self.ws)).expect("workspace");
        assert!(text.contains(from), "the sample workspace has {from}");
        text.replace(from, to)
    }

    /// The module line of `name:version` as the sample workspace writes it.
    fn module(&self, name: &str, version: &str) -> String {
        format!("oci://{}/{NAMESPACE}/{name}:{version}", self.host)
    }
}

fn config_path(ws: &Path) -> PathBuf {
    ws.join("config/provisioning.yaml")
}

/// Starts a resolution of the unsaved `text` (as the Workspace pane would ask).
fn resolve_text(driver: &mut Driver, text: String) {
    let root = driver.app.dependencies.root.clone();
    let mut fx = Effects::new(100);
    driver.app.dependencies.on_message(
        Message::Resolve {
            root,
            text: Some(text),
        },
        &mut fx,
    );
    for request in fx.requests {
        driver.worker.requests.send(request).expect("worker runs");
    }
}

async fn until_resolved(driver: &mut Driver) {
    driver
        .until("the resolution to end", LONG, |app| {
            !app.dependencies.resolving()
        })
        .await;
    assert_eq!(
        driver.app.dependencies.state,
        LoadState::Loaded,
        "the resolution ended in {:?}",
        driver.app.dependencies.state
    );
}

fn versions(app: &App) -> Vec<(String, String)> {
    let outcome = app.dependencies.outcome.as_ref().expect("an outcome");
    outcome
        .extensions
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                e.version
                    .as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn panel_text(app: &App) -> String {
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 80)).expect("terminal");
    terminal
        .draw(|frame| app.draw_pane(frame, frame.area()))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    (0..80)
        .map(|y| {
            (0..200)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_grows_event_by_event_and_ends_in_the_resolved_set() {
    let env = Env::start(&[]).await;
    let mut driver = env.driver();
    driver.app.apply(Action::Refresh);
    assert!(driver.app.dependencies.resolving());
    // After every answer: how many nodes, how many of them still pending.
    let seen: RefCell<Vec<(usize, usize, bool)>> = RefCell::new(Vec::new());
    driver
        .until("the resolution to end", LONG, |app| {
            let pane = &app.dependencies;
            let pending = pane
                .model
                .nodes
                .values()
                .filter(|n| n.status == Status::Pending)
                .count();
            seen.borrow_mut()
                .push((pane.model.nodes.len(), pending, pane.showing_live()));
            !pane.resolving()
        })
        .await;
    let events = driver
        .seen
        .iter()
        .filter(|r| matches!(r, Response::ResolveEvent { .. }))
        .count();
    assert!(events > 20, "the resolver reported {events} events");
    let seen = seen.into_inner();
    let live: Vec<&(usize, usize, bool)> = seen.iter().filter(|s| s.2).collect();
    // The live tree only grows, from a few names to all of them, with pending nodes on the way.
    assert!(live.windows(2).all(|w| w[0].0 <= w[1].0), "{live:?}");
    assert!(live.first().is_some_and(|s| s.0 < 5), "{live:?}");
    let sizes: std::collections::BTreeSet<usize> = live.iter().map(|s| s.0).collect();
    assert!(sizes.len() >= 5, "the tree grew in steps: {sizes:?}");
    assert!(
        live.iter().any(|s| s.1 > 0),
        "some node was pending: {live:?}"
    );
    assert_eq!(
        seen.last().map(|s| s.1),
        Some(0),
        "nothing pending at the end"
    );

    assert_eq!(driver.app.dependencies.state, LoadState::Loaded);
    let expected: Vec<(String, String)> = SAMPLE_SET
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(versions(&driver.app), expected);
    let pane = &driver.app.dependencies;
    assert!(!pane.showing_live() && !pane.stale);
    assert!(
        pane.model
            .nodes
            .values()
            .all(|n| n.status == Status::Resolved),
        "{:?}",
        pane.model.nodes
    );
    // The modules start the tree, in file order; kubernetes is reached by several paths.
    let roots: Vec<&str> = pane.model.roots.iter().map(String::as_str).collect();
    assert_eq!(
        roots,
        [
            "aws",
            "upcloud",
            "kubernetes",
            "containerd",
            "cilium",
            "buildkit"
        ]
    );
    let lines = pane.lines();
    assert!(lines.contains(&"  kubernetes".to_string()), "{lines:#?}");
    assert!(
        pane.built
            .rows
            .iter()
            .any(|r| r.name() == "kubernetes" && r.repeated),
        "a repeat of kubernetes is marked: {lines:#?}"
    );
    // The panel: who asks for which range, the version and why.
    assert!(driver.app.dependencies.select_name("etcd"));
    let text = panel_text(&driver.app);
    assert!(text.contains("kubernetes 1.28.0"), "{text}");
    assert!(text.contains(">=3.5.0"), "{text}");
    assert!(
        text.contains("3.5.12: the newest version published"),
        "{text}"
    );
    assert!(text.contains("the newest version published"), "{text}");
    assert!(text.contains("no lock yet"), "{text}");
    let outcome = driver.app.dependencies.outcome.as_ref().unwrap();
    assert_eq!(outcome.lock, LockState::Missing);
    // Updates: cilium 1.15.3 and kubernetes 1.31.1 are published, etcd is the newest.
    let newest = |name: &str| {
        outcome
            .get(name)
            .and_then(|e| e.newest.as_ref())
            .map(|v| v.to_string())
    };
    assert_eq!(newest("cilium").as_deref(), Some("1.15.3"));
    assert_eq!(newest("kubernetes").as_deref(), Some("1.31.1"));
    assert_eq!(newest("etcd"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_conflict_shows_the_explanation_and_the_way_out() {
    let env = Env::start(&[]).await;
    let mut driver = env.driver();
    let before = std::fs::read_to_string(config_path(&env.ws)).unwrap();
    let text = env.edited(
        &env.module("kubernetes", "1.28.0"),
        &env.module("kubernetes", "1.31.1"),
    );
    resolve_text(&mut driver, text);
    until_resolved(&mut driver).await;
    let outcome = driver.app.dependencies.outcome.as_ref().unwrap();
    assert!(outcome.edited);
    let conflict = outcome.conflict.as_ref().expect("a conflict");
    assert!(
        conflict.involved.contains(&"kubernetes".to_string()),
        "{conflict:?}"
    );
    let facts = conflict.facts.join("\n");
    assert!(facts.contains("the workspace pins"), "{facts}");
    assert!(!conflict.ways_out.is_empty(), "{conflict:?}");
    let pane = &driver.app.dependencies;
    assert_eq!(
        pane.model.nodes.get("kubernetes").map(|n| n.status),
        Some(Status::Conflict)
    );
    assert!(driver.app.dependencies.select_name("kubernetes"));
    let text = panel_text(&driver.app);
    assert!(
        text.contains("Conflict: no versions fit together"),
        "{text}"
    );
    assert!(text.contains("Way out"), "{text}");
    assert!(text.contains("provisioning dep update"), "{text}");
    assert!(text.contains("✗ conflict"), "{text}");
    // A preview: the file and the lock are as they were.
    assert_eq!(
        std::fs::read_to_string(config_path(&env.ws)).unwrap(),
        before
    );
    assert!(!env.ws.join("config/provisioning.lock").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_too_old_and_a_cycle_are_explained() {
    let env = Env::start(&[]).await;
    let mut driver = env.driver();
    let buildkit = env.module("buildkit", "0.12.0");
    let text = env.edited(
        &format!("\"{buildkit}\""),
        &format!(
            "\"{buildkit}\"\n        - \"{}\"",
            env.module("legacy-dash", "0.9.0")
        ),
    );
    resolve_text(&mut driver, text);
    until_resolved(&mut driver).await;
    let outcome = driver.app.dependencies.outcome.as_ref().unwrap();
    let conflict = outcome.conflict.as_ref().expect("a conflict");
    let ways: Vec<&str> = conflict.ways_out.iter().map(|w| w.text.as_str()).collect();
    assert!(
        ways.iter().any(|w| w.contains("core of version 4.0.0")),
        "{conflict:?}"
    );
    assert!(driver.app.dependencies.select_name("legacy-dash"));
    let text = panel_text(&driver.app);
    assert!(text.contains("core of version 4.0.0"), "{text}");

    let text = env.edited(
        &format!("\"{buildkit}\""),
        &format!(
            "\"{buildkit}\"\n        - \"{}\"",
            env.module("cycle-a", "1.0.0")
        ),
    );
    resolve_text(&mut driver, text);
    until_resolved(&mut driver).await;
    let outcome = driver.app.dependencies.outcome.as_ref().unwrap();
    let cycle = outcome.cycle.as_ref().expect("a cycle");
    assert_eq!(cycle.first(), cycle.last(), "{cycle:?}");
    assert!(cycle.iter().any(|c| c.starts_with("cycle-b")), "{cycle:?}");
    let pane = &driver.app.dependencies;
    for name in ["cycle-a", "cycle-b"] {
        assert_eq!(
            pane.model.nodes.get(name).map(|n| n.status),
            Some(Status::Cycle),
            "{name}"
        );
    }
    let text = panel_text(&driver.app);
    assert!(text.contains("Cycle: the dependencies go round"), "{text}");
    assert!(
        text.contains("cycle-a 1.0.0 → cycle-b 1.0.0 → cycle-a 1.0.0"),
        "{text}"
    );
    assert!(text.contains("↻ cycle"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invert_shows_every_path_from_a_module() {
    let env = Env::start(&[]).await;
    let mut driver = env.driver();
    driver.app.apply(Action::Refresh);
    until_resolved(&mut driver).await;
    assert!(driver.app.dependencies.select_name("etcd"));
    driver.press(ch('i'));
    let pane = &driver.app.dependencies;
    assert_eq!(pane.invert.as_deref(), Some("etcd"));
    assert_eq!(
        pane.lines(),
        ["etcd", "  kubernetes", "    buildkit", "    cilium",]
    );
    let mut paths = pane.model.paths_to("etcd", 50);
    paths.sort();
    assert_eq!(
        paths,
        [
            vec!["buildkit", "kubernetes", "etcd"],
            vec!["cilium", "kubernetes", "etcd"],
            vec!["kubernetes", "etcd"],
        ]
    );
    let text = panel_text(&driver.app);
    assert!(text.contains("Why etcd is here: 3 path(s)"), "{text}");
    assert!(text.contains("buildkit → kubernetes → etcd"), "{text}");
    assert!(text.contains("cilium → kubernetes → etcd"), "{text}");
    // runc comes only through containerd: a module itself, and needed by two others.
    driver.press(ch('i'));
    assert_eq!(driver.app.dependencies.invert, None);
    assert_eq!(driver.app.dependencies.selected_name(), Some("etcd"));
    assert!(driver.app.dependencies.select_name("runc"));
    driver.app.apply(Action::Invert);
    let paths = driver.app.dependencies.model.paths_to("runc", 50);
    assert_eq!(paths.len(), 5, "{paths:?}");
    assert!(
        paths
            .iter()
            .all(|p| p.ends_with(&["containerd".into(), "runc".into()]))
    );
    // `/` filters the tree to what leads to a match.
    driver.app.apply(Action::Back);
    driver.press(ch('/'));
    driver.chars("oci");
    driver.press(key(crossterm::event::KeyCode::Enter));
    let lines = driver.app.dependencies.lines();
    assert!(
        lines
            .iter()
            .all(|l| ["buildkit", "oci-reg"].contains(&l.trim())),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        driver.app.dependencies.selected_name(),
        Some("oci-reg"),
        "the selection moves to the first match"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esc_mid_resolution_keeps_the_previous_result() {
    let (hole, _task) = black_hole().await;
    let env = Env::start(std::slice::from_ref(&hole)).await;
    let mut driver = env.driver();
    driver.app.apply(Action::Refresh);
    until_resolved(&mut driver).await;
    let first = versions(&driver.app);
    // A module in a registry that never answers: the resolution hangs on its tags.
    let buildkit = env.module("buildkit", "0.12.0");
    let text = env.edited(
        &format!("\"{buildkit}\""),
        &format!("\"{buildkit}\"\n        - \"oci://{hole}/{NAMESPACE}/stuck:1.0.0\""),
    );
    resolve_text(&mut driver, text);
    driver
        .until("the stuck name to be requested", LONG, |app| {
            app.dependencies.live.nodes.contains_key("stuck")
        })
        .await;
    assert!(driver.app.dependencies.resolving());
    assert!(driver.app.dependencies.showing_live());
    driver.press(key(crossterm::event::KeyCode::Esc));
    let sent = driver.flush();
    assert!(
        sent.iter().any(|r| matches!(r, Request::CancelFetches)),
        "{sent:?}"
    );
    let pane = &driver.app.dependencies;
    assert!(!pane.resolving());
    assert!(pane.stale, "the previous result is marked as not current");
    assert!(!pane.showing_live());
    assert_eq!(versions(&driver.app), first);
    assert!(!driver.app.dependencies.model.nodes.contains_key("stuck"));
    let text = panel_text(&driver.app);
    assert!(text.contains("not current: cancelled"), "{text}");
    // Nothing that comes later changes it.
    while let Ok(Some(response)) =
        tokio::time::timeout(Duration::from_millis(300), driver.worker.responses.recv()).await
    {
        driver.app.handle_response(response);
    }
    assert_eq!(versions(&driver.app), first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_state_shows_per_node_and_edits_make_it_out_of_date() {
    let env = Env::start(&[]).await;
    let workspace = Workspace::load(&env.ws).expect("workspace");
    let mut options = SyncOptions::new(ResolveOptions::new(
        env.registries.clone(),
        env.cache.clone(),
    ));
    options.install = true;
    sync(&workspace, options).await.expect("dep resolve");
    let mut driver = env.driver();
    driver.app.apply(Action::Refresh);
    until_resolved(&mut driver).await;
    let outcome = driver.app.dependencies.outcome.as_ref().unwrap();
    assert_eq!(outcome.lock, LockState::Current);
    assert!(
        outcome
            .extensions
            .iter()
            .all(|e| e.lock == NodeLock::Installed),
        "{:?}",
        outcome.extensions
    );
    assert!(panel_text(&driver.app).contains("locked and installed"));
    // One extension's install removed: locked, not installed.
    std::fs::remove_dir_all(env.ws.join(".provisioning/extensions/taskservs/etcd")).unwrap();
    driver.app.apply(Action::Refresh);
    until_resolved(&mut driver).await;
    let outcome = driver.app.dependencies.outcome.as_ref().unwrap();
    assert_eq!(outcome.get("etcd").unwrap().lock, NodeLock::NotInstalled);
    assert!(panel_text(&driver.app).contains("locked, 9/10 installed"));
    // An unsaved edit: the lock is out of date, cilium differs from it.
    let text = env.edited(
        &env.module("cilium", "1.14.0"),
        &env.module("cilium", "1.15.3"),
    );
    resolve_text(&mut driver, text);
    until_resolved(&mut driver).await;
    let outcome = driver.app.dependencies.outcome.as_ref().unwrap();
    assert!(
        matches!(outcome.lock, LockState::OutOfDate(_)),
        "{:?}",
        outcome.lock
    );
    assert_eq!(
        outcome.get("cilium").unwrap().lock,
        NodeLock::Differs {
            locked: semver::Version::new(1, 14, 0)
        }
    );
    assert_eq!(outcome.get("kubernetes").unwrap().lock, NodeLock::Installed);
    let text = panel_text(&driver.app);
    assert!(text.contains("lock out of date"), "{text}");
    assert!(text.contains("≠ lock 1.14.0"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_opens_the_tag_and_u_sets_the_suggested_version() {
    let env = Env::start(&[]).await;
    let mut driver = env.driver();
    driver.app.apply(Action::Refresh);
    until_resolved(&mut driver).await;
    let pane = &mut driver.app.dependencies;
    assert!(pane.select_name("cilium"));
    let mut fx = Effects::new(1);
    pane.action(Action::UpdateExtension, &mut fx);
    assert_eq!(
        fx.messages,
        [(
            PaneId::Workspace,
            Message::SetRequirement {
                name: "cilium".into(),
                requirement: "1.15.3".into()
            }
        )]
    );
    // runc is the newest there is: nothing to set, and the toast says so.
    assert!(pane.select_name("runc"));
    let mut fx = Effects::new(1);
    pane.action(Action::UpdateExtension, &mut fx);
    assert!(fx.messages.is_empty());
    let toast = &fx.toasts.first().expect("a toast").0;
    assert!(toast.contains("runc 1.2.0 is the newest"), "{toast}");
    // enter: the extension's tag in the Registry pane.
    assert!(pane.select_name("kubernetes"));
    let mut fx = Effects::new(1);
    pane.action(Action::Open, &mut fx);
    assert_eq!(fx.goto, Some(PaneId::Registry));
    match &fx.messages[..] {
        [(PaneId::Registry, Message::ShowInRegistry(reference))] => {
            assert_eq!(reference.repository, format!("{NAMESPACE}/kubernetes"));
            assert_eq!(reference.tag.as_deref(), Some("1.28.0"));
        }
        other => panic!("{other:?}"),
    }
    // Through the app, the registry pane is shown with the kubernetes tags asked for.
    driver.press(key(crossterm::event::KeyCode::Enter));
    assert_eq!(driver.app.pane, PaneId::Registry);
    let sent = driver.flush();
    assert!(
        sent.iter().any(|r| matches!(r, Request::Tags { reference } if reference.repository.ends_with("kubernetes"))),
        "{sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_of_an_older_resolution_are_ignored() {
    let env = Env::start(&[]).await;
    let mut driver = env.driver();
    driver.app.apply(Action::Refresh);
    let old = driver.app.dependencies.generation;
    driver.app.apply(Action::Refresh);
    assert_eq!(driver.app.dependencies.generation, old + 1);
    driver.app.handle_response(Response::ResolveEvent {
        generation: old,
        event: ResolveEvent::Requested {
            name: "ghost".into(),
            repository: "x/ghost".into(),
        },
    });
    driver.app.handle_response(Response::Resolved {
        generation: old,
        result: Err("old".into()),
    });
    assert!(driver.app.dependencies.resolving());
    assert!(!driver.app.dependencies.live.nodes.contains_key("ghost"));
    until_resolved(&mut driver).await;
    assert_eq!(versions(&driver.app).len(), SAMPLE_SET.len());
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

// --- Snapshots: fixed outcomes (no network, nothing that changes between runs) ---

mod fixed {
    use super::*;
    use provisioning::deps::Explanation;
    use provisioning::deps::explain::WayOut;
    use provisioning::deps::graph::DepGraph;
    use provisioning::extension::manifest::ExtensionType;
    use provisioning::oci::Reference;
    use provisioning::tui::worker::Outcome;
    use provisioning::tui::worker::resolve::{Asked, Extension, Module};
    use provisioning::workspace::Requirement;
    use semver::Version;

    pub const REGISTRY: &str = "registry.example:5000";
    pub const ROOT: &str = "/srv/workspaces/demo";

    /// (name, type, version, module, newest, lock)
    type Row = (
        &'static str,
        ExtensionType,
        &'static str,
        bool,
        Option<&'static str>,
        NodeLock,
    );

    const EDGES: [(&str, &str, &str); 8] = [
        ("kubernetes", "containerd", ">=1.7.0"),
        ("kubernetes", "etcd", ">=3.5.0"),
        ("containerd", "runc", ">=1.1.0"),
        ("cilium", "kubernetes", ">=1.26.0, <1.30.0"),
        ("buildkit", "containerd", ">=1.7.0"),
        ("buildkit", "kubernetes", ">=1.27.0"),
        ("buildkit", "oci-reg", ">=2.0.0"),
        ("oci-reg", "os", ">=1.0.0"),
    ];

    fn v(text: &str) -> Version {
        Version::parse(text).expect("version")
    }

    fn outcome_of(rows: &[Row], pins: &[(&str, &str)], flagged: &[&str]) -> Outcome {
        let version_of = |name: &str| {
            rows.iter()
                .find(|r| r.0 == name)
                .map(|r| r.2)
                .unwrap_or("?")
        };
        let extensions = rows
            .iter()
            .map(|(name, kind, version, module, newest, lock)| {
                let mut asks: Vec<Asked> = pins
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, pin)| Asked {
                        by: "provisioning.yaml".into(),
                        range: format!("={pin}"),
                    })
                    .collect();
                asks.extend(EDGES.iter().filter(|e| e.1 == *name && rows.iter().any(|r| r.0 == e.0)).map(|(from, _, range)| Asked {
                    by: format!("{from} {}", version_of(from)),
                    range: range.to_string(),
                }));
                let why = if *module {
                    "provisioning.yaml pins it".to_string()
                } else if *name == "runc" {
                    "kept from config/provisioning.lock; 1.2.0 also fits every range (`provisioning dep update` moves to it)".to_string()
                } else {
                    "the newest version published".to_string()
                };
                Extension {
                    name: name.to_string(),
                    kind: Some(*kind),
                    version: Some(v(version)),
                    reference: Reference {
                        registry: REGISTRY.into(),
                        repository: format!("{NAMESPACE}/{name}"),
                        tag: Some(version.to_string()),
                        digest: None,
                    },
                    digest: Some(digest_of(&format!("{name} {version} manifest"))),
                    local: None,
                    module: *module,
                    asks,
                    why,
                    newest: newest.map(v),
                    lock: lock.clone(),
                }
            })
            .collect();
        let nodes: Vec<(String, String, bool)> = rows
            .iter()
            .map(|r| (r.0.to_string(), r.2.to_string(), r.3))
            .collect();
        let edges: Vec<(String, String)> = EDGES
            .iter()
            .map(|(a, b, _)| (a.to_string(), b.to_string()))
            .collect();
        let mut graph = DepGraph::build(&nodes, &edges);
        graph.flag(&flagged.iter().map(|f| f.to_string()).collect::<Vec<_>>());
        Outcome {
            root: PathBuf::from(ROOT),
            extensions,
            graph,
            modules: [
                "aws",
                "upcloud",
                "kubernetes",
                "containerd",
                "cilium",
                "buildkit",
            ]
            .iter()
            .map(|m| Module {
                name: m.to_string(),
                requirement: Requirement::Exact(v(pins
                    .iter()
                    .find(|p| p.0 == *m)
                    .map(|p| p.1)
                    .unwrap_or("1.0.0"))),
                local: false,
            })
            .collect(),
            requests: 31,
            ..Outcome::default()
        }
    }

    const PINS: [(&str, &str); 6] = [
        ("aws", "2.0.0"),
        ("upcloud", "1.5.0"),
        ("kubernetes", "1.28.0"),
        ("containerd", "1.7.0"),
        ("cilium", "1.14.0"),
        ("buildkit", "0.12.0"),
    ];

    /// The sample workspace resolved, locked, all installed but etcd; four updates.
    pub fn resolved() -> Outcome {
        use ExtensionType::*;
        let rows: [Row; 10] = [
            ("aws", Provider, "2.0.0", true, None, NodeLock::Installed),
            (
                "buildkit",
                Cluster,
                "0.12.0",
                true,
                Some("0.13.1"),
                NodeLock::Installed,
            ),
            (
                "cilium",
                Taskserv,
                "1.14.0",
                true,
                Some("1.15.3"),
                NodeLock::Installed,
            ),
            (
                "containerd",
                Taskserv,
                "1.7.0",
                true,
                Some("2.0.0"),
                NodeLock::Installed,
            ),
            (
                "etcd",
                Taskserv,
                "3.5.12",
                false,
                None,
                NodeLock::NotInstalled,
            ),
            (
                "kubernetes",
                Taskserv,
                "1.28.0",
                true,
                Some("1.31.1"),
                NodeLock::Installed,
            ),
            (
                "oci-reg",
                Taskserv,
                "2.0.1",
                false,
                None,
                NodeLock::Installed,
            ),
            ("os", Taskserv, "1.1.0", false, None, NodeLock::Installed),
            (
                "runc",
                Taskserv,
                "1.1.12",
                false,
                Some("1.2.0"),
                NodeLock::Installed,
            ),
            (
                "upcloud",
                Provider,
                "1.5.0",
                true,
                None,
                NodeLock::Installed,
            ),
        ];
        let mut outcome = outcome_of(&rows, &PINS, &[]);
        outcome.lock = LockState::Current;
        outcome
    }

    /// kubernetes moved to 1.31.1 in an unsaved edit: cilium 1.14.0 and containerd 1.7.0
    /// do not fit it.
    pub fn conflict() -> Outcome {
        use ExtensionType::*;
        let differs = |locked: &str| NodeLock::Differs { locked: v(locked) };
        let rows: [Row; 6] = [
            ("aws", Provider, "2.0.0", true, None, NodeLock::Installed),
            (
                "cilium",
                Taskserv,
                "1.14.0",
                true,
                None,
                NodeLock::Installed,
            ),
            (
                "containerd",
                Taskserv,
                "1.7.0",
                true,
                None,
                NodeLock::Installed,
            ),
            (
                "etcd",
                Taskserv,
                "3.5.12",
                false,
                None,
                NodeLock::NotInstalled,
            ),
            (
                "kubernetes",
                Taskserv,
                "1.31.1",
                true,
                None,
                differs("1.28.0"),
            ),
            (
                "upcloud",
                Provider,
                "1.5.0",
                true,
                None,
                NodeLock::Installed,
            ),
        ];
        let mut pins = PINS.to_vec();
        pins[2] = ("kubernetes", "1.31.1");
        let involved = ["cilium", "containerd", "kubernetes"];
        let mut outcome = outcome_of(&rows, &pins, &involved);
        for e in &mut outcome.extensions {
            if involved.contains(&e.name.as_str()) {
                e.why = "part of the problem: no version was settled".into();
            }
        }
        outcome.edited = true;
        outcome.lock = LockState::OutOfDate("the unsaved edits change the modules".into());
        outcome.conflict = Some(Explanation {
            facts: vec![
                "the workspace pins cilium 1.14.0, containerd 1.7.0 and kubernetes 1.31.1".into(),
                "kubernetes 1.31.1 needs containerd >=2.0.0".into(),
                "cilium 1.14.0 needs kubernetes >=1.26.0, <1.30.0".into(),
            ],
            ways_out: vec![WayOut {
                text: "kubernetes 1.29.3 accepts cilium 1.14.0 and containerd 1.7.0".into(),
                command: Some("provisioning dep update kubernetes --to 1.29.3".into()),
            }],
            involved: involved.iter().map(|s| s.to_string()).collect(),
        });
        outcome
    }

    /// An app on the Dependencies pane of [`ROOT`], with `outcome` as its answer and
    /// `select` selected.
    pub fn app(theme: &Theme, outcome: Option<Outcome>, select: &str) -> App {
        let mut app = app_with(REGISTRY, NAMESPACE, PathBuf::from(ROOT), theme.clone());
        app.take_requests();
        app.apply(Action::GoDependencies);
        if let Some(outcome) = outcome {
            app.apply(Action::Refresh);
            app.take_requests();
            let generation = app.dependencies.generation;
            app.handle_response(Response::Resolved {
                generation,
                result: Ok(Box::new(outcome)),
            });
            assert!(app.dependencies.select_name(select), "{select} is shown");
        }
        app
    }
}

mod snapshots {
    use super::*;

    use common::snapshot::snapshot_all;

    #[test]
    fn dependencies_empty() {
        snapshot_all("dependencies_empty", |theme| fixed::app(theme, None, ""));
    }

    #[test]
    fn dependencies_resolved() {
        snapshot_all("dependencies_resolved", |theme| {
            fixed::app(theme, Some(fixed::resolved()), "kubernetes")
        });
    }

    #[test]
    fn dependencies_conflict() {
        snapshot_all("dependencies_conflict", |theme| {
            fixed::app(theme, Some(fixed::conflict()), "kubernetes")
        });
    }

    #[test]
    fn dependencies_inverted() {
        snapshot_all("dependencies_inverted", |theme| {
            let mut app = fixed::app(theme, Some(fixed::resolved()), "runc");
            app.apply(Action::Invert);
            app
        });
    }

    #[test]
    fn dependencies_live() {
        snapshot_all("dependencies_live", |theme| {
            let mut app = fixed::app(theme, None, "");
            app.apply(Action::Refresh);
            app.take_requests();
            let generation = app.dependencies.generation;
            let events = [
                ResolveEvent::Requested {
                    name: "kubernetes".into(),
                    repository: format!("{}/{NAMESPACE}/kubernetes", fixed::REGISTRY),
                },
                ResolveEvent::Requested {
                    name: "cilium".into(),
                    repository: format!("{}/{NAMESPACE}/cilium", fixed::REGISTRY),
                },
                ResolveEvent::CandidatesKnown {
                    name: "kubernetes".into(),
                    versions: 5,
                },
                ResolveEvent::Chosen {
                    name: "kubernetes".into(),
                    version: semver::Version::new(1, 28, 0),
                },
                ResolveEvent::DependenciesKnown {
                    name: "kubernetes".into(),
                    version: semver::Version::new(1, 28, 0),
                    dependencies: vec![
                        ("containerd".into(), ">=1.7.0".into()),
                        ("etcd".into(), ">=3.5.0".into()),
                    ],
                },
                ResolveEvent::CandidatesKnown {
                    name: "containerd".into(),
                    versions: 3,
                },
            ];
            for event in events {
                app.handle_response(Response::ResolveEvent { generation, event });
            }
            app.dependencies.select_name("containerd");
            app
        });
    }
}

/// `u` on an extension no module pins: a toast naming the modules that bring it.
#[test]
fn u_on_a_dependency_names_the_modules_to_change() {
    let mut app = fixed::app(&Theme::dark(), Some(fixed::resolved()), "runc");
    let mut fx = Effects::new(1);
    app.dependencies.action(Action::UpdateExtension, &mut fx);
    assert!(fx.messages.is_empty(), "{:?}", fx.messages);
    let toast = &fx.toasts.first().expect("a toast").0;
    assert!(
        toast.contains("runc is not a module")
            && toast.contains("containerd")
            && toast.contains("dep update runc --to 1.2.0"),
        "{toast}"
    );
    // A pinned module: the Workspace pane gets the new pin.
    assert!(app.dependencies.select_name("buildkit"));
    let mut fx = Effects::new(1);
    app.dependencies.action(Action::UpdateExtension, &mut fx);
    assert_eq!(
        fx.messages,
        [(
            PaneId::Workspace,
            Message::SetRequirement {
                name: "buildkit".into(),
                requirement: "0.13.1".into()
            }
        )]
    );
}

/// With the Workspace pane: it reads the workspace and asks for the resolution; `u` on cilium
/// becomes an unsaved edit there, which is resolved again before anything is saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_pane_asks_and_u_re_resolves_its_edit() {
    let env = Env::start(&[]).await;
    let mut driver = env.driver();
    driver.app = std::mem::replace(
        &mut driver.app,
        app_with(&env.host, NAMESPACE, env.ws.clone(), Theme::dark()),
    )
    .with_workspace(env.ws.clone());
    driver
        .until("the workspace's resolution", LONG, |app| {
            app.dependencies.outcome.is_some() && !app.dependencies.resolving()
        })
        .await;
    assert_eq!(versions(&driver.app).len(), SAMPLE_SET.len());
    let before = std::fs::read_to_string(config_path(&env.ws)).unwrap();
    assert!(driver.app.dependencies.select_name("cilium"));
    driver.app.apply(Action::UpdateExtension);
    assert!(driver.app.workspace.is_dirty(), "u made an unsaved edit");
    driver
        .until("the edit's resolution", LONG, |app| {
            !app.dependencies.resolving()
                && app
                    .dependencies
                    .outcome
                    .as_ref()
                    .and_then(|o| o.get("cilium"))
                    .and_then(|e| e.version.as_ref())
                    .is_some_and(|v| v.to_string() == "1.15.3")
        })
        .await;
    assert!(driver.app.dependencies.outcome.as_ref().unwrap().edited);
    assert_eq!(
        std::fs::read_to_string(config_path(&env.ws)).unwrap(),
        before
    );
}

/// Unsaved text that does not parse: the error is shown, the previous tree stays, not current.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_re_resolution_keeps_the_previous_tree_and_says_why() {
    let env = Env::start(&[]).await;
    let mut driver = env.driver();
    driver.app.apply(Action::Refresh);
    until_resolved(&mut driver).await;
    let first = versions(&driver.app);
    let text = env.edited("  extensions:", "  extensions: [unclosed");
    resolve_text(&mut driver, text);
    driver
        .until("the resolution to fail", LONG, |app| {
            !app.dependencies.resolving()
        })
        .await;
    let pane = &driver.app.dependencies;
    let LoadState::Failed(error) = &pane.state else {
        panic!("{:?}", pane.state);
    };
    assert!(error.contains("provisioning.yaml"), "{error}");
    assert!(pane.stale);
    assert_eq!(versions(&driver.app), first);
    let text = panel_text(&driver.app);
    assert!(text.contains("The last resolution failed"), "{text}");
    assert!(
        text.contains("not current: the last resolution failed"),
        "{text}"
    );
}

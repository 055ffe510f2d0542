//! The Workspace pane (`3`): the sample workspace read by a real worker from an embedded
//! registry with the samples published; edits (add, remove, change the version, undo)
//! re-resolved live; save after the diff, with the file's comments and order kept; init where
//! there is no workspace; a malformed file and a failed save explained. Then what the pane looks
//! like, drawn from fixed state at 120×40 and 80×24, dark and without colours.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossterm::event::KeyCode;
use provisioning::extension::samples;
use provisioning::tui::action::Action;
use provisioning::tui::app::{App, Overlay, PaneId, PromptPurpose};
use provisioning::tui::panes::LoadState;
use provisioning::tui::panes::workspace::{Mode, Resolution, RowState, VersionFor};
use provisioning::tui::theme::Theme;
use provisioning::tui::worker::{self, Request};
use provisioning::workspace::CONFIG_FILE;

use common::TestRegistry;
use common::cli::Cli;
use common::snapshot::*;
use common::workbench::*;

const LONG: Duration = Duration::from_secs(60);

/// The embedded registry with the samples, and the sample workspace pointed at it.
struct Env {
    registry: TestRegistry,
    host: String,
    cli: Cli,
    root: PathBuf,
}

impl Env {
    async fn start() -> Env {
        common::install_crypto();
        let registry = TestRegistry::start().await;
        let host = registry.host();
        common::deps::publish(&host).await;
        let cli = Cli::new();
        let root = common::deps::sample_workspace(&cli, &host);
        Env {
            registry,
            host,
            cli,
            root,
        }
    }

    /// The workbench on this registry showing the workspace at `root`, in the Workspace pane.
    fn driver(&self, root: &Path) -> Driver {
        let (registries, cache) = common::deps::client(&self.cli.path("client"));
        let app = app_with(&self.host, NAMESPACE, root.to_path_buf(), Theme::dark())
            .with_workspace(root.to_path_buf());
        let mut driver = Driver::new(app, worker::spawn(registries, cache));
        driver.app.apply(Action::GoWorkspace);
        driver
    }

    fn config(&self) -> String {
        std::fs::read_to_string(self.root.join(CONFIG_FILE)).expect("provisioning.yaml")
    }

    /// The reference line the sample writes for `name:version` (with its indentation).
    fn entry(&self, name: &str, version: &str) -> String {
        format!(
            "        - \"oci://{}/{NAMESPACE}/{name}:{version}\"",
            self.host
        )
    }

    async fn stop(self) {
        self.registry.stop().await;
    }
}

/// Waits until the pane has read the workspace (or failed to).
async fn loaded(driver: &mut Driver) {
    driver
        .until("the workspace to be read", LONG, |app| {
            matches!(
                app.workspace.state,
                LoadState::Loaded | LoadState::Failed(_)
            )
        })
        .await;
}

fn rows(app: &App) -> Vec<(String, String, String)> {
    app.workspace
        .rows
        .iter()
        .map(|r| (r.kind.clone(), r.name.clone(), r.requirement.clone()))
        .collect()
}

fn row<'a>(kind: &'a str, name: &'a str, requirement: &'a str) -> (String, String, String) {
    (kind.into(), name.into(), requirement.into())
}

fn select(driver: &mut Driver, name: &str) {
    let index = driver
        .app
        .workspace
        .rows
        .iter()
        .position(|r| r.name == name)
        .unwrap_or_else(|| panic!("{name} is a module: {:?}", rows(&driver.app)));
    driver.press(ch('g'));
    for _ in 0..index {
        driver.press(ch('j'));
    }
    assert_eq!(
        driver.app.workspace.selected_row().map(|r| r.name.as_str()),
        Some(name)
    );
}

/// The resolutions the Dependencies pane asked the worker for since the last flush.
fn resolves(requests: &[Request]) -> Vec<Option<String>> {
    requests
        .iter()
        .filter_map(|r| match r {
            Request::Resolve { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// Waits for the live resolution of the latest edit and returns (ok, versions).
async fn resolution(driver: &mut Driver) -> (bool, std::collections::BTreeMap<String, String>) {
    driver
        .until("the live resolution", LONG, |app| {
            matches!(app.workspace.resolution, Resolution::Done { .. })
        })
        .await;
    match &driver.app.workspace.resolution {
        Resolution::Done { ok, versions, .. } => (*ok, versions.clone()),
        other => unreachable!("{other:?}"),
    }
}

/// Waits until the version dialog has its tags.
async fn versions_shown(driver: &mut Driver) -> Vec<String> {
    driver
        .until(
            "the version tags",
            LONG,
            |app| matches!(&app.workspace.mode, Mode::Version(d) if d.state != LoadState::Loading),
        )
        .await;
    match &driver.app.workspace.mode {
        Mode::Version(dialog) => {
            assert_eq!(dialog.state, LoadState::Loaded);
            dialog.tags.clone()
        }
        other => unreachable!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_shows_the_sample_modules_by_type_with_their_lock_state() {
    let env = Env::start().await;
    let mut driver = env.driver(&env.root);
    loaded(&mut driver).await;
    let pane = &driver.app.workspace;
    assert_eq!(pane.state, LoadState::Loaded);
    assert_eq!(
        rows(&driver.app),
        [
            row("provider", "aws", "=2.0.0"),
            row("provider", "upcloud", "=1.5.0"),
            row("taskserv", "kubernetes", "=1.28.0"),
            row("taskserv", "containerd", "=1.7.0"),
            row("taskserv", "cilium", "=1.14.0"),
            row("cluster", "buildkit", "=0.12.0"),
        ]
    );
    assert_eq!(pane.text, env.config());
    assert!(!pane.is_dirty());
    assert_eq!(pane.snapshot.lock_current, None, "no lock yet");
    assert!(
        pane.rows
            .iter()
            .all(|r| pane.row_state(r) == RowState::NotLocked)
    );
    assert_eq!(pane.snapshot.registry, env.host);
    assert_eq!(pane.snapshot.namespace, NAMESPACE);
    // The saved workspace resolves live; every module at its pin.
    let (ok, versions) = resolution(&mut driver).await;
    assert!(ok, "{:?}", driver.app.workspace.resolution);
    assert_eq!(versions.get("cilium").map(String::as_str), Some("1.14.0"));

    // r: dep resolve as a job; then the lock and the installs show.
    driver.press(ch('r'));
    let job = driver.app.workspace.install_job.expect("an install job");
    assert!(
        driver.app.transfers.job_mut(job).is_some(),
        "shown in Transfers"
    );
    driver
        .until(
            "the install to finish and the workspace to be read again",
            LONG,
            |app| {
                app.workspace.install_job.is_none() && app.workspace.snapshot.lock_current.is_some()
            },
        )
        .await;
    let pane = &driver.app.workspace;
    assert_eq!(pane.snapshot.lock_current, Some(true));
    for r in &pane.rows {
        assert_eq!(pane.row_state(r), RowState::Installed, "{}", r.name);
        assert_eq!(r.locked.as_deref(), Some(&r.requirement[1..]), "{}", r.name);
    }
    assert!(
        env.root
            .join(".provisioning/extensions/taskservs/cilium")
            .is_dir()
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_resolves_live_then_save_writes_exactly_the_diff() {
    let env = Env::start().await;
    let original = env.config();
    let mut driver = env.driver(&env.root);
    loaded(&mut driver).await;

    driver.press(ch('a'));
    driver
        .until("the registry's extensions", LONG, |app| {
            app.workspace.catalog.state == LoadState::Loaded
        })
        .await;
    driver.chars("postgr");
    let matches: Vec<String> = driver
        .app
        .workspace
        .catalog
        .matches("postgr")
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(matches, ["postgres"]);
    // Descriptions fill in as they come: the search also finds words of a description.
    driver
        .until("postgres's description", LONG, |app| {
            app.workspace
                .catalog
                .entries
                .iter()
                .any(|e| e.name == "postgres" && e.description.is_some())
        })
        .await;
    driver.code(KeyCode::Enter);
    let tags = versions_shown(&mut driver).await;
    assert_eq!(tags, ["16.2.0", "15.5.0"], "newest first");
    driver
        .until("postgres's type", LONG, |app| {
            matches!(&app.workspace.mode, Mode::Version(d)
                if matches!(d.purpose, VersionFor::Add { kind: Some(_), .. }))
        })
        .await;
    driver.code(KeyCode::Down);
    driver.code(KeyCode::Enter);
    assert!(matches!(driver.app.workspace.mode, Mode::List));
    assert!(driver.app.workspace.is_dirty());
    assert!(rows(&driver.app).contains(&row("taskserv", "postgres", "=15.5.0")));
    let postgres = driver
        .app
        .workspace
        .selected_row()
        .cloned()
        .expect("selected");
    assert_eq!(postgres.name, "postgres");
    assert_eq!(driver.app.workspace.row_state(&postgres), RowState::Added);

    // The edit goes to the Dependencies pane, which resolves the unsaved text.
    let text = driver.app.workspace.text.clone();
    assert_eq!(resolves(&driver.flush()), [Some(text.clone())]);
    let (ok, versions) = resolution(&mut driver).await;
    assert!(ok, "{:?}", driver.app.workspace.resolution);
    assert_eq!(versions.get("postgres").map(String::as_str), Some("15.5.0"));
    assert_eq!(env.config(), original, "nothing written before saving");

    // s: the diff, one added line; esc goes back, s again and enter writes it.
    driver.press(ch('s'));
    assert!(matches!(driver.app.workspace.mode, Mode::Diff { .. }));
    driver.code(KeyCode::Esc);
    assert!(matches!(driver.app.workspace.mode, Mode::List));
    assert!(driver.app.workspace.is_dirty());
    driver.press(ch('s'));
    let cilium = env.entry("cilium", "1.14.0");
    let added = env.entry("postgres", "15.5.0");
    let diff = provisioning::workspace::diff::unified(CONFIG_FILE, &original, &text);
    let changes: Vec<&str> = diff
        .lines()
        .skip(2)
        .filter(|l| l.starts_with(['+', '-']))
        .collect();
    assert_eq!(changes, [format!("+{added}")]);
    driver.code(KeyCode::Enter);
    driver
        .until("the save", LONG, |app| {
            app.workspace.saving.is_none() && !app.workspace.is_dirty()
        })
        .await;
    let expected = original.replacen(&cilium, &format!("{cilium}\n{added}"), 1);
    assert_eq!(env.config(), expected, "comments, order and quoting kept");
    assert!(matches!(driver.app.workspace.mode, Mode::List));
    assert!(driver.app.workspace.undo.is_empty());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_remove_and_undo() {
    let env = Env::start().await;
    let original = env.config();
    let mut driver = env.driver(&env.root);
    loaded(&mut driver).await;
    driver.flush();

    // e: cilium's versions, newest first, its pin selected; pick the newest.
    select(&mut driver, "cilium");
    driver.press(ch('e'));
    let tags = versions_shown(&mut driver).await;
    assert_eq!(tags, ["1.15.3", "1.14.5", "1.14.0"]);
    let Mode::Version(dialog) = &driver.app.workspace.mode else {
        unreachable!()
    };
    assert_eq!(dialog.selected, 2, "the current pin is selected");
    driver.code(KeyCode::Up);
    driver.code(KeyCode::Up);
    driver.code(KeyCode::Enter);
    assert!(rows(&driver.app).contains(&row("taskserv", "cilium", "=1.15.3")));
    let changed = original.replace(
        &env.entry("cilium", "1.14.0"),
        &env.entry("cilium", "1.15.3"),
    );
    assert_eq!(driver.app.workspace.text, changed);
    assert_eq!(resolves(&driver.flush()), [Some(changed.clone())]);

    // d removes the selected module, with its line only.
    driver.press(ch('d'));
    assert!(!rows(&driver.app).iter().any(|r| r.1 == "cilium"));
    let removed = changed.replace(&format!("{}\n", env.entry("cilium", "1.15.3")), "");
    assert_eq!(driver.app.workspace.text, removed);
    assert_eq!(resolves(&driver.flush()), [Some(removed)]);

    // u takes the edits back one by one; the last undo is the saved file again.
    driver.press(ch('u'));
    assert_eq!(driver.app.workspace.text, changed);
    driver.press(ch('u'));
    assert_eq!(driver.app.workspace.text, original);
    assert!(!driver.app.workspace.is_dirty());
    assert_eq!(
        resolves(&driver.flush()),
        [Some(changed.clone()), None],
        "back to the saved file, which resolves from disk"
    );

    // A typed range turns the pin into a mapping entry in place.
    select(&mut driver, "cilium");
    driver.press(ch('e'));
    versions_shown(&mut driver).await;
    driver.chars("^1.14");
    driver.code(KeyCode::Enter);
    assert!(rows(&driver.app).contains(&row("taskserv", "cilium", "^1.14")));
    let ranged = original.replace(
        &env.entry("cilium", "1.14.0"),
        "        - {name: cilium, range: \"^1.14\"}",
    );
    assert_eq!(driver.app.workspace.text, ranged);
    let (ok, versions) = resolution(&mut driver).await;
    assert!(ok, "{:?}", driver.app.workspace.resolution);
    assert_eq!(versions.get("cilium").map(String::as_str), Some("1.15.3"));

    // Nonsense is refused with a reason, and changes nothing.
    driver.press(ch('e'));
    versions_shown(&mut driver).await;
    driver.chars("banana");
    driver.code(KeyCode::Enter);
    assert!(matches!(driver.app.workspace.mode, Mode::Version(_)));
    assert!(
        driver
            .app
            .toasts
            .iter()
            .any(|t| t.text.contains("neither a version nor a range"))
    );
    driver.code(KeyCode::Esc);
    assert_eq!(driver.app.workspace.text, ranged);

    driver.press(ch('s'));
    driver.code(KeyCode::Enter);
    driver
        .until("the save", LONG, |app| !app.workspace.is_dirty())
        .await;
    assert_eq!(env.config(), ranged);
    env.stop().await;
}

/// A name the search does not list is looked up as typed (registries without a catalog);
/// one that does not exist says so, and esc goes back to the search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_name_the_search_does_not_list_is_looked_up() {
    let env = Env::start().await;
    let mut driver = env.driver(&env.root);
    loaded(&mut driver).await;
    driver.press(ch('a'));
    driver
        .until("the registry's extensions", LONG, |app| {
            app.workspace.catalog.state == LoadState::Loaded
        })
        .await;
    driver.chars("nosuch");
    assert!(driver.app.workspace.catalog.matches("nosuch").is_empty());
    driver.code(KeyCode::Enter);
    driver
        .until(
            "the lookup",
            LONG,
            |app| matches!(&app.workspace.mode, Mode::Version(d) if d.state != LoadState::Loading),
        )
        .await;
    let Mode::Version(dialog) = &driver.app.workspace.mode else {
        unreachable!()
    };
    assert_eq!(dialog.repository.repository, format!("{NAMESPACE}/nosuch"));
    assert!(
        matches!(&dialog.state, LoadState::Failed(e) if e.contains("nosuch")),
        "{:?}",
        dialog.state
    );
    driver.code(KeyCode::Esc);
    let Mode::Add(search) = &driver.app.workspace.mode else {
        panic!("back to the search, not {:?}", driver.app.workspace.mode);
    };
    assert_eq!(search.query.text(), "nosuch");
    driver.code(KeyCode::Esc);
    assert!(matches!(driver.app.workspace.mode, Mode::List));
    assert!(!driver.app.workspace.is_dirty());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_w_adds_the_selected_version_prefilled() {
    let env = Env::start().await;
    let mut driver = env.driver(&env.root);
    loaded(&mut driver).await;
    driver.app.apply(Action::GoRegistry);
    driver.settle().await;
    driver.press(ch('/'));
    driver.chars("etcd");
    driver.code(KeyCode::Enter);
    driver.code(KeyCode::Enter);
    driver.settle().await;
    let tags: Vec<String> = driver
        .app
        .registry
        .tags
        .items()
        .iter()
        .map(|t| t.tag.clone())
        .collect();
    assert_eq!(tags, ["3.5.12", "3.5.9"]);
    driver.press(ch('j'));
    driver.press(ch('w'));
    driver.flush();
    assert_eq!(driver.app.pane, PaneId::Workspace);
    let tags = versions_shown(&mut driver).await;
    let Mode::Version(dialog) = &driver.app.workspace.mode else {
        unreachable!()
    };
    assert_eq!(dialog.tags[dialog.selected], "3.5.9", "{tags:?}");
    driver
        .until("etcd's type", LONG, |app| {
            matches!(&app.workspace.mode, Mode::Version(d)
                if matches!(d.purpose, VersionFor::Add { kind: Some(_), .. }))
        })
        .await;
    driver.code(KeyCode::Enter);
    assert!(rows(&driver.app).contains(&row("taskserv", "etcd", "=3.5.9")));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quitting_with_unsaved_edits_asks() {
    let env = Env::start().await;
    let mut driver = env.driver(&env.root);
    loaded(&mut driver).await;
    driver.press(ch('d'));
    assert!(driver.app.workspace.is_dirty());
    driver.press(ch('q'));
    assert!(!driver.app.quit);
    assert!(matches!(
        &driver.app.overlay,
        Some(Overlay::Prompt { purpose: PromptPurpose::QuitConfirm, label, .. })
            if label.contains("unsaved")
    ));
    driver.press(ch('n'));
    driver.code(KeyCode::Enter);
    assert!(!driver.app.quit);
    driver.press(ch('u'));
    driver.press(ch('q'));
    assert!(driver.app.quit, "nothing unsaved: q quits");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_in_an_empty_directory_creates_a_workspace() {
    let env = Env::start().await;
    let empty = env.cli.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut driver = env.driver(&empty);
    loaded(&mut driver).await;
    assert!(driver.app.workspace.is_missing());
    assert!(!driver.app.workspace.is_dirty());
    assert_eq!(driver.app.hints()[0], Action::InitWorkspace);
    // Nothing to edit here.
    driver.press(ch('a'));
    assert!(matches!(driver.app.workspace.mode, Mode::List));
    driver.press(ch('i'));
    driver
        .until("the new workspace", LONG, |app| app.workspace.is_editable())
        .await;
    let written = std::fs::read_to_string(empty.join(CONFIG_FILE)).expect("created");
    assert_eq!(
        written,
        provisioning::workspace::init::render(&Default::default())
    );
    assert_eq!(driver.app.workspace.text, written);
    assert!(driver.app.workspace.rows.is_empty());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_file_shows_the_error_with_file_and_line() {
    let env = Env::start().await;
    let broken = env.config().replace("cilium:1.14.0", "cilium:newest");
    std::fs::write(env.root.join(CONFIG_FILE), &broken).unwrap();
    let line = broken
        .lines()
        .position(|l| l.contains("cilium:newest"))
        .unwrap()
        + 1;
    let mut driver = env.driver(&env.root);
    loaded(&mut driver).await;
    let LoadState::Failed(error) = driver.app.workspace.state.clone() else {
        panic!("a failed load, not {:?}", driver.app.workspace.state);
    };
    assert!(
        error.contains(&format!("{CONFIG_FILE}:{line}:")) && error.contains("newest"),
        "{error}"
    );
    // Every key is safe; nothing is edited.
    for c in ['a', 'd', 'e', 's', 'u', 'r', 'i'] {
        driver.press(ch(c));
        driver.code(KeyCode::Esc);
    }
    assert!(!driver.app.workspace.is_dirty());
    assert_eq!(
        std::fs::read_to_string(env.root.join(CONFIG_FILE)).unwrap(),
        broken
    );
    let screen = text(&driver.app, 120, 40);
    assert!(
        screen.contains(&format!("{CONFIG_FILE}:{line}:")),
        "{screen}"
    );
    // Fixed on disk, ctrl-r reads it again.
    std::fs::write(
        env.root.join(CONFIG_FILE),
        env.config().replace("newest", "1.14.0"),
    )
    .unwrap();
    driver.press(ctrl('r'));
    loaded(&mut driver).await;
    driver
        .until("the fixed file", LONG, |app| app.workspace.is_editable())
        .await;
    assert_eq!(driver.app.workspace.rows.len(), 6);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_save_says_so_and_keeps_the_edits() {
    let env = Env::start().await;
    let original = env.config();
    let mut driver = env.driver(&env.root);
    loaded(&mut driver).await;
    driver.press(ch('d'));
    let edited = driver.app.workspace.text.clone();
    let config_dir = env.root.join("config");
    let cause = make_unwritable(&config_dir);
    driver.press(ch('s'));
    driver.code(KeyCode::Enter);
    driver
        .until("the save to fail", LONG, |app| {
            app.workspace.saving.is_none()
        })
        .await;
    restore(&config_dir, &original);
    let pane = &driver.app.workspace;
    assert!(pane.is_dirty(), "the edits are kept");
    assert_eq!(pane.text, edited);
    assert_eq!(pane.undo.len(), 1);
    assert!(matches!(pane.mode, Mode::List));
    let toast = driver
        .app
        .toasts
        .iter()
        .find(|t| t.text.starts_with("Not saved"))
        .map(|t| t.text.clone())
        .unwrap_or_else(|| panic!("a toast says so: {:?}", driver.app.toasts));
    assert!(
        toast.contains(CONFIG_FILE) && toast.contains(cause) && toast.contains("edits are kept"),
        "{toast}"
    );
    assert_eq!(env.config(), original);
    // Writable again, the same edits save.
    driver.press(ch('s'));
    driver.code(KeyCode::Enter);
    driver
        .until("the save", LONG, |app| !app.workspace.is_dirty())
        .await;
    assert_eq!(env.config(), edited);
    env.stop().await;
}

/// Makes saving into `dir` fail; returns words of the error to expect. A read-only directory
/// stops everyone but root; for root, `provisioning.yaml` is moved aside and a directory put in
/// its place, which no save can replace.
fn make_unwritable(dir: &Path) -> &'static str {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.join(".probe");
    if std::fs::File::create(&probe).is_err() {
        return "Permission denied";
    }
    let _ = std::fs::remove_file(&probe);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.join("provisioning.yaml");
    std::fs::rename(&file, dir.join("provisioning.yaml.aside")).unwrap();
    std::fs::create_dir(&file).unwrap();
    "directory"
}

/// Undoes [`make_unwritable`]: the directory writable, `original` in place.
fn restore(dir: &Path, original: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.join("provisioning.yaml");
    if file.is_dir() {
        std::fs::remove_dir(&file).unwrap();
        std::fs::rename(dir.join("provisioning.yaml.aside"), &file).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
}

fn ctrl(c: char) -> crossterm::event::KeyEvent {
    crossterm::event::KeyEvent::new(KeyCode::Char(c), crossterm::event::KeyModifiers::CONTROL)
}

// What the pane looks like, drawn from fixed state (no network, a clock that stands still).
// Every snapshot holds the text, a style mask under every styled row (a letter per cell) and
// a legend of the letters' colours and modifiers, as in workbench_snapshots.

const REGISTRY: &str = "registry.example:5000";

fn fixture_root() -> PathBuf {
    PathBuf::from("/work/ws")
}

/// The app showing the sample workspace on the fixture registry, read with part of it locked
/// and installed, in the Workspace pane.
fn with_workspace(theme: &Theme) -> App {
    use provisioning::tui::worker::{Response, Snapshot};
    use provisioning::workspace::{Workspace, modules};
    let root = fixture_root();
    let mut app =
        app_with(REGISTRY, NAMESPACE, root.clone(), theme.clone()).with_workspace(root.clone());
    app.take_requests();
    app.apply(Action::GoWorkspace);
    let text = samples::workspace_config(REGISTRY);
    let workspace = Workspace::from_text(&root, text.clone()).expect("the sample reads");
    let locked: std::collections::BTreeMap<String, String> = [
        ("aws", "2.0.0"),
        ("upcloud", "1.5.0"),
        ("kubernetes", "1.28.0"),
        ("containerd", "1.7.0"),
        ("cilium", "1.14.0"),
        ("etcd", "3.5.12"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let mut installed = locked.clone();
    installed.remove("containerd");
    let snapshot = Snapshot {
        found: true,
        modules: modules::list(&workspace),
        text,
        locked,
        installed,
        lock_current: Some(false),
        registry: REGISTRY.into(),
        namespace: NAMESPACE.into(),
        diagnostics: Vec::new(),
    };
    app.handle_response(Response::WorkspaceLoaded {
        root,
        result: Ok(Box::new(snapshot)),
    });
    app.take_requests();
    app
}

/// One unsaved edit (cilium to 1.15.3), resolved live.
fn with_edit(theme: &Theme) -> App {
    let mut app = with_workspace(theme);
    let mut fx = provisioning::tui::panes::Effects::new(1);
    let wanted = provisioning::workspace::modules::Wanted::Tag("1.15.3".into());
    assert!(app.workspace.set_requirement(
        provisioning::extension::manifest::ExtensionType::Taskserv,
        "cilium",
        &wanted,
        &mut fx
    ));
    let versions = [
        ("aws", "2.0.0"),
        ("upcloud", "1.5.0"),
        ("kubernetes", "1.28.0"),
        ("containerd", "1.7.0"),
        ("cilium", "1.15.3"),
        ("etcd", "3.5.12"),
    ];
    app.workspace.resolution = Resolution::Done {
        ok: true,
        summary: "resolved 9 extensions".into(),
        versions: versions
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    };
    app.workspace.selected = 4;
    app
}

fn with_add_dialog(theme: &Theme) -> App {
    use provisioning::tui::worker::{Description, Response};
    let mut app = with_workspace(theme);
    app.handle_key(ch('a'));
    app.take_requests();
    app.handle_response(Response::Repositories {
        registry: REGISTRY.into(),
        result: Ok(named_repositories(
            NAMESPACE,
            &["cilium", "etcd", "postgres", "proxy", "redis", "rook-ceph"],
        )),
    });
    for (name, kind, version, description) in [
        (
            "postgres",
            "taskserv",
            "16.2.0",
            "PostgreSQL, the relational database",
        ),
        (
            "proxy",
            "taskserv",
            "2.8.5",
            "HAProxy load balancer in front of the API servers",
        ),
        ("redis", "taskserv", "7.2.4", "Redis in-memory data store"),
    ] {
        app.handle_response(Response::Described {
            reference: provisioning::oci::Reference {
                registry: REGISTRY.into(),
                repository: format!("{NAMESPACE}/{name}"),
                tag: None,
                digest: None,
            },
            result: Ok(Description {
                version: Some(version.into()),
                kind: Some(kind.into()),
                description: Some(description.into()),
                ..Description::default()
            }),
        });
    }
    type_text(&mut app, "p");
    app.take_requests();
    app
}

fn with_versions(theme: &Theme) -> App {
    use provisioning::tui::worker::Response;
    let mut app = with_workspace(theme);
    app.workspace.selected = 4;
    app.handle_key(ch('e'));
    app.take_requests();
    let Mode::Version(dialog) = &app.workspace.mode else {
        panic!("the version dialog");
    };
    let reference = dialog.repository.clone();
    app.handle_response(Response::Tags {
        result: Ok(tag_entries(
            REGISTRY,
            &reference.repository,
            &["1.15.3", "1.14.5", "1.14.0"],
        )),
        reference,
    });
    app
}

fn with_diff(theme: &Theme) -> App {
    let mut app = with_edit(theme);
    app.handle_key(ch('s'));
    assert!(matches!(app.workspace.mode, Mode::Diff { .. }));
    app
}

fn with_empty(theme: &Theme) -> App {
    use provisioning::tui::worker::{Response, Snapshot};
    let root = fixture_root();
    let mut app =
        app_with(REGISTRY, NAMESPACE, root.clone(), theme.clone()).with_workspace(root.clone());
    app.apply(Action::GoWorkspace);
    app.handle_response(Response::WorkspaceLoaded {
        root,
        result: Ok(Box::new(Snapshot::default())),
    });
    app.take_requests();
    app
}

fn with_error(theme: &Theme) -> App {
    use provisioning::tui::worker::Response;
    let root = fixture_root();
    let mut app =
        app_with(REGISTRY, NAMESPACE, root.clone(), theme.clone()).with_workspace(root.clone());
    app.apply(Action::GoWorkspace);
    app.handle_response(Response::WorkspaceLoaded {
        root,
        result: Err(format!(
            "{CONFIG_FILE}:27:11: error: the tag `newest` of `oci://{REGISTRY}/{NAMESPACE}/cilium:newest` is not a version\n  hint: pin a semver version like 1.2.0, or write `{{name: NAME, range: RANGE}}`"
        )),
    });
    app.take_requests();
    app
}

#[test]
fn snapshot_list() {
    snapshot_all("workspace_list", with_workspace);
}

#[test]
fn snapshot_list_with_an_unsaved_edit() {
    snapshot_all("workspace_edited", with_edit);
}

#[test]
fn snapshot_add_dialog() {
    snapshot_all("workspace_add", with_add_dialog);
}

#[test]
fn snapshot_version_dialog() {
    snapshot_all("workspace_versions", with_versions);
}

#[test]
fn snapshot_diff() {
    snapshot_all("workspace_diff", with_diff);
}

#[test]
fn snapshot_empty_state() {
    snapshot_all("workspace_empty", with_empty);
}

#[test]
fn snapshot_malformed_file() {
    snapshot_all("workspace_error", with_error);
}

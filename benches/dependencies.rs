//! The Dependencies pane: frame time with a 300-extension graph, and the time from an edit to
//! the re-resolved tree on the sample workspace.
//!
//! Run with `cargo bench --bench dependencies`. Printed beside each target:
//! - frame: the whole screen (tab bar, tree, panel, hints) drawn into a 120×40 `TestBackend`
//!   after a selection move, with 300 extensions 8 levels deep, each needing three of the next
//!   level [≤ 4 ms];
//! - edit → tree: an unsaved edit of the sample workspace (cilium's pin flipped between 1.14.0
//!   and 1.15.3) sent to the real worker, resolved against the embedded registry with a warm
//!   cache, every event and the outcome applied to the pane [≤ 100 ms]. The worker's 150 ms
//!   debounce is set to zero here: it is a wait, not work. The peer: `provisioning dep tree`
//!   on the same workspace and cache (a new process each time).
//!
//! These are measurements, not assertions.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::Criterion;
use provisioning::deps::graph::DepGraph;
use provisioning::extension::manifest::ExtensionType;
use provisioning::extension::samples;
use provisioning::oci::cache::BlobCache;
use provisioning::oci::client::{ClientOptions, Registries};
use provisioning::oci::credentials::CredentialStore;
use provisioning::oci::{Digest, Reference, ReferenceDefaults};
use provisioning::tui::action::Action;
use provisioning::tui::app::App;
use provisioning::tui::keymap::Keymap;
use provisioning::tui::panes::Effects;
use provisioning::tui::panes::dependencies::DependenciesPane;
use provisioning::tui::screen;
use provisioning::tui::theme::Theme;
use provisioning::tui::worker::resolve::{Asked, Extension, LockState, Module, NodeLock};
use provisioning::tui::worker::{self, Outcome, Response, WorkerHandle};
use provisioning::workspace::Requirement;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use semver::Version;

const NAMESPACE: &str = "provisioning-extensions";
const REGISTRY: &str = "registry.example:5000";

const TARGET_FRAME: Duration = Duration::from_millis(4);
const TARGET_EDIT: Duration = Duration::from_millis(100);

use common::deps::layered::{EXTENSIONS, level_of, members, needs};

fn name(i: usize) -> String {
    format!("ext{i:03}")
}

/// A resolved outcome of 300 extensions: the first level are modules, every fifth has an
/// update, every seventh is locked but not installed.
fn large_outcome() -> Outcome {
    let version = Version::new(1, 4, 0);
    let extensions: Vec<Extension> = (0..EXTENSIONS)
        .map(|i| Extension {
            name: name(i),
            kind: Some(ExtensionType::Taskserv),
            version: Some(version.clone()),
            reference: Reference {
                registry: REGISTRY.into(),
                repository: format!("{NAMESPACE}/{}", name(i)),
                tag: Some(version.to_string()),
                digest: None,
            },
            digest: Some(Digest::sha256_of(name(i).as_bytes())),
            local: None,
            module: level_of(i) == 0,
            asks: (0..EXTENSIONS)
                .filter(|&j| needs(j).contains(&i))
                .map(|j| Asked {
                    by: format!("{} 1.4.0", name(j)),
                    range: ">=1.0.0".into(),
                })
                .collect(),
            why: "the newest that fits every range".into(),
            newest: (i % 5 == 0).then(|| Version::new(1, 9, 0)),
            lock: if i % 7 == 0 {
                NodeLock::NotInstalled
            } else {
                NodeLock::Installed
            },
        })
        .collect();
    let nodes: Vec<(String, String, bool)> = (0..EXTENSIONS)
        .map(|i| (name(i), version.to_string(), level_of(i) == 0))
        .collect();
    let edges: Vec<(String, String)> = (0..EXTENSIONS)
        .flat_map(|i| needs(i).into_iter().map(move |d| (name(i), name(d))))
        .collect();
    Outcome {
        root: PathBuf::from("/srv/workspaces/large"),
        extensions,
        graph: DepGraph::build(&nodes, &edges),
        lock: LockState::Current,
        modules: members(0)
            .into_iter()
            .map(|i| Module {
                name: name(i),
                requirement: Requirement::Exact(version.clone()),
                local: false,
            })
            .collect(),
        ..Outcome::default()
    }
}

fn large_app() -> App {
    let mut app = App::new(
        ReferenceDefaults {
            registry: REGISTRY.into(),
            namespace: NAMESPACE.into(),
        },
        Vec::new(),
        PathBuf::from("/srv/workspaces/large"),
        Theme::dark(),
        Keymap::default(),
    );
    app.apply(Action::GoDependencies);
    app.apply(Action::Refresh);
    app.take_requests();
    let generation = app.dependencies.generation;
    app.handle_response(Response::Resolved {
        generation,
        result: Ok(Box::new(large_outcome())),
    });
    app.dependencies.selected = app.dependencies.built.rows.len() / 2;
    app
}

fn frame(terminal: &mut Terminal<TestBackend>, app: &mut App, step: &mut bool) {
    app.apply(if *step { Action::Down } else { Action::Up });
    *step = !*step;
    terminal.draw(|f| screen::draw(f, app)).expect("draw");
    black_box(terminal.backend().buffer().area);
}

fn mean_frame(frames: u32) -> (Duration, usize) {
    let mut app = large_app();
    let rows = app.dependencies.built.rows.len();
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let mut step = true;
    for _ in 0..20 {
        frame(&mut term, &mut app, &mut step);
    }
    let start = Instant::now();
    for _ in 0..frames {
        frame(&mut term, &mut app, &mut step);
    }
    (start.elapsed() / frames, rows)
}

/// The embedded registry with the samples, the sample workspace and a warm cache.
struct Sample {
    _registry: common::TestRegistry,
    host: String,
    scratch: tempfile::TempDir,
    ws: PathBuf,
    registries: Registries,
}

async fn sample() -> Sample {
    common::install_crypto();
    let registry = common::TestRegistry::start().await;
    let host = registry.host();
    let scratch = tempfile::tempdir().expect("temp dir");
    let registries = Registries::new(
        ClientOptions {
            plain_http_registries: vec![host.clone()],
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
            namespace: NAMESPACE.into(),
        },
    )
    .await
    .expect("samples published");
    let ws = scratch.path().join("ws");
    std::fs::create_dir_all(ws.join("config")).expect("config dir");
    std::fs::write(
        ws.join("config/provisioning.yaml"),
        samples::workspace_config(&host),
    )
    .expect("workspace");
    Sample {
        _registry: registry,
        host,
        scratch,
        ws,
        registries,
    }
}

/// One edit → re-resolved tree: the request sent, every event and the outcome applied.
async fn edit_to_tree(pane: &mut DependenciesPane, worker: &mut WorkerHandle, text: String) {
    let request = pane.resolve(Some(text));
    worker.requests.send(request).expect("worker runs");
    let mut fx = Effects::new(1);
    while let Some(response) = worker.responses.recv().await {
        match response {
            Response::ResolveEvent { generation, event } => pane.on_event(generation, event),
            Response::Resolved { generation, result } => {
                assert!(result.is_ok(), "{:?}", result.err());
                pane.on_resolved(generation, result, &mut fx);
                if !pane.resolving() {
                    break;
                }
            }
            _ => {}
        }
    }
    assert!(!pane.built.rows.is_empty());
}

fn edits(sample: &Sample) -> [String; 2] {
    let text = samples::workspace_config(&sample.host);
    let pin = |v: &str| format!("{NAMESPACE}/cilium:{v}");
    [text.replace(&pin("1.14.0"), &pin("1.15.3")), text.clone()]
}

/// `provisioning dep tree` on the sample workspace, with the bench's cache: the peer.
fn cli_tree(sample: &Sample) -> Option<Duration> {
    let dir = |name: &str| {
        let path = sample.scratch.path().join(name);
        std::fs::create_dir_all(&path).expect("dir");
        path
    };
    let run = |ws: &Path| {
        Command::new(env!("CARGO_BIN_EXE_provisioning"))
            .args(["dep", "tree", "--plain-http", "--workspace"])
            .arg(ws)
            .env("PROVISIONING_CACHE_DIR", dir("cli-cache"))
            .env("PROVISIONING_DATA_DIR", dir("cli-data"))
            .env("PROVISIONING_CONFIG_DIR", dir("cli-config"))
            .env("DOCKER_CONFIG", dir("cli-docker"))
            .output()
    };
    let first = run(&sample.ws).ok()?;
    if !first.status.success() {
        println!(
            "dep tree peer: skipped, it failed: {}",
            String::from_utf8_lossy(&first.stderr)
        );
        return None;
    }
    let mut times: Vec<Duration> = (0..10)
        .map(|_| {
            let start = Instant::now();
            let _ = run(&sample.ws);
            start.elapsed()
        })
        .collect();
    times.sort();
    Some(times[times.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "OVER TARGET" }
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();

    let mut app = large_app();
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let mut step = true;
    criterion.bench_function("frame: dependencies 300 extensions 120x40", |b| {
        b.iter(|| frame(&mut term, &mut app, &mut step))
    });

    worker::resolve::set_debounce(Duration::ZERO);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sample = runtime.block_on(sample());
    let mut worker = {
        let _guard = runtime.enter();
        worker::spawn(
            sample.registries.clone(),
            BlobCache::open(sample.scratch.path().join("cache")).expect("cache"),
        )
    };
    let mut pane = DependenciesPane::new(sample.ws.clone());
    let texts = edits(&sample);
    // Warm: every tag list and config of both answers is in the cache.
    for text in &texts {
        runtime.block_on(edit_to_tree(&mut pane, &mut worker, text.clone()));
    }
    let mut flip = 0usize;
    criterion.bench_function("edit → re-resolved tree, sample workspace, warm", |b| {
        b.iter(|| {
            flip += 1;
            runtime.block_on(edit_to_tree(
                &mut pane,
                &mut worker,
                texts[flip % 2].clone(),
            ))
        })
    });
    criterion.final_summary();

    let (frame_time, rows) = mean_frame(500);
    let mut edits_times: Vec<Duration> = (0..40)
        .map(|i| {
            let start = Instant::now();
            runtime.block_on(edit_to_tree(&mut pane, &mut worker, texts[i % 2].clone()));
            start.elapsed()
        })
        .collect();
    edits_times.sort();
    let median = edits_times[edits_times.len() / 2];
    let peer = cli_tree(&sample);

    println!();
    println!("dependencies pane figures (target in brackets):");
    println!(
        "  frame, 300 extensions ({rows} tree rows) 120x40: {:.3} ms mean [≤ {} ms] {}",
        ms(frame_time),
        TARGET_FRAME.as_millis(),
        verdict(frame_time <= TARGET_FRAME)
    );
    println!(
        "  edit → re-resolved tree, sample workspace, warm cache: median {:.1} ms, min {:.1} ms, max {:.1} ms over {} edits [≤ {} ms] {}",
        ms(median),
        ms(edits_times[0]),
        ms(*edits_times.last().unwrap()),
        edits_times.len(),
        TARGET_EDIT.as_millis(),
        verdict(median <= TARGET_EDIT)
    );
    if let Some(peer) = peer {
        println!(
            "  peer: `provisioning dep tree` on the same workspace (new process, its own warm cache): median {:.1} ms; pane/peer {:.2}",
            ms(peer),
            median.as_secs_f64() / peer.as_secs_f64()
        );
    }
}

//! The workbench's responsiveness: frame time of the Registry table with 10,000 repositories
//! (half the visible rows described), of its tags beside a preview, and of Transfers with 200
//! jobs (drawn into a 120×40 `TestBackend`), time from start to the first
//! frame of `provisioning ui` (in tmux), and the memory 10,000 repositories take.
//!
//! Run with `cargo bench --bench workbench`. Prints each figure next to its target: frame
//! ≤ 4 ms, first frame ≤ 100 ms, memory ≤ 100 MiB. These are measurements, not assertions.

#[path = "../tests/common/workbench.rs"]
mod workbench;

use std::hint::black_box;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use criterion::Criterion;
use provisioning::tui::action::Action;
use provisioning::tui::app::App;
use provisioning::tui::screen;
use provisioning::tui::theme::Theme;
use provisioning::tui::worker::{Description, Request, Response};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use workbench::*;

const REGISTRY: &str = "registry.example:5000";
const REPOSITORIES: usize = 10_000;
const JOBS: u64 = 200;
const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;

const TARGET_FRAME: Duration = Duration::from_millis(4);
const TARGET_FIRST_FRAME: Duration = Duration::from_millis(100);
const TARGET_MEMORY: u64 = 100 << 20;

fn base_app() -> App {
    let mut app = app_with(
        REGISTRY,
        NAMESPACE,
        PathBuf::from("/nonexistent/workspace"),
        Theme::dark(),
    );
    app.take_requests();
    app
}

fn registry_app() -> App {
    let mut app = base_app();
    app.handle_response(Response::Repositories {
        registry: REGISTRY.to_string(),
        result: Ok(repository_entries(NAMESPACE, REPOSITORIES)),
    });
    app.registry.repos.select(REPOSITORIES / 2);
    // The rows on screen were asked about; every other answer is in.
    for (i, request) in app.take_requests().into_iter().enumerate() {
        if let Request::Describe { reference } = request
            && i % 2 == 0
        {
            let result = Ok(Description {
                version: Some("1.2.3".to_string()),
                kind: Some("taskserv".to_string()),
                description: Some(format!("The {} extension, described", reference.name())),
                ..Description::default()
            });
            app.handle_response(Response::Described { reference, result });
        }
    }
    app
}

/// The tags of one repository (60 versions) beside the preview of the selected one.
fn tags_app() -> App {
    let mut app = registry_app();
    app.apply(Action::Open);
    app.take_requests();
    let reference = app.registry.tags_of.clone().expect("tags requested");
    let tags: Vec<String> = (0..60).map(|i| format!("1.{}.{}", 60 - i, i % 7)).collect();
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    app.handle_response(Response::Tags {
        result: Ok(tag_entries(REGISTRY, &reference.repository, &tags)),
        reference,
    });
    for request in app.take_requests() {
        match request {
            Request::Describe { reference } => {
                let result = Ok(Description {
                    digest: Some(digest_of(&reference.to_string()).to_string()),
                    size: Some(19_310),
                    ..Description::default()
                });
                app.handle_response(Response::Described { reference, result });
            }
            Request::Inspect { reference } => app.handle_response(Response::Inspected {
                result: Ok(Box::new(extension_inspection(&reference))),
                reference,
            }),
            _ => {}
        }
    }
    app
}

fn transfers_app() -> App {
    let mut app = base_app();
    for id in 1..=JOBS {
        let fate = match id % 4 {
            0 => Fate::Running,
            1 => Fate::Done,
            2 => Fate::Failed,
            _ => Fate::Cancelled,
        };
        add_job(
            &mut app,
            id,
            &format!("extension-{id:03}"),
            4,
            1 << 20,
            2,
            fate,
        );
    }
    app.apply(Action::GoTransfers);
    app.transfers.selected = JOBS as usize / 2;
    app
}

fn terminal() -> Terminal<TestBackend> {
    Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("terminal")
}

/// One frame after a selection change (down, then up, alternating), as the run loop draws it.
fn frame(terminal: &mut Terminal<TestBackend>, app: &mut App, step: &mut bool) {
    app.apply(if *step { Action::Down } else { Action::Up });
    *step = !*step;
    // A preview the move asks for is answered at once, so the frame draws the detail;
    // descriptions stay pending (they show `…`).
    for request in app.take_requests() {
        if let Request::Inspect { reference } = request {
            app.handle_response(Response::Inspected {
                result: Ok(Box::new(extension_inspection(&reference))),
                reference,
            });
        }
    }
    terminal.draw(|f| screen::draw(f, app)).expect("draw");
    black_box(terminal.backend().buffer().area);
}

fn bench_frames(c: &mut Criterion) {
    let mut app = registry_app();
    let mut term = terminal();
    let mut step = true;
    c.bench_function("frame: registry table 10,000 repositories 120x40", |b| {
        b.iter(|| frame(&mut term, &mut app, &mut step))
    });
    let mut app = tags_app();
    let mut term = terminal();
    c.bench_function("frame: registry tags + preview 120x40", |b| {
        b.iter(|| frame(&mut term, &mut app, &mut step))
    });
    let mut app = transfers_app();
    let mut term = terminal();
    c.bench_function("frame: transfers 200 jobs 120x40", |b| {
        b.iter(|| frame(&mut term, &mut app, &mut step))
    });
}

/// Mean frame time over `frames` frames, measured directly for the summary.
fn mean_frame(mut app: App, frames: u32) -> Duration {
    let mut term = terminal();
    let mut step = true;
    for _ in 0..20 {
        frame(&mut term, &mut app, &mut step);
    }
    let start = Instant::now();
    for _ in 0..frames {
        frame(&mut term, &mut app, &mut step);
    }
    start.elapsed() / frames
}

/// VmRSS of this process, in bytes.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb << 10)
        .unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "OVER TARGET" }
}

/// A tmux server on its own socket, reading no configuration file, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-f", "/dev/null", "-L"])
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Start to first frame of `provisioning ui`, `runs` times: a window is opened in an
/// already running tmux server and its screen polled every 5 ms until the tab bar shows.
fn first_frames(runs: usize) -> Option<Vec<Duration>> {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("first frame: skipped, tmux not installed");
        return None;
    }
    let scratch = tempfile::tempdir().ok()?;
    let dir = |name: &str| {
        let path = scratch.path().join(name);
        std::fs::create_dir_all(&path).expect("temp dir");
        path.display().to_string()
    };
    let env = [
        format!("PROVISIONING_CACHE_DIR={}", dir("cache")),
        format!("PROVISIONING_DATA_DIR={}", dir("data")),
        format!("PROVISIONING_CONFIG_DIR={}", dir("config")),
        format!("DOCKER_CONFIG={}", dir("docker")),
    ];
    let cwd = dir("cwd");
    let tmux = Tmux {
        socket: format!("provisioning-bench-{}", std::process::id()),
    };
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "bench",
        "-x",
        "120",
        "-y",
        "40",
        "cat",
    ]);
    if !started.status.success() {
        println!(
            "first frame: skipped, tmux failed: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        return None;
    }
    let binary = env!("CARGO_BIN_EXE_provisioning");
    let mut times = Vec::new();
    for run in 0..runs {
        let name = format!("ui{run}");
        let target = format!("bench:{name}");
        let mut args = vec!["new-window", "-d", "-n", &name, "-c", &cwd, "env"];
        args.extend(env.iter().map(String::as_str));
        args.extend([binary, "ui"]);
        let start = Instant::now();
        let opened = tmux.run(&args);
        if !opened.status.success() {
            println!(
                "first frame: tmux new-window failed: {}",
                String::from_utf8_lossy(&opened.stderr)
            );
            return None;
        }
        let deadline = start + Duration::from_secs(10);
        loop {
            let screen = tmux.run(&["capture-pane", "-p", "-t", &target]);
            if String::from_utf8_lossy(&screen.stdout).contains("1 Registry") {
                times.push(start.elapsed());
                break;
            }
            if Instant::now() > deadline {
                println!("first frame: no tab bar after 10 s (run {run})");
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = tmux.run(&["kill-window", "-t", &target]);
    }
    Some(times)
}

/// Criterion's settings for these benchmarks (before command-line arguments).
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

pub fn main() {
    run(criterion().configure_from_args());
}

/// Measures everything and prints the figures.
pub fn run(mut criterion: Criterion) {
    // Memory first, before the benchmarks allocate.
    let before = rss();
    let app = registry_app();
    let mut term = terminal();
    term.draw(|f| screen::draw(f, &app)).expect("draw");
    let after = rss();
    black_box(&app);
    drop(app);

    bench_frames(&mut criterion);
    criterion.final_summary();

    let registry = mean_frame(registry_app(), 500);
    let tags = mean_frame(tags_app(), 500);
    let transfers = mean_frame(transfers_app(), 500);
    let firsts = first_frames(5);

    println!();
    println!("workbench figures (target in brackets):");
    println!(
        "  frame, registry table 10,000 repositories 120x40: {:.3} ms mean [≤ {} ms] {}",
        ms(registry),
        TARGET_FRAME.as_millis(),
        verdict(registry <= TARGET_FRAME)
    );
    println!(
        "  frame, registry tags + preview 120x40:           {:.3} ms mean [≤ {} ms] {}",
        ms(tags),
        TARGET_FRAME.as_millis(),
        verdict(tags <= TARGET_FRAME)
    );
    println!(
        "  frame, transfers 200 jobs 120x40:                {:.3} ms mean [≤ {} ms] {}",
        ms(transfers),
        TARGET_FRAME.as_millis(),
        verdict(transfers <= TARGET_FRAME)
    );
    if let Some(mut times) = firsts.filter(|t| !t.is_empty()) {
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "  first frame of `provisioning ui` (tmux, 5 ms polling): median {:.1} ms, min {:.1} ms, max {:.1} ms over {} runs [≤ {} ms] {}",
            ms(median),
            ms(times[0]),
            ms(*times.last().unwrap()),
            times.len(),
            TARGET_FIRST_FRAME.as_millis(),
            verdict(median <= TARGET_FIRST_FRAME)
        );
    }
    println!(
        "  memory, app with 10,000 repositories: RSS {:.1} MiB (was {:.1} MiB, +{:.1} MiB) [≤ {} MiB] {}",
        mib(after),
        mib(before),
        mib(after.saturating_sub(before)),
        TARGET_MEMORY >> 20,
        verdict(after <= TARGET_MEMORY)
    );
}

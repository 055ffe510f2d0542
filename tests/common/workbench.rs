//! Helpers for driving the workbench headless: keys, fixed fixtures built from the state
//! structs (no network), and a driver that feeds the app's requests to a real worker and
//! applies its answers until a condition holds.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use provisioning::oci::browse::{Inspection, RepositoryEntry, TagEntry};
use provisioning::oci::client::Descriptor;
use provisioning::oci::progress::{Direction, Outcome, TransferEvent};
use provisioning::oci::{Digest, Reference, ReferenceDefaults};
use provisioning::tui::app::App;
use provisioning::tui::clock::Clock;
use provisioning::tui::keymap::Keymap;
use provisioning::tui::panes::LoadState;
use provisioning::tui::panes::publish::Step;
use provisioning::tui::theme::Theme;
use provisioning::tui::worker::{Request, Response, WorkerHandle};

/// The namespace the samples are published under.
pub const NAMESPACE: &str = "provisioning-extensions";

/// A key without modifiers (uppercase letters carry SHIFT, as terminals send them).
pub fn key(code: KeyCode) -> KeyEvent {
    let modifiers = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    KeyEvent::new(code, modifiers)
}

pub fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

/// Presses each character of `text`.
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.handle_key(ch(c));
    }
}

/// An app on `registry` with the default keymap, drawing with `theme`, on a manual clock
/// (`app.clock().advance(…)` moves it).
pub fn app_with(registry: &str, namespace: &str, workspace_root: PathBuf, theme: Theme) -> App {
    let defaults = ReferenceDefaults {
        registry: registry.to_string(),
        namespace: namespace.to_string(),
    };
    App::new(
        defaults,
        Vec::new(),
        workspace_root,
        theme,
        Keymap::default(),
    )
    .with_clock(Clock::manual())
}

/// Nothing is loading, no transfer runs and nothing waits to be sent.
pub fn is_idle(app: &App) -> bool {
    let registry = &app.registry;
    let publish = &app.publish;
    let loading = [
        &registry.repos_state,
        &registry.tags_state,
        &registry.detail_state,
        &publish.validation,
        &publish.package_state,
        &publish.existing_state,
    ]
    .iter()
    .any(|s| **s == LoadState::Loading);
    let publishing = match publish.step {
        Step::Push => publish.push_result.is_none(),
        Step::Verify => publish.verified.is_none(),
        _ => false,
    };
    !loading && !publishing && app.transfers.running() == 0
}

/// Drives an app against a worker: requests out, answers in.
pub struct Driver {
    pub app: App,
    pub worker: WorkerHandle,
    /// Every answer applied so far, for assertions about what came back.
    pub seen: Vec<Response>,
}

impl Driver {
    pub fn new(app: App, worker: WorkerHandle) -> Driver {
        Driver {
            app,
            worker,
            seen: Vec::new(),
        }
    }

    pub fn press(&mut self, event: KeyEvent) {
        self.app.handle_key(event);
    }

    pub fn code(&mut self, code: KeyCode) {
        self.app.handle_key(key(code));
    }

    pub fn chars(&mut self, text: &str) {
        type_text(&mut self.app, text);
    }

    /// Sends what the app queued; returns the requests sent.
    pub fn flush(&mut self) -> Vec<Request> {
        let requests = self.app.take_requests();
        for request in &requests {
            self.worker
                .requests
                .send(request.clone())
                .expect("the worker is running");
        }
        requests
    }

    /// Applies answers until `done` holds (checked after every answer and when quiet), or
    /// panics after `deadline` naming `what`.
    pub async fn until(&mut self, what: &str, deadline: Duration, done: impl Fn(&App) -> bool) {
        let end = Instant::now() + deadline;
        loop {
            self.flush();
            if done(&self.app) {
                return;
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out after {deadline:?} waiting for {what}; last answers: {:#?}",
                self.seen.iter().rev().take(3).collect::<Vec<_>>()
            );
            self.receive(left, what).await;
        }
    }

    /// Applies the next answer if one comes within `left` (at most 100 ms); panics when the
    /// worker is gone, since no answer can come then.
    async fn receive(&mut self, left: Duration, what: &str) {
        let wait = left.min(Duration::from_millis(100));
        match tokio::time::timeout(wait, self.worker.responses.recv()).await {
            Ok(Some(response)) => {
                self.seen.push(response.clone());
                self.app.handle_response(response);
            }
            Ok(None) => panic!(
                "the worker stopped (its answers' channel is closed) while waiting for {what}; \
                 last answers: {:#?}",
                self.seen.iter().rev().take(3).collect::<Vec<_>>()
            ),
            Err(_quiet) => {}
        }
    }

    /// Applies answers until one matching `wanted` arrives (earlier ones included).
    pub async fn until_answer(
        &mut self,
        what: &str,
        deadline: Duration,
        wanted: impl Fn(&Response) -> bool,
    ) {
        let end = Instant::now() + deadline;
        loop {
            self.flush();
            if self.seen.iter().any(&wanted) {
                return;
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out after {deadline:?} waiting for {what}"
            );
            self.receive(left, what).await;
        }
    }

    /// Applies answers until the app is idle.
    pub async fn settle(&mut self) {
        self.until("the app to be idle", Duration::from_secs(30), is_idle)
            .await;
    }
}

pub fn digest_of(text: &str) -> Digest {
    Digest::sha256_of(text.as_bytes())
}

/// `count` repositories named `repo-00000` … under `namespace`.
pub fn repository_entries(namespace: &str, count: usize) -> Vec<RepositoryEntry> {
    (0..count)
        .map(|i| {
            let name = format!("repo-{i:05}");
            RepositoryEntry {
                repository: format!("{namespace}/{name}"),
                name,
            }
        })
        .collect()
}

/// Repositories with the given names under `namespace`.
pub fn named_repositories(namespace: &str, names: &[&str]) -> Vec<RepositoryEntry> {
    names
        .iter()
        .map(|name| RepositoryEntry {
            repository: format!("{namespace}/{name}"),
            name: name.to_string(),
        })
        .collect()
}

/// Tag entries for `repository` (full reference prefix `registry/repository`).
pub fn tag_entries(registry: &str, repository: &str, tags: &[&str]) -> Vec<TagEntry> {
    let artifact = repository
        .rsplit('/')
        .next()
        .unwrap_or(repository)
        .to_string();
    tags.iter()
        .map(|tag| TagEntry {
            artifact: artifact.clone(),
            tag: tag.to_string(),
            version: semver::Version::parse(tag).ok().map(|v| v.to_string()),
            reference: format!("{registry}/{repository}:{tag}"),
        })
        .collect()
}

/// A fixed inspection of an extension with two dependencies.
pub fn extension_inspection(reference: &Reference) -> Inspection {
    let config = serde_json::json!({
        "name": "kubernetes",
        "type": "taskserv",
        "version": "1.31.1",
        "description": "Production-grade container orchestration",
        "min_provisioning_version": "3.4.0",
        "dependencies": { "containerd": ">=2.0.0", "etcd": ">=3.5.12" },
    });
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let layer = Descriptor {
        media_type: provisioning::extension::package::CONTENT_MEDIA_TYPE.to_string(),
        digest: digest_of("kubernetes content"),
        size: 18_432,
        artifact_type: None,
        annotations: BTreeMap::from([(
            "org.opencontainers.image.title".to_string(),
            "kubernetes-1.31.1.tar.gz".to_string(),
        )]),
        platform: None,
    };
    let manifest_digest = digest_of("kubernetes manifest");
    Inspection {
        reference: reference.with_digest(manifest_digest.clone()).to_string(),
        digest: manifest_digest,
        media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
        artifact_type: Some(provisioning::extension::package::ARTIFACT_TYPE.to_string()),
        size: 19_310,
        annotations: BTreeMap::from([
            (
                "org.opencontainers.image.created".to_string(),
                "2024-09-12T08:00:00Z".to_string(),
            ),
            (
                "org.opencontainers.image.version".to_string(),
                "1.31.1".to_string(),
            ),
        ]),
        config: Some(Descriptor {
            media_type: provisioning::extension::package::CONFIG_MEDIA_TYPE.to_string(),
            digest: Digest::sha256_of(&config_bytes),
            size: config_bytes.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
            platform: None,
        }),
        config_content: Some(config),
        layers: vec![layer],
        manifests: Vec::new(),
        subject: None,
        referrers: Vec::new(),
    }
}

/// What a finished job looks like when added with [`add_job`].
#[derive(Clone, Debug)]
pub enum Fate {
    Running,
    Done,
    Failed,
    Cancelled,
}

/// Adds a pull job with `blobs` blobs of `blob_size` bytes, `done_blobs` of them finished
/// (the next one half way), ending as `fate`. Times come from the app's clock: a finished job
/// ran for 4 s and ended 6 s ago, a running one started 100 s ago, so on a manual clock rates
/// and ETAs are the same on every run.
pub fn add_job(
    app: &mut App,
    id: u64,
    name: &str,
    blobs: usize,
    blob_size: u64,
    done_blobs: usize,
    fate: Fate,
) {
    let reference = Reference {
        registry: "registry.example:5000".to_string(),
        repository: format!("{NAMESPACE}/{name}"),
        tag: Some("1.0.0".to_string()),
        digest: None,
    };
    let dest = PathBuf::from(format!("/srv/extensions/{name}"));
    let request = Request::Pull {
        job: id,
        reference: reference.clone(),
        dest: dest.clone(),
    };
    app.transfers.add(
        id,
        "pull",
        format!("{reference} → {}", dest.display()),
        request,
    );
    for b in 0..blobs {
        let digest = digest_of(&format!("{name} blob {b}"));
        app.transfers.on_event(
            id,
            TransferEvent::Started {
                digest: digest.clone(),
                total: blob_size,
                direction: Direction::Pull,
            },
        );
        if b < done_blobs {
            app.transfers.on_event(
                id,
                TransferEvent::Finished {
                    digest,
                    outcome: if b % 2 == 0 {
                        Outcome::Transferred
                    } else {
                        Outcome::Cached
                    },
                },
            );
        } else if b == done_blobs {
            app.transfers.on_event(
                id,
                TransferEvent::Progress {
                    digest,
                    done: blob_size / 2,
                    total: blob_size,
                },
            );
        }
    }
    let result = match fate {
        Fate::Running => None,
        Fate::Done => Some(Ok(format!("{blobs} files in {}", dest.display()))),
        Fate::Failed => Some(Err(format!(
            "cannot reach registry.example:5000: connection refused (while fetching {name})"
        ))),
        Fate::Cancelled => Some(Err("cancelled".to_string())),
    };
    if let Some(result) = result {
        app.transfers.on_done(id, result);
    }
    let now = app.clock().now();
    let job = app.transfers.job_mut(id).expect("job was added");
    match job.finished {
        Some(_) => {
            job.started = now - Duration::from_secs(10);
            job.finished = Some(now - Duration::from_secs(6));
        }
        None => job.started = now - Duration::from_secs(100),
    }
}

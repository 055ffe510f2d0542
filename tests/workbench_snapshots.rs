//! What each pane and overlay looks like, drawn into a `TestBackend` from fixed state (no
//! network, a clock that stands still) at 120×40 and 80×24, in the dark theme and without
//! colours. Every snapshot holds the text, a style mask under every styled row (a letter per
//! cell) and a legend of the letters' colours and modifiers, so a changed colour fails as
//! surely as a changed word. Nothing is filtered: digests, sizes, rates and ETAs are fixed.

mod common;

use common::workbench;

use std::path::PathBuf;

use crossterm::event::KeyCode;
use provisioning::extension::artifact::ExtensionArtifact;
use provisioning::oci::Reference;
use provisioning::oci::client::Descriptor;
use provisioning::tui::action::Action;
use provisioning::tui::app::{App, Overlay};
use provisioning::tui::panes::LoadState;
use provisioning::tui::panes::publish::{PickerEntry, Step};
use provisioning::tui::panes::registry::Level;
use provisioning::tui::theme::Theme;
use provisioning::tui::worker::{
    Description, PackageSummary, Request, Response, SignatureSummary, ValidationSummary,
};
use ratatui::style::{Color, Modifier};

use common::snapshot::*;
use workbench::*;

const REGISTRY: &str = "registry.example:5000";

/// The bundled samples' names, in catalog order.
const NAMES: [&str; 37] = [
    "aws",
    "buildkit",
    "cilium",
    "coder",
    "containerd",
    "coredns",
    "crio",
    "crun",
    "cycle-a",
    "cycle-b",
    "etcd",
    "external-nfs",
    "gitea",
    "ip-aliases",
    "kms",
    "kubectl",
    "kubernetes",
    "legacy-dash",
    "local",
    "mayastor",
    "nushell",
    "oci-reg",
    "oras",
    "os",
    "podman",
    "postgres",
    "proxy",
    "radicle",
    "redis",
    "resolv",
    "rook-ceph",
    "runc",
    "upcloud",
    "web",
    "web-cicd",
    "webhook",
    "youki",
];

/// A fresh app on the fixture registry with `theme`; its first request is dropped.
fn app(theme: &Theme) -> App {
    let mut app = app_with(
        REGISTRY,
        NAMESPACE,
        PathBuf::from("/nonexistent/workspace"),
        theme.clone(),
    );
    app.take_requests();
    app
}

fn with_repositories(theme: &Theme) -> App {
    let mut app = app(theme);
    app.handle_response(Response::Repositories {
        registry: REGISTRY.to_string(),
        result: Ok(named_repositories(NAMESPACE, &NAMES)),
    });
    let kubernetes = NAMES.iter().position(|n| *n == "kubernetes").unwrap();
    app.registry.repos.select(kubernetes);
    // The visible rows were asked for; some answers are in, one failed, the rest are on
    // their way.
    let described: Vec<Reference> = app
        .take_requests()
        .into_iter()
        .filter_map(|r| match r {
            Request::Describe { reference } => Some(reference),
            _ => None,
        })
        .collect();
    assert!(
        described.len() > 20,
        "the visible rows are described: {described:?}"
    );
    for reference in described {
        let name = reference.name().to_string();
        let result = match name.as_str() {
            "coder" => Err("cannot reach registry.example:5000".to_string()),
            "aws" => Ok(description(
                "provider",
                "2.1.0",
                "Amazon Web Services: VPCs, instances and load balancers",
            )),
            "buildkit" => Ok(description(
                "taskserv",
                "0.16.0",
                "Concurrent, cache-efficient builds",
            )),
            "cilium" => Ok(description(
                "taskserv",
                "1.16.5",
                "eBPF networking, security and observability",
            )),
            "containerd" => Ok(description(
                "taskserv",
                "2.0.1",
                "An industry-standard container runtime",
            )),
            "etcd" => Ok(description(
                "taskserv",
                "3.5.12",
                "Distributed reliable key-value store",
            )),
            "kubernetes" => Ok(description(
                "taskserv",
                "1.31.1",
                "Production-grade container orchestration",
            )),
            "web" => Ok(description("cluster", "1.0.0", "A web cluster")),
            _ => continue,
        };
        app.handle_response(Response::Described { reference, result });
    }
    app
}

fn description(kind: &str, version: &str, text: &str) -> Description {
    Description {
        version: Some(version.to_string()),
        kind: Some(kind.to_string()),
        description: Some(text.to_string()),
        ..Description::default()
    }
}

fn with_tags(theme: &Theme) -> App {
    let mut app = with_repositories(theme);
    app.apply(Action::Open);
    app.take_requests();
    let reference = app.registry.tags_of.clone().expect("tags requested");
    app.handle_response(Response::Tags {
        result: Ok(tag_entries(
            REGISTRY,
            &reference.repository,
            &["1.31.1", "1.30.2", "1.29.3", "1.28.0", "1.27.11", "latest"],
        )),
        reference,
    });
    // The workspace asks for a range: the tags it admits are marked.
    app.registry.set_workspace_modules(vec![(
        "kubernetes".to_string(),
        ">=1.29.0, <1.31.0".to_string(),
    )]);
    // Every visible tag is described (the last one failed) and the first is previewed.
    let mut inspected = None;
    for request in app.take_requests() {
        match request {
            Request::Describe { reference } => {
                let tag = reference.tag.clone().unwrap_or_default();
                let result = match tag.as_str() {
                    "latest" => Err("manifest unknown".to_string()),
                    "1.27.11" => continue,
                    _ => Ok(Description {
                        version: Some(tag.clone()),
                        digest: Some(digest_of(&format!("kubernetes {tag}")).to_string()),
                        size: Some(match tag.as_str() {
                            "1.31.1" => 19_310,
                            "1.30.2" => 18_904,
                            "1.29.3" => 17_655,
                            _ => 16_020,
                        }),
                        ..description("taskserv", &tag, "Production-grade container orchestration")
                    }),
                };
                app.handle_response(Response::Described { reference, result });
            }
            Request::Inspect { reference } => inspected = Some(reference),
            _ => {}
        }
    }
    let reference = inspected.expect("the selected tag is previewed");
    assert_eq!(reference.tag.as_deref(), Some("1.31.1"));
    app.handle_response(Response::Inspected {
        result: Ok(Box::new(extension_inspection(&reference))),
        reference,
    });
    // The preview asks which signatures the artifact has: one, from a key the workspace trusts.
    let asked = app.take_requests();
    let [Request::Signatures { reference, .. }] = asked.as_slice() else {
        panic!("the preview asks for the signatures: {asked:?}");
    };
    app.handle_response(Response::Signatures {
        reference: reference.clone(),
        result: Ok(SignatureSummary {
            count: 1,
            verified_with: Some("keys/release.pub".into()),
            trusted_keys: 1,
        }),
    });
    app
}

fn with_detail(theme: &Theme) -> App {
    let mut app = with_tags(theme);
    app.apply(Action::Open);
    assert!(
        app.take_requests().is_empty(),
        "the preview's detail is shown, not fetched again"
    );
    assert_eq!(app.registry.level, Level::Detail);
    assert_eq!(app.registry.detail_state, LoadState::Loaded);
    app
}

fn with_transfers(theme: &Theme) -> App {
    let mut app = app(theme);
    add_job(&mut app, 1, "kubernetes", 2, 18_432, 2, Fate::Done);
    add_job(&mut app, 2, "postgres", 2, 2_500_000, 1, Fate::Failed);
    add_job(&mut app, 3, "cilium", 3, 700_000, 1, Fate::Cancelled);
    add_job(&mut app, 4, "harbor", 5, 3_145_728, 3, Fate::Running);
    app.apply(Action::GoTransfers);
    app
}

fn publish_app(theme: &Theme, step: Step) -> App {
    let mut app = app(theme);
    app.apply(Action::GoPublish);
    let publish = &mut app.publish;
    let root = PathBuf::from("/work/extensions/taskservs");
    publish.cwd = root.clone();
    publish.entries = ["containerd", "etcd", "notes", "redis"]
        .iter()
        .map(|name| PickerEntry {
            name: name.to_string(),
            path: root.join(name),
            extension: *name != "notes",
        })
        .collect();
    publish.selected = 3;
    if step == Step::Pick {
        return app;
    }
    let version = semver::Version::new(0, 3, 0);
    publish.dir = Some(root.join("redis"));
    publish.summary = Some(ValidationSummary {
        name: "redis".into(),
        kind: "taskserv".into(),
        version: version.clone(),
        warnings: vec!["README.md: warning: no usage section".into()],
    });
    publish.validation = LoadState::Loaded;
    publish.package = Some(PackageSummary {
        files: 12,
        size: 5_321,
        digest: digest_of("redis content"),
        manifest_digest: digest_of("redis manifest"),
        name: "redis".into(),
        version,
        artifact: Box::new(redis_artifact()),
    });
    publish.package_state = LoadState::Loaded;
    publish.existing = tag_entries(REGISTRY, &format!("{NAMESPACE}/redis"), &["0.2.0", "0.1.0"]);
    publish.existing_state = LoadState::Loaded;
    publish.step = step;
    if step == Step::Done {
        publish.push_job = Some(1);
        publish.push_result = Some(Ok(format!("pushed {}", digest_of("redis manifest"))));
        publish.verified = Some(Ok(digest_of("redis manifest")));
    }
    app
}

/// What packaging the redis fixture built.
fn redis_artifact() -> ExtensionArtifact {
    ExtensionArtifact {
        config: b"{}".to_vec(),
        config_digest: digest_of("redis config"),
        layer: Descriptor {
            media_type: provisioning::extension::package::CONTENT_MEDIA_TYPE.to_string(),
            digest: digest_of("redis content"),
            size: 5_321,
            artifact_type: None,
            annotations: Default::default(),
            platform: None,
        },
        manifest: b"{}".to_vec(),
        digest: digest_of("redis manifest"),
    }
}

fn with_help(theme: &Theme) -> App {
    let mut app = with_repositories(theme);
    app.handle_key(ch('?'));
    assert!(matches!(app.overlay, Some(Overlay::Help)));
    app
}

fn with_palette(theme: &Theme) -> App {
    let mut app = with_repositories(theme);
    app.handle_key(ch(':'));
    app.handle_key(key(KeyCode::Down));
    assert!(matches!(app.overlay, Some(Overlay::Palette { .. })));
    app
}

/// `d` on a tag, with part of the confirmation typed: the question and the answer line both
/// show, at 80 columns too.
fn with_delete_prompt(theme: &Theme) -> App {
    let mut app = with_tags(theme);
    app.handle_key(ch('d'));
    type_text(&mut app, "1.31");
    assert!(matches!(app.overlay, Some(Overlay::Prompt { .. })));
    app
}

fn with_filtered_palette(theme: &Theme) -> App {
    let mut app = with_repositories(theme);
    app.handle_key(ch(':'));
    type_text(&mut app, "pull");
    app
}

#[test]
fn registry_repositories() {
    snapshot_all("registry_repositories", with_repositories);
}

#[test]
fn registry_tags() {
    snapshot_all("registry_tags", with_tags);
}

#[test]
fn registry_detail() {
    snapshot_all("registry_detail", with_detail);
}

#[test]
fn transfers() {
    snapshot_all("transfers", with_transfers);
}

#[test]
fn publish_pick() {
    snapshot_all("publish_pick", |theme| publish_app(theme, Step::Pick));
}

#[test]
fn publish_target() {
    snapshot_all("publish_target", |theme| publish_app(theme, Step::Target));
}

#[test]
fn publish_done() {
    snapshot_all("publish_done", |theme| publish_app(theme, Step::Done));
}

#[test]
fn help_overlay() {
    snapshot_all("help", with_help);
}

#[test]
fn delete_prompt() {
    snapshot_all("delete_prompt", with_delete_prompt);
}

#[test]
fn palette_overlay() {
    snapshot_all("palette", with_palette);
}

#[test]
fn palette_filtered() {
    snapshot_all("palette_filtered", with_filtered_palette);
}

/// The selection stays visible without colors: its row is reversed.
#[test]
fn selection_is_visible_without_colors() {
    let app = with_repositories(&Theme::dark().no_color());
    let buffer = draw(&app, 80, 24);
    let row = (0..24)
        .find(|&y| {
            let line: String = (0..80).map(|x| buffer[(x, y)].symbol()).collect();
            line.contains(" kubernetes")
        })
        .expect("kubernetes is drawn");
    for x in 1..79 {
        let cell = &buffer[(x, row)];
        assert_eq!(
            (cell.fg, cell.bg),
            (Color::Reset, Color::Reset),
            "column {x}"
        );
        assert!(
            cell.modifier.contains(Modifier::REVERSED),
            "column {x} of the selected row is not reversed:\n{}",
            text(&app, 80, 24)
        );
    }
}

/// Every key of the pane shown, its own and those that work everywhere, fits in the help at
/// the smallest supported size.
#[test]
fn help_lists_every_action_at_80x24() {
    let app = with_help(&Theme::dark());
    let text = text(&app, 80, 24);
    let shown = [
        app.keymap.section_actions("registry"),
        app.keymap.global_actions(),
    ]
    .concat();
    assert!(shown.contains(&Action::Pull) && shown.contains(&Action::Quit));
    let missing: Vec<&str> = shown
        .iter()
        .map(|a| a.describe())
        .filter(|d| !text.contains(d))
        .collect();
    assert!(
        missing.is_empty(),
        "not shown in the help at 80×24: {missing:?}\n{text}"
    );
}

/// Field names in the detail are followed by a space, also the longest.
#[test]
fn detail_keys_stay_apart_from_values() {
    let app = with_detail(&Theme::dark());
    let text = text(&app, 120, 40);
    let line = text
        .lines()
        .find(|l| l.contains("min_provisioning_version"))
        .expect("the field is shown");
    assert!(
        line.contains("min_provisioning_version 3.4.0")
            || line.contains("min_provisioning_version  "),
        "{line}"
    );
}

/// How to get help and how to quit stay in the hint bar at 80 columns.
#[test]
fn hints_keep_help_and_quit_at_80_columns() {
    for app in [
        with_repositories(&Theme::dark()),
        with_detail(&Theme::dark()),
        with_transfers(&Theme::dark()),
    ] {
        let text = text(&app, 80, 24);
        let hints = text.lines().last().unwrap_or_default();
        assert!(
            hints.contains("? help") && hints.contains("q quit"),
            "{hints}"
        );
    }
}

/// The palette's selection stays on screen when moved past the rows that fit.
#[test]
fn palette_selection_stays_visible_at_80x24() {
    let mut app = with_repositories(&Theme::dark());
    app.handle_key(ch(':'));
    let last = Action::ALL.len() - 1;
    for _ in 0..last {
        app.handle_key(key(KeyCode::Down));
    }
    let text = text(&app, 80, 24);
    let name = Action::ALL[last].name();
    assert!(
        text.contains(&format!(" {name} ")),
        "{name} is selected but not shown:\n{text}"
    );
}

//! The workbench: a terminal UI over the same domain calls as the CLI. Three tasks joined by
//! channels: input (terminal events), the worker (network, registry, packaging), and this
//! loop, which updates the app and redraws only when something changed.

pub mod action;
pub mod app;
pub mod clock;
pub mod input;
pub mod keymap;
pub mod list;
pub mod panes;
pub mod screen;
pub mod theme;
pub mod view;
pub mod worker;

use std::io::Stdout;
use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use crossterm::{execute, terminal};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::oci::ReferenceDefaults;
use crate::oci::cache::BlobCache;
use crate::oci::client::Registries;
use app::App;
use keymap::Keymap;
use theme::Theme;

/// What the workbench opens on.
pub struct WorkbenchOptions {
    pub defaults: ReferenceDefaults,
    /// Registries offered besides the default (the workspace's, logged-in ones).
    pub registries: Vec<String>,
    /// Where the Publish pane's file picker starts.
    pub workspace_root: PathBuf,
    /// The workspace the Dependencies and Workspace panes show (where one would be created
    /// when there is none).
    pub workspace: PathBuf,
    pub theme: String,
}

/// Restores the terminal when dropped, also on errors and panics.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> std::io::Result<TerminalGuard> {
        terminal::enable_raw_mode()?;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            crossterm::event::EnableMouseCapture
        )?;
        Ok(TerminalGuard)
    }
}

fn restore_terminal() {
    let _ = execute!(
        std::io::stdout(),
        crossterm::event::DisableMouseCapture,
        terminal::LeaveAlternateScreen
    );
    let _ = terminal::disable_raw_mode();
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Runs the workbench until the user quits.
pub async fn run(
    options: WorkbenchOptions,
    registries: Registries,
    cache: BlobCache,
) -> color_eyre::Result<()> {
    let theme = Theme::load(&options.theme)?.for_environment();
    let keymap = Keymap::load()?;
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous_hook(info);
    }));
    let _guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    terminal.clear()?;
    let mut worker = worker::spawn(registries, cache);
    let mut app = App::new(
        options.defaults,
        options.registries,
        options.workspace_root,
        theme,
        keymap,
    )
    .with_workspace(options.workspace);
    let result = event_loop(&mut terminal, &mut app, &mut worker).await;
    // Cancel what still runs: dropping the sender ends the worker, jobs are aborted.
    for job in app
        .transfers
        .jobs
        .iter()
        .filter(|j| j.state == panes::transfers::JobState::Running)
    {
        let _ = worker
            .requests
            .send(worker::Request::CancelJob { job: job.id });
    }
    result
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    worker: &mut worker::WorkerHandle,
) -> color_eyre::Result<()> {
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut dirty = true;
    loop {
        for request in app.take_requests() {
            let _ = worker.requests.send(request);
        }
        if app.quit {
            return Ok(());
        }
        if dirty {
            terminal.draw(|frame| screen::draw(frame, app))?;
            dirty = false;
        }
        tokio::select! {
            event = input.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind == crossterm::event::KeyEventKind::Press => {
                    app.handle_key(key);
                    dirty = true;
                }
                Some(Ok(Event::Mouse(mouse))) => {
                    app.handle_mouse(mouse);
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            Some(response) = worker.responses.recv() => {
                app.handle_response(response);
                // Coalesce a burst of progress events into one frame.
                while let Ok(more) = worker.responses.try_recv() {
                    app.handle_response(more);
                }
                dirty = true;
            }
            _ = tick.tick() => {
                if app.tick() {
                    dirty = true;
                }
            }
        }
    }
}

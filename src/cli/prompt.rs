//! Questions asked on the terminal: confirmations and passwords (not echoed).

use std::io::{BufRead, IsTerminal, Write};

use color_eyre::eyre::Result;

/// Reads one line from stdin after printing `question` to stderr.
pub fn ask(question: &str) -> Result<String> {
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Asks for a secret with echo turned off on a terminal.
pub fn ask_secret(question: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(super::exit::usage(
            "no terminal to ask for the password on; pipe it in with --password-stdin",
        ));
    }
    let _echo_off = EchoOff::new();
    let answer = ask(question);
    eprintln!();
    answer
}

/// Turns terminal echo off until dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed termios owned here.
        unsafe {
            let mut term: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut term) != 0 {
                return EchoOff(None);
            }
            let saved = term;
            term.c_lflag &= !libc::ECHO;
            term.c_lflag |= libc::ECHONL;
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &term);
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the settings read in `new`.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved);
            }
        }
    }
}

/// Whether the user confirms by typing `expected`.
pub fn confirm_by_typing(question: &str, expected: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(super::exit::usage(
            "refusing to delete without a terminal to confirm on; pass --yes",
        ));
    }
    Ok(ask(question)?.trim() == expected)
}

//! Rendering results: aligned text for people, JSON or YAML for scripts.

use super::exit::{out, outln};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Yaml,
}

/// Prints `value` as JSON or YAML; returns false for `table`, which the caller renders itself.
pub fn print_structured<T: Serialize>(format: OutputFormat, value: &T) -> color_eyre::Result<bool> {
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(value)?),
        OutputFormat::Yaml => out!("{}", serde_yaml::to_string(value)?),
        OutputFormat::Table => return Ok(false),
    }
    Ok(true)
}

/// Prints `key  value` rows with the keys aligned.
pub fn print_fields(rows: &[(&str, String)]) -> color_eyre::Result<()> {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        outln!("{key:<width$}  {value}");
    }
    Ok(())
}

pub use crate::units::human_bytes;

/// Prints a table: boxed on a terminal, plain aligned columns when piped (stable for scripts).
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) -> color_eyre::Result<()> {
    use std::io::IsTerminal;
    out!(
        "{}",
        render_table(headers, rows, std::io::stdout().is_terminal())
    );
    Ok(())
}

pub fn render_table(headers: &[&str], rows: &[Vec<String>], boxed: bool) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let pad =
        |text: &str, width: usize| format!("{text}{}", " ".repeat(width - text.chars().count()));
    let mut out = String::new();
    if boxed {
        let line = |l: &str, m: &str, r: &str| {
            let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
            format!("{l}{}{r}\n", parts.join(m))
        };
        let row_text = |cells: Vec<String>| {
            let parts: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!(" {} ", pad(c, *w)))
                .collect();
            format!("│{}│\n", parts.join("│"))
        };
        out.push_str(&line("┌", "┬", "┐"));
        out.push_str(&row_text(headers.iter().map(|h| h.to_string()).collect()));
        out.push_str(&line("├", "┼", "┤"));
        for row in rows {
            out.push_str(&row_text(row.clone()));
        }
        out.push_str(&line("└", "┴", "┘"));
    } else {
        let mut emit = |cells: Vec<String>| {
            let last = cells.len().saturating_sub(1);
            let parts: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| if i == last { c.clone() } else { pad(c, *w) })
                .collect();
            out.push_str(parts.join("  ").trim_end());
            out.push('\n');
        };
        emit(headers.iter().map(|h| h.to_uppercase()).collect());
        for row in rows {
            emit(row.clone());
        }
    }
    out
}

#[cfg(test)]
mod table_tests {
    use super::render_table;

    #[test]
    fn tables() {
        let rows = vec![vec!["redis".to_string(), "1.0.0".to_string()]];
        assert_eq!(
            render_table(&["artifact", "version"], &rows, true),
            "┌──────────┬─────────┐\n│ artifact │ version │\n├──────────┼─────────┤\n│ redis    │ 1.0.0   │\n└──────────┴─────────┘\n"
        );
        assert_eq!(
            render_table(&["artifact", "version"], &rows, false),
            "ARTIFACT  VERSION\nredis     1.0.0\n"
        );
    }
}

//! Printing results: a human table by default, one JSON object with `--json`.
use serde::Serialize;

pub use crate::error::ClosedStdout;

/// A result a command prints. JSON comes from `Serialize`; the table from `human`.
pub trait Report: Serialize {
    fn human(&self) -> String;
}

/// Print `report` on stdout in the requested form.
pub fn print(report: &impl Report, json: bool) -> anyhow::Result<()> {
    if json {
        write_stdout(&format!("{}\n", serde_json::to_string_pretty(report)?))
    } else {
        write_stdout(&report.human())
    }
}

/// Everything a command prints on stdout goes through here: a reader that
/// has gone away (`capacity alerts | head -1`) becomes [`ClosedStdout`],
/// which ends the program quietly, as command-line tools do, instead of
/// `println!`'s panic.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(ClosedStdout.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
        Ok(()) => Ok(()),
    }
}

/// The name serde gives `value` (a unit enum variant), for tables: the
/// JSON's word, never a second spelling of it.
pub fn serde_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        other => panic!("serde_name of a value that is not a unit variant: {other:?}"),
    }
}

/// A plain text table: left-aligned columns two spaces apart, no borders, no
/// trailing blanks (comfy-table with no style).
pub struct Table {
    table: comfy_table::Table,
}

impl Table {
    pub fn new<S: ToString>(header: impl IntoIterator<Item = S>) -> Self {
        let mut table = comfy_table::Table::new();
        table.load_style(comfy_table::presets::NOTHING).set_header(cells(header));
        Self { table }
    }

    pub fn row<S: ToString>(&mut self, row: impl IntoIterator<Item = S>) -> &mut Self {
        self.table.add_row(cells(row));
        self
    }

    pub fn render(&self) -> String {
        // Columns exist once a row has them, so the padding is set here.
        let mut table = self.table.clone();
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        let mut out = table.trim_fmt();
        out.push('\n');
        out
    }
}

fn cells<S: ToString>(cells: impl IntoIterator<Item = S>) -> Vec<String> {
    cells.into_iter().map(|c| c.to_string()).collect()
}

/// Key/value lines for one-record results.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
}

/// A field in its command-line form (its Display, which its FromStr reads back).
pub fn as_text<S: serde::Serializer>(value: &impl std::fmt::Display, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_json_words() {
        #[derive(Serialize)]
        #[serde(rename_all = "kebab-case")]
        enum Shape {
            RateNotReached,
        }
        assert_eq!(serde_name(&Shape::RateNotReached), "rate-not-reached");
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(["a", "long header"]);
        t.row(["wide cell", "x"]);
        assert_eq!(t.render(), "a          long header\nwide cell  x\n");
    }
}

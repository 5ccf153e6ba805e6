//! capacity-user/src/memory/kernels.toml: the struct sizes of the kernels
//! capacity knows without their BTF. Each row comes from a kernel's own BTF
//! as `capacity verify --json` reads it (`btf_struct_sizes`): in the VMs
//! (`cargo xtask vm --write-kernel-sizes`) and on this host
//! (`cargo xtask kernel-sizes`). Every `cargo xtask vm` checks the rows of
//! the kernels it boots.
use std::{fs, path::PathBuf, process::Command};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::{
    setup::{ensure_toolchain, step},
    tasks::{build_release_capacity, is_root},
    workspace::workspace_root,
};

/// The fields of `StructSizes` (capacity-user/src/memory/btf.rs), in the file's order.
const FIELDS: &[&str] = &[
    "bpf_htab",
    "htab_bucket",
    "htab_elem",
    "llist_node",
    "bpf_array",
    "bpf_ringbuf_map",
    "ringbuf_consumer_pos",
    "has_map_mem_usage",
];

const HEADER: &str = "\
# Struct sizes of the kernels capacity knows, as each kernel's own BTF gives
# them: `capacity estimate --kernel X.Y` uses the row of series X.Y when it has
# no BTF of that kernel. Written by xtask, do not edit by hand:
#   cargo xtask vm --kernel X.Y --write-kernel-sizes   (a Debian cloud kernel)
#   cargo xtask kernel-sizes                           (this host's kernel)
# `cargo xtask vm` and the memory tests check the rows against the kernels.
";

pub fn table_path() -> PathBuf {
    workspace_root().join("capacity-user/src/memory/kernels.toml")
}

/// One kernel's row: its series, release and sizes (in FIELDS order).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub series: String,
    pub release: String,
    pub sizes: Vec<(String, toml::Value)>,
}

impl Row {
    /// From `uname -r` and the `btf_struct_sizes` object of `capacity verify --json`.
    pub fn from_verify(release: &str, sizes: &Value) -> Result<Self> {
        let object = sizes.as_object().context("capacity verify printed no btf_struct_sizes (no BTF?)")?;
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            bail!("capacity reports a struct size `{unknown}` that xtask's FIELDS list lacks: add it");
        }
        let sizes = FIELDS
            .iter()
            .map(|&field| {
                let value = match &object.get(field) {
                    Some(Value::Number(n)) => toml::Value::Integer(n.as_i64().context("size out of range")?),
                    Some(Value::Bool(b)) => toml::Value::Boolean(*b),
                    _ => bail!("{release}: its BTF does not describe `{field}`: capacity cannot model it exactly"),
                };
                Ok((field.to_string(), value))
            })
            .collect::<Result<_>>()?;
        Ok(Self { series: series_of(release)?, release: release.to_string(), sizes })
    }

    fn from_toml(table: &toml::Table) -> Result<Self> {
        let text = |key: &str| table.get(key).and_then(toml::Value::as_str).map(str::to_string);
        let series = text("series").context("a row without `series`")?;
        let release = text("release").context("a row without `release`")?;
        let sizes = FIELDS
            .iter()
            .map(|&f| Ok((f.to_string(), table.get(f).cloned().with_context(|| format!("{series}: no `{f}`"))?)))
            .collect::<Result<_>>()?;
        Ok(Self { series, release, sizes })
    }

    fn render(&self) -> String {
        let mut out = format!("\n[[kernel]]\nseries = \"{}\"\nrelease = \"{}\"\n", self.series, self.release);
        for (field, value) in &self.sizes {
            out.push_str(&format!("{field} = {value}\n"));
        }
        out
    }
}

/// `7.2.12+deb13-cloud-amd64` -> `7.2`.
pub fn series_of(release: &str) -> Result<String> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) if !major.is_empty() && !minor.is_empty() => Ok(format!("{major}.{minor}")),
        _ => bail!("`{release}` is not a kernel release"),
    }
}

fn version_key(series: &str) -> (u32, u32) {
    let (major, minor) = series.split_once('.').unwrap_or((series, "0"));
    (major.parse().unwrap_or(0), minor.parse().unwrap_or(0))
}

pub fn read() -> Result<Vec<Row>> {
    let path = table_path();
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let rows = table.get("kernel").and_then(toml::Value::as_array).map(Vec::as_slice).unwrap_or_default();
    rows.iter().map(|row| Row::from_toml(row.as_table().context("a [[kernel]] row that is not a table")?)).collect()
}

pub fn render(rows: &[Row]) -> String {
    let mut rows = rows.to_vec();
    rows.sort_by_key(|r| version_key(&r.series));
    let mut out = HEADER.to_string();
    for row in &rows {
        out.push_str(&row.render());
    }
    out
}

/// Rows replaced by series.
pub fn upsert(rows: &mut Vec<Row>, row: Row) {
    rows.retain(|r| r.series != row.series);
    rows.push(row);
}

pub fn write(rows: &[Row]) -> Result<()> {
    let path = table_path();
    fs::write(&path, render(rows)).with_context(|| format!("cannot write {}", path.display()))?;
    step(&format!("wrote {}", path.display()));
    Ok(())
}

/// How a kernel's measured row stands against the table.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    /// Its row has these sizes.
    Agrees,
    /// The table has no row for its series: a kernel capacity does not know
    /// yet. The message says how to add it.
    Unknown(String),
    /// Its series' row has other sizes: the table is wrong for it.
    Differs(String),
}

/// What the table says about a kernel's measured row.
pub fn standing(rows: &[Row], measured: &Row) -> Standing {
    let how = format!("cargo xtask vm --kernel {} --write-kernel-sizes", measured.series);
    match rows.iter().find(|r| r.series == measured.series) {
        None => Standing::Unknown(format!(
            "kernels.toml has no row for {} ({}): add its sizes with {how}",
            measured.series, measured.release
        )),
        Some(row) if row.sizes != measured.sizes => Standing::Differs(format!(
            "kernels.toml's {} row ({}) differs from {}'s BTF: {how}",
            row.series, row.release, measured.release
        )),
        Some(_) => Standing::Agrees,
    }
}

/// The problem a kernel's standing makes, if any. A series the table must
/// know (`required`: the kernels CI boots) fails without its row; any other
/// kernel only gets a notice, so that a new kernel's tests can pass before
/// its sizes are added.
pub fn problem(standing: &Standing, series: &str, required: &[&str]) -> Option<String> {
    match standing {
        Standing::Agrees => None,
        Standing::Unknown(_) if !required.contains(&series) => None,
        Standing::Unknown(why) | Standing::Differs(why) => Some(why.clone()),
    }
}

/// `cargo xtask kernel-sizes`: this host's row, from its BTF.
pub fn host() -> Result<()> {
    let toolchain = ensure_toolchain()?;
    if !is_root() {
        bail!("capacity verify needs root: run cargo xtask kernel-sizes as root");
    }
    let capacity = build_release_capacity(&toolchain)?;
    let out = Command::new(&capacity)
        .args(["verify", "--types", "array", "--entries", "1", "--json"])
        .output()
        .with_context(|| format!("cannot run {}", capacity.display()))?;
    let json: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("capacity verify printed no JSON: {}", String::from_utf8_lossy(&out.stderr)))?;
    let release = String::from_utf8(Command::new("uname").arg("-r").output()?.stdout)?.trim().to_string();
    let row = Row::from_verify(&release, &json["btf_struct_sizes"])?;
    let mut rows = read()?;
    step(&format!(
        "{}: {}",
        row.series,
        if standing(&rows, &row) == Standing::Agrees { "unchanged" } else { "new sizes" }
    ));
    upsert(&mut rows, row);
    write(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(htab: i64) -> Value {
        serde_json::json!({
            "bpf_htab": htab, "htab_bucket": 16, "htab_elem": 48, "llist_node": 8, "bpf_array": 312,
            "bpf_ringbuf_map": 304, "ringbuf_consumer_pos": 4096, "has_map_mem_usage": true
        })
    }

    #[test]
    fn releases_name_their_series() {
        assert_eq!(series_of("7.2.12+deb13-cloud-amd64").unwrap(), "7.2");
        assert_eq!(series_of("6.1.0-47-cloud-amd64").unwrap(), "6.1");
        assert_eq!(series_of("6.18.44-fc-v769").unwrap(), "6.18");
        assert!(series_of("vmlinuz").is_err());
    }

    #[test]
    fn rows_round_trip_through_the_file_in_version_order() {
        let a = Row::from_verify("6.12.57+deb13-cloud-amd64", &sizes(896)).unwrap();
        let b = Row::from_verify("6.1.0-47-cloud-amd64", &sizes(700)).unwrap();
        let text = render(&[a.clone(), b.clone()]);
        assert!(text.find("series = \"6.1\"").unwrap() < text.find("series = \"6.12\"").unwrap());
        let table: toml::Table = toml::from_str(&text).unwrap();
        let rows: Vec<Row> = table["kernel"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| Row::from_toml(r.as_table().unwrap()).unwrap())
            .collect();
        assert_eq!(rows, [b, a]);
    }

    #[test]
    fn a_changed_or_missing_row_is_a_disagreement() {
        let known = vec![Row::from_verify("7.2.12+deb13-cloud-amd64", &sizes(896)).unwrap()];
        assert_eq!(standing(&known, &known[0]), Standing::Agrees);
        let rebuilt = Row::from_verify("7.2.13+deb13-cloud-amd64", &sizes(904)).unwrap();
        assert!(matches!(standing(&known, &rebuilt), Standing::Differs(why) if why.contains("differs")));
        let other = Row::from_verify("7.3.4+deb13-cloud-amd64", &sizes(904)).unwrap();
        assert!(matches!(standing(&known, &other), Standing::Unknown(why) if why.contains("no row for 7.3")));
        let partial = serde_json::json!({"bpf_htab": 1});
        assert!(Row::from_verify("7.2.12", &partial).is_err());
        assert!(Row::from_verify("7.2.12", &serde_json::json!({"bpf_spare": 1}))
            .unwrap_err()
            .to_string()
            .contains("FIELDS"));
    }

    #[test]
    fn only_the_kernels_ci_names_must_have_a_row() {
        let known = vec![Row::from_verify("7.2.12+deb13-cloud-amd64", &sizes(896)).unwrap()];
        let required = ["6.1", "6.12", "7.2"];
        // A kernel the table does not know yet passes (with a notice).
        let new = Row::from_verify("7.3.4+deb13-cloud-amd64", &sizes(904)).unwrap();
        assert_eq!(problem(&standing(&known, &new), "7.3", &required), None);
        // One CI boots must have its row, and a row must be right.
        let ci = Row::from_verify("6.12.57+deb13-cloud-amd64", &sizes(904)).unwrap();
        assert!(problem(&standing(&known, &ci), "6.12", &required).unwrap().contains("no row for 6.12"));
        let rebuilt = Row::from_verify("7.2.13+deb13-cloud-amd64", &sizes(904)).unwrap();
        assert!(problem(&standing(&known, &rebuilt), "7.2", &[]).unwrap().contains("differs"));
    }

    #[test]
    fn the_checked_in_table_reads() {
        let rows = read().unwrap();
        assert!(!rows.is_empty());
        assert_eq!(render(&rows), fs::read_to_string(table_path()).unwrap(), "kernels.toml is not as xtask writes it");
    }
}

//! The kernels to boot: a bzImage given by path, or the newest Debian cloud
//! kernel of a series, downloaded with apt once and cached by package name.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use crate::setup::{run_checked, step};

pub struct Kernel {
    /// Short name for the table and log files: the series, or the file name.
    pub label: String,
    /// Where it came from: the Debian package or the path.
    pub origin: String,
    pub image: PathBuf,
}

/// `spec` is a bzImage path or a series such as `6.1`.
pub fn resolve(spec: &str) -> Result<Kernel> {
    let path = Path::new(spec);
    if path.is_file() {
        let label = path.file_name().map_or_else(|| spec.to_string(), |n| n.to_string_lossy().into_owned());
        let image = path.canonicalize()?;
        return Ok(Kernel { label, origin: image.display().to_string(), image });
    }
    let is_series = {
        let parts: Vec<&str> = spec.split('.').collect();
        parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if !is_series {
        bail!("--kernel {spec}: not a file, nor a version such as 6.1 or 6.12");
    }
    let cache = cache_dir()?;
    let package = debian_package(spec, &cache)?;
    Ok(Kernel { label: spec.to_string(), origin: package.clone(), image: cache.join(&package).join("vmlinuz") })
}

/// Survives `cargo clean` and fresh clones, so CI on a kept machine and
/// repeated local runs download each kernel once.
fn cache_dir() -> Result<PathBuf> {
    let dir = if let Some(dir) = std::env::var_os("CAPACITY_VM_CACHE") {
        PathBuf::from(dir)
    } else if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME") {
        PathBuf::from(xdg).join("capacity-vm")
    } else {
        let home = std::env::var_os("HOME").context("neither CAPACITY_VM_CACHE nor HOME is set")?;
        PathBuf::from(home).join(".cache/capacity-vm")
    };
    fs::create_dir_all(&dir).with_context(|| format!("cannot create the kernel cache {}", dir.display()))?;
    Ok(dir)
}

/// The newest package of the series that apt offers or the cache holds,
/// fetched into the cache if it is not there. Stale or missing apt lists
/// get one `apt-get update`.
fn debian_package(series: &str, cache: &Path) -> Result<String> {
    let mut updated = false;
    loop {
        let mut names = apt_packages(series)?;
        names.extend(cached_packages(series, cache)?);
        let newest = names.into_iter().max_by_key(|n| version_key(n));
        let attempt = match &newest {
            Some(name) if cache.join(name).join("vmlinuz").is_file() => {
                step(&format!("kernel {series}: {name} (cached in {})", cache.display()));
                return Ok(name.clone());
            }
            Some(name) => fetch(name, cache).map(|()| name.clone()),
            None => Err(anyhow::anyhow!(
                "apt offers no linux-image-{series}.*-cloud-amd64 package: use a Debian release that has one, or pass a bzImage path"
            )),
        };
        match attempt {
            Ok(name) => return Ok(name),
            Err(err) if updated => return Err(err),
            Err(_) => {
                step("refreshing apt's package lists");
                run_checked(Command::new("apt-get").args(["update", "-q"]))?;
                updated = true;
            }
        }
    }
}

/// linux-image-6.1.0-56-cloud-amd64 and linux-image-6.12.117+deb12-cloud-amd64
/// are of series 6.1 and 6.12; the meta, -dbg and -unsigned packages are not.
fn in_series(name: &str, series: &str) -> bool {
    name.strip_prefix("linux-image-")
        .and_then(|rest| rest.strip_prefix(series))
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()) && rest.ends_with("-cloud-amd64"))
}

/// Orders package names by the numbers in their version: 6.1.0-56 > 6.1.0-9.
fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect()
}

fn apt_packages(series: &str) -> Result<Vec<String>> {
    let pattern = format!("^linux-image-{}\\.", series.replace('.', "\\."));
    let out = Command::new("apt-cache")
        .args(["search", "--names-only", &pattern])
        .output()
        .context("cannot run apt-cache: Debian kernels need apt (or pass a bzImage path)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| in_series(n, series))
        .map(str::to_string)
        .collect())
}

fn cached_packages(series: &str, cache: &Path) -> Result<Vec<String>> {
    Ok(fs::read_dir(cache)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| in_series(n, series))
        .collect())
}

/// Download the package, keep only its bzImage and config. Unpacked beside
/// the cache entry and renamed into place, so an interrupted fetch leaves
/// no half entry behind.
fn fetch(package: &str, cache: &Path) -> Result<()> {
    step(&format!("downloading {package} into {}", cache.display()));
    let work = cache.join(format!("{package}.partial"));
    if work.exists() {
        fs::remove_dir_all(&work)?;
    }
    fs::create_dir_all(&work)?;
    // The sandbox user `_apt` cannot write to a root-owned cache.
    run_checked(
        Command::new("apt-get").args(["download", "-q", "-o", "APT::Sandbox::User=root", package]).current_dir(&work),
    )?;
    let deb = find_file(&work, |n| n.ends_with(".deb"))?;
    let root = work.join("root");
    run_checked(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    let boot = root.join("boot");
    let entry = work.join("entry");
    fs::create_dir(&entry)?;
    fs::rename(find_file(&boot, |n| n.starts_with("vmlinuz-"))?, entry.join("vmlinuz"))?;
    fs::rename(find_file(&boot, |n| n.starts_with("config-"))?, entry.join("config"))?;
    fs::rename(&entry, cache.join(package))?;
    fs::remove_dir_all(&work)?;
    Ok(())
}

fn find_file(dir: &Path, matches: impl Fn(&str) -> bool) -> Result<PathBuf> {
    fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .find(|e| matches(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .with_context(|| format!("the expected file is not in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_match_by_number_not_prefix() {
        assert!(in_series("linux-image-6.1.0-56-cloud-amd64", "6.1"));
        assert!(in_series("linux-image-6.12.117+deb12-cloud-amd64", "6.12"));
        assert!(!in_series("linux-image-6.12.117+deb12-cloud-amd64", "6.1"));
        assert!(!in_series("linux-image-6.12-cloud-amd64", "6.12"));
        assert!(!in_series("linux-image-6.1.0-56-cloud-amd64-unsigned", "6.1"));
        assert!(!in_series("linux-image-6.1.0-56-cloud-amd64-dbg", "6.1"));
    }

    #[test]
    fn newest_by_number() {
        let names = ["linux-image-6.12.9+deb12-cloud-amd64", "linux-image-6.12.117+deb12-cloud-amd64"];
        assert_eq!(names.iter().max_by_key(|n| version_key(n)), Some(&names[1]));
    }
}

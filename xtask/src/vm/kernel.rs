//! The kernels to boot: a bzImage given by path, or the newest Debian cloud
//! kernel of a series, downloaded with apt once and cached by package name
//! (`<cache>/<package>/vmlinuz`, and `config` where the package has one).
//! Series the host's release lacks (6.19 on) come from Debian's newer suites
//! through an apt configuration of this tool's own, under `<cache>/apt/`.
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

/// Where Debian keeps the cloud kernels of a series, and how it names them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    /// `linux-image-` (the image is in it) or, from 6.19 on, `linux-binary-`
    /// (`linux-image-` is then a small meta package).
    prefix: &'static str,
    /// None: the host's own apt sources. Otherwise suites of deb.debian.org,
    /// searched in order with an apt configuration of this tool's own.
    suites: Option<&'static [&'static str]>,
}

/// The first series Debian packages as `linux-binary-*` (trixie-backports).
const BINARY_PACKAGES_SINCE: (u32, u32) = (6, 19);
/// Newer series than the host's release offers: backports first, then sid.
const NEWER_SUITES: &[&str] = &["trixie-backports", "sid"];
const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

fn source(series: &str) -> Source {
    if parse_series(series).is_some_and(|s| s >= BINARY_PACKAGES_SINCE) {
        Source { prefix: "linux-binary-", suites: Some(NEWER_SUITES) }
    } else {
        Source { prefix: "linux-image-", suites: None }
    }
}

fn parse_series(series: &str) -> Option<(u32, u32)> {
    let (major, minor) = series.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The newest package of the series that apt offers or the cache holds,
/// fetched into the cache if it is not there. Stale or missing apt lists
/// get one `apt-get update`.
fn debian_package(series: &str, cache: &Path) -> Result<String> {
    let source = source(series);
    let apts: Vec<Apt> = match source.suites {
        None => vec![Apt::Host],
        Some(suites) => suites.iter().map(|suite| Apt::Own { suite, dir: cache.join("apt").join(suite) }).collect(),
    };
    let cached = cached_packages(series, source.prefix, cache)?;
    let mut last_error = None;
    for apt in &apts {
        let mut updated = false;
        loop {
            if !updated && apt.needs_lists() {
                apt.update()?;
                updated = true;
            }
            let mut names = apt.packages(series, source.prefix)?;
            let offered = !names.is_empty();
            names.extend(cached.iter().cloned());
            let newest = names.into_iter().max_by_key(|n| version_key(n));
            let attempt = match &newest {
                Some(name) if cache.join(name).join("vmlinuz").is_file() => {
                    step(&format!("kernel {series}: {name} (cached in {})", cache.display()));
                    return Ok(name.clone());
                }
                Some(name) if offered => apt.fetch(name, cache).map(|()| name.clone()),
                _ => Err(anyhow::anyhow!(
                    "{} offers no {}{series}.*-cloud-amd64 package: use a Debian release that has one, or pass a bzImage path",
                    apt.describe(),
                    source.prefix
                )),
            };
            match attempt {
                Ok(name) => return Ok(name),
                Err(err) if updated => {
                    last_error = Some(err);
                    break;
                }
                Err(_) => {
                    apt.update()?;
                    updated = true;
                }
            }
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no Debian source for kernel {series}")))
}

/// The host's apt, or an apt configuration of this tool's own for one
/// suite (sources list, package lists and downloads under the kernel cache),
/// which leaves the host's sources and lists alone.
enum Apt<'a> {
    Host,
    Own { suite: &'a str, dir: PathBuf },
}

impl Apt<'_> {
    fn describe(&self) -> String {
        match self {
            Apt::Host => "apt (the host's sources)".into(),
            Apt::Own { suite, .. } => format!("Debian {suite}"),
        }
    }

    fn command(&self, program: &str) -> Result<Command> {
        let mut cmd = Command::new(program);
        if let Apt::Own { suite, dir } = self {
            let list = dir.join("sources.list");
            let lists = dir.join("lists");
            let cache = dir.join("cache");
            fs::create_dir_all(lists.join("partial"))?;
            fs::create_dir_all(cache.join("archives/partial"))?;
            fs::write(&list, own_sources_list(suite))?;
            for (option, path) in
                [("Dir::Etc::SourceList", &list), ("Dir::State::Lists", &lists), ("Dir::Cache", &cache)]
            {
                cmd.arg("-o").arg(format!("{option}={}", path.display()));
            }
            cmd.args(["-o", "Dir::Etc::SourceParts=/dev/null"]);
        }
        // The sandbox user `_apt` cannot write to a root-owned cache.
        cmd.args(["-o", "APT::Sandbox::User=root"]);
        Ok(cmd)
    }

    /// Own lists are fetched on first use (apt may store them compressed,
    /// `..._Packages.lz4`); the host's are assumed present.
    fn needs_lists(&self) -> bool {
        match self {
            Apt::Host => false,
            Apt::Own { dir, .. } => !fs::read_dir(dir.join("lists")).is_ok_and(|entries| {
                entries.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().contains("_Packages"))
            }),
        }
    }

    fn update(&self) -> Result<()> {
        step(&format!("refreshing the package lists of {}", self.describe()));
        run_checked(self.command("apt-get")?.args(["update", "-q"]))
    }

    fn packages(&self, series: &str, prefix: &str) -> Result<Vec<String>> {
        let pattern = format!("^{prefix}{}\\.", series.replace('.', "\\."));
        let out = self
            .command("apt-cache")?
            .args(["search", "--names-only", &pattern])
            .output()
            .context("cannot run apt-cache: Debian kernels need apt (or pass a bzImage path)")?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| in_series(n, series, prefix))
            .map(str::to_string)
            .collect())
    }

    /// Download the package, keep only its bzImage (and its config, which
    /// `linux-binary-*` packages do not carry). Unpacked beside the cache
    /// entry and renamed into place, so an interrupted fetch leaves no half
    /// entry behind.
    fn fetch(&self, package: &str, cache: &Path) -> Result<()> {
        step(&format!("downloading {package} from {} into {}", self.describe(), cache.display()));
        let work = cache.join(format!("{package}.partial"));
        if work.exists() {
            fs::remove_dir_all(&work)?;
        }
        fs::create_dir_all(&work)?;
        run_checked(self.command("apt-get")?.args(["download", "-q", package]).current_dir(&work))?;
        let deb = find_file(&work, |n| n.ends_with(".deb"))?;
        let root = work.join("root");
        run_checked(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        let entry = work.join("entry");
        fs::create_dir(&entry)?;
        fs::rename(kernel_image(&root)?, entry.join("vmlinuz"))?;
        if let Ok(config) = find_file(&root.join("boot"), |n| n.starts_with("config-")) {
            fs::rename(config, entry.join("config"))?;
        }
        fs::rename(&entry, cache.join(package))?;
        fs::remove_dir_all(&work)?;
        Ok(())
    }
}

fn own_sources_list(suite: &str) -> String {
    format!("deb [signed-by={DEBIAN_KEYRING}] http://deb.debian.org/debian {suite} main\n")
}

/// The bzImage in an unpacked kernel package: /boot/vmlinuz-VERSION, or
/// /usr/lib/modules/VERSION/vmlinuz (Debian's 7.2 and later).
fn kernel_image(root: &Path) -> Result<PathBuf> {
    if let Ok(image) = find_file(&root.join("boot"), |n| n.starts_with("vmlinuz-")) {
        return Ok(image);
    }
    let modules = root.join("usr/lib/modules");
    fs::read_dir(&modules)
        .with_context(|| format!("the package has neither boot/vmlinuz-* nor {}", modules.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("vmlinuz"))
        .find(|p| p.is_file())
        .with_context(|| format!("the package has no vmlinuz under {}", modules.display()))
}

/// linux-image-6.1.0-56-cloud-amd64, linux-image-6.12.117+deb12-cloud-amd64
/// and linux-binary-7.2.12+deb13-cloud-amd64 are of series 6.1, 6.12 and
/// 7.2 (with their series' prefix); the meta, -dbg and -unsigned packages
/// are not.
fn in_series(name: &str, series: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix(series))
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()) && rest.ends_with("-cloud-amd64"))
}

/// Orders package names by the numbers in their version: 6.1.0-56 > 6.1.0-9.
fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect()
}

fn cached_packages(series: &str, prefix: &str, cache: &Path) -> Result<Vec<String>> {
    Ok(fs::read_dir(cache)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| in_series(n, series, prefix))
        .collect())
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
        let image = "linux-image-";
        assert!(in_series("linux-image-6.1.0-56-cloud-amd64", "6.1", image));
        assert!(in_series("linux-image-6.12.117+deb12-cloud-amd64", "6.12", image));
        assert!(!in_series("linux-image-6.12.117+deb12-cloud-amd64", "6.1", image));
        assert!(!in_series("linux-image-6.12-cloud-amd64", "6.12", image));
        assert!(!in_series("linux-image-6.1.0-56-cloud-amd64-unsigned", "6.1", image));
        assert!(!in_series("linux-image-6.1.0-56-cloud-amd64-dbg", "6.1", image));
    }

    #[test]
    fn from_6_19_the_image_is_in_linux_binary_from_debians_newer_suites() {
        assert_eq!(source("6.1"), Source { prefix: "linux-image-", suites: None });
        assert_eq!(source("6.12"), Source { prefix: "linux-image-", suites: None });
        assert_eq!(source("6.19"), Source { prefix: "linux-binary-", suites: Some(NEWER_SUITES) });
        assert_eq!(source("7.2").prefix, "linux-binary-");
        assert_eq!(source("10.0").prefix, "linux-binary-");
        let binary = source("7.2").prefix;
        assert!(in_series("linux-binary-7.2.12+deb13-cloud-amd64", "7.2", binary));
        assert!(!in_series("linux-binary-7.2.12+deb13-amd64", "7.2", binary));
        assert!(!in_series("linux-binary-7.2.12+deb13-rt-amd64", "7.2", binary));
        // The 7.x linux-image-* package is a meta package without the image.
        assert!(!in_series("linux-image-7.2.12+deb13-cloud-amd64", "7.2", binary));
        assert!(!in_series("linux-binary-7.20.1+deb13-cloud-amd64", "7.2", binary));
    }

    #[test]
    fn newest_by_number() {
        let names = ["linux-image-6.12.9+deb12-cloud-amd64", "linux-image-6.12.117+deb12-cloud-amd64"];
        assert_eq!(names.iter().max_by_key(|n| version_key(n)), Some(&names[1]));
        let names = ["linux-binary-7.2.12+deb13-cloud-amd64", "linux-binary-7.2.9+deb13-cloud-amd64"];
        assert_eq!(names.iter().max_by_key(|n| version_key(n)), Some(&names[0]));
    }

    #[test]
    fn own_apt_sources_name_the_suite_and_debians_key() {
        assert_eq!(
            own_sources_list("trixie-backports"),
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main\n"
        );
    }

    #[test]
    fn the_image_is_found_in_boot_or_under_usr_lib_modules() {
        let dir = std::env::temp_dir().join(format!("capacity-xtask-kernel-{}", std::process::id()));
        let modules = dir.join("usr/lib/modules/7.2.12+deb13-cloud-amd64");
        fs::create_dir_all(&modules).unwrap();
        fs::write(modules.join("vmlinuz"), b"image").unwrap();
        assert_eq!(kernel_image(&dir).unwrap(), modules.join("vmlinuz"));
        fs::create_dir_all(dir.join("boot")).unwrap();
        fs::write(dir.join("boot/vmlinuz-7.0.13+deb13-cloud-amd64"), b"image").unwrap();
        assert_eq!(kernel_image(&dir).unwrap(), dir.join("boot/vmlinuz-7.0.13+deb13-cloud-amd64"));
        fs::remove_dir_all(&dir).unwrap();
        assert!(kernel_image(&dir).is_err());
    }
}

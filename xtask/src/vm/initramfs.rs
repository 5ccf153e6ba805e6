//! The guest's whole filesystem: an uncompressed newc cpio archive holding
//! busybox, the init script, the test plan, `capacity` and the test
//! binary. Dynamically linked programs get their shared libraries copied
//! in, so only the static builds are an optimisation, not a requirement.
use std::{
    collections::BTreeSet,
    fs::{self, File},
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result};

use super::PlannedTest;
use crate::{setup::step, workspace::workspace_root};

const INIT: &str = include_str!("init.sh");
const BUSYBOX: &str = "/bin/busybox";
/// Host programs and where they go. Tests call util-linux's setpriv and
/// unshare with options busybox's applets lack, through `sh`: busybox's sh would
/// run its own applets first whatever PATH says, dash does not.
const HOST_TOOLS: &[(&str, &str)] =
    &[("/usr/bin/setpriv", "/usr/bin/setpriv"), ("/usr/bin/unshare", "/usr/bin/unshare"), ("/bin/dash", "/bin/sh")];
/// Workspace directories tests read through their CARGO_MANIFEST_DIR, as
/// `tests/../examples/...`: they go to the same absolute paths in the guest.
const WORKSPACE_DATA: &[&str] = &["examples"];
/// The test crate's directory, empty in the guest, so that `..` from it resolves.
const TESTS_DIR: &str = "tests";
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// `helpers` go to their own absolute paths in the guest, where the test
/// binary was built to find them.
pub fn write(path: &Path, capacity: &Path, helpers: &[PathBuf], plan: &PlannedTest) -> Result<()> {
    step(&format!("writing the initramfs {}", path.display()));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut cpio = Cpio::new(BufWriter::new(file));
    for dir in ["/proc", "/sys", "/dev", "/tmp", "/root", "/usr/bin"] {
        cpio.dir(dir)?;
    }
    // The kernel opens it for init's stdin/stdout/stderr before devtmpfs is mounted.
    cpio.char_device("/dev/console", 5, 1)?;
    cpio.file("/init", 0o755, INIT.as_bytes())?;
    cpio.file("/etc/passwd", 0o644, PASSWD.as_bytes())?;
    cpio.file("/etc/group", 0o644, GROUP.as_bytes())?;
    cpio.file("/vm/plan.sh", 0o644, plan_script(plan).as_bytes())?;
    cpio.program(Path::new(BUSYBOX), BUSYBOX)?;
    cpio.program(capacity, "/usr/bin/capacity")?;
    for (source, dest) in HOST_TOOLS.iter().filter(|(source, _)| Path::new(source).exists()) {
        cpio.program(Path::new(source), dest)?;
    }
    cpio.program(&plan.binary, &format!("/vm/tests/{}", plan.name))?;
    for helper in helpers {
        cpio.program(helper, &helper.to_string_lossy())?;
    }
    cpio.dir(&workspace_root().join(TESTS_DIR).to_string_lossy())?;
    for dir in WORKSPACE_DATA.iter().map(|d| workspace_root().join(d)).filter(|d| d.is_dir()) {
        cpio.tree(&dir)?;
    }
    cpio.finish()?.into_inner()?.sync_all()?;
    Ok(())
}

/// The `run_test NAME ARGS...` line for init.sh to source.
fn plan_script(plan: &PlannedTest) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = format!("run_test {}", quote(&plan.name));
    for arg in &plan.args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    line + "\n"
}

/// The shared libraries `ldd` names for a program: none for a static one.
fn shared_libraries(program: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd").arg(program).output().context("cannot run ldd")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// A writer of the "newc" cpio format the kernel unpacks as its initramfs
/// (Documentation/driver-api/early-userspace/buffer-format.rst).
struct Cpio<W: Write> {
    out: W,
    written: u64,
    next_inode: u32,
    /// Directories and files already in the archive.
    present: BTreeSet<String>,
}

impl<W: Write> Cpio<W> {
    fn new(out: W) -> Self {
        Self { out, written: 0, next_inode: 1, present: BTreeSet::new() }
    }

    fn dir(&mut self, path: &str) -> Result<()> {
        if path.is_empty() || path == "/" || self.present.contains(path) {
            return Ok(());
        }
        self.parents_of(path)?;
        self.present.insert(path.to_string());
        self.entry(path, 0o040755, (0, 0), &[])
    }

    fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<()> {
        self.parents_of(path)?;
        self.present.insert(path.to_string());
        self.entry(path, 0o100000 | mode, (0, 0), data)
    }

    fn char_device(&mut self, path: &str, major: u32, minor: u32) -> Result<()> {
        self.parents_of(path)?;
        self.entry(path, 0o020600, (major, minor), &[])
    }

    /// A host program at `dest`, with the shared libraries it needs at the
    /// paths the dynamic loader will look for them.
    fn program(&mut self, source: &Path, dest: &str) -> Result<()> {
        let data = fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
        self.file(dest, 0o755, &data)?;
        for lib in shared_libraries(source)? {
            let dest = lib.to_string_lossy().into_owned();
            if !self.present.contains(&dest) {
                let data = fs::read(&lib).with_context(|| format!("cannot read {}", lib.display()))?;
                self.file(&dest, 0o755, &data)?;
            }
        }
        Ok(())
    }

    /// A host directory's regular files, at the same paths.
    fn tree(&mut self, dir: &Path) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                self.tree(&path)?;
            } else if path.is_file() {
                self.file(&path.to_string_lossy(), 0o644, &fs::read(&path)?)?;
            }
        }
        Ok(())
    }

    fn parents_of(&mut self, path: &str) -> Result<()> {
        match path.rsplit_once('/') {
            Some((parent, _)) => self.dir(parent),
            None => Ok(()),
        }
    }

    fn entry(&mut self, path: &str, mode: u32, (rdev_major, rdev_minor): (u32, u32), data: &[u8]) -> Result<()> {
        let name = path.trim_start_matches('/');
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let fields = [
            self.next_inode,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            u32::try_from(data.len()).context("file too large for cpio")?,
            0, // dev major
            0, // dev minor
            rdev_major,
            rdev_minor,
            u32::try_from(name.len() + 1)?,
            0, // check
        ];
        self.next_inode += 1;
        let mut header = String::from("070701");
        for field in fields {
            header.push_str(&format!("{field:08x}"));
        }
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Headers and file data start on 4-byte boundaries.
    fn pad(&mut self) -> Result<()> {
        let len = (4 - self.written % 4) % 4;
        self.put(&[0; 3][..len as usize])
    }

    fn finish(mut self) -> Result<W> {
        self.entry("TRAILER!!!", 0, (0, 0), &[])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_entries_are_aligned_and_parents_come_first() {
        let mut cpio = Cpio::new(Vec::new());
        cpio.file("/a/b/c", 0o644, b"hello").unwrap();
        let out = cpio.finish().unwrap();
        assert_eq!(out.len() % 4, 0);
        let text = String::from_utf8_lossy(&out);
        let (a, ab, abc) = (text.find("a\0").unwrap(), text.find("a/b\0").unwrap(), text.find("a/b/c\0").unwrap());
        assert!(a < ab && ab < abc, "{text:?}");
        assert!(text.contains("hello") && text.contains("TRAILER!!!"));
    }

    #[test]
    fn plan_quotes_arguments_for_the_shell() {
        let plan = PlannedTest {
            name: "integration".into(),
            binary: PathBuf::new(),
            args: vec!["it's".into(), "--skip".into()],
        };
        assert_eq!(plan_script(&plan), "run_test 'integration' 'it'\\''s' '--skip'\n");
    }
}

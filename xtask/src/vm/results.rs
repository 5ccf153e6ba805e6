//! Reads one kernel's results from its console (the CAPACITY-VM-* markers
//! init.sh prints, libtest's own lines, `capacity verify --json`) and
//! renders the per-kernel summary.
use std::{fmt::Write as _, time::Duration};

use serde_json::Value;

use super::qemu::{Boot, End};
use crate::table;

pub struct KernelReport {
    pub label: String,
    /// `uname -r` in the guest.
    pub release: Option<String>,
    /// `btf_struct_sizes` of `capacity verify --json`: the guest kernel's BTF.
    pub btf_struct_sizes: Option<Value>,
    passed: u32,
    failed: u32,
    /// (exact, total) cases of `capacity verify`, when it printed its JSON.
    verify_cases: Option<(usize, usize)>,
    elapsed: Duration,
    /// Why this kernel failed; empty when it passed.
    problems: Vec<String>,
}

/// One test binary's run, while its output is read.
struct TestRun {
    name: String,
    passed: u32,
    failed: u32,
    failures: Vec<String>,
}

impl KernelReport {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn add_problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    pub fn from_boot(label: &str, boot: &Boot) -> Self {
        let mut report = KernelReport {
            label: label.to_string(),
            release: None,
            passed: 0,
            failed: 0,
            verify_cases: None,
            btf_struct_sizes: None,
            elapsed: boot.elapsed,
            problems: Vec::new(),
        };
        let mut test: Option<TestRun> = None;
        let mut verify_json: Option<Vec<&str>> = None;
        let mut verify_ran = false;
        let mut finished = false;
        let mut lines = boot.console.iter().map(String::as_str).peekable();
        while let Some(line) = lines.next() {
            if let Some(rest) = line.strip_prefix("CAPACITY-VM-BEGIN ") {
                report.release = field(rest, "release").map(str::to_string);
            } else if let Some(rest) = line.strip_prefix("CAPACITY-VM-TEST-BEGIN ") {
                let name = field(rest, "test").unwrap_or("?").to_string();
                test = Some(TestRun { name, passed: 0, failed: 0, failures: Vec::new() });
            } else if let Some(rest) = line.strip_prefix("CAPACITY-VM-RESULT ") {
                let status = field(rest, "status").and_then(|s| s.parse().ok()).unwrap_or(-1);
                if let Some(run) = test.take() {
                    report.add_test(run, status);
                }
            } else if line == "CAPACITY-VM-VERIFY-BEGIN" {
                verify_json = Some(Vec::new());
            } else if let Some(rest) = line.strip_prefix("CAPACITY-VM-VERIFY-END ") {
                verify_ran = true;
                let status: i32 = field(rest, "status").and_then(|s| s.parse().ok()).unwrap_or(-1);
                let json = verify_json.take().unwrap_or_default().join("\n");
                // Its stderr follows, up to the next marker.
                let mut stderr = Vec::new();
                while let Some(l) = lines.next_if(|l| !l.starts_with("CAPACITY-VM-")) {
                    stderr.push(l);
                }
                report.add_verify(status, &json, &stderr.join(" "));
            } else if line == "CAPACITY-VM-END" {
                finished = true;
            } else if let Some(json) = verify_json.as_mut() {
                json.push(line);
            } else if let Some(run) = test.as_mut() {
                run.read_libtest_line(line);
            }
        }
        if let Some(run) = test {
            report.failed += 1;
            report.problems.push(format!("{}: did not finish", run.name));
        }
        if !verify_ran && finished {
            report.problems.push("capacity verify did not run".into());
        }
        match boot.end {
            End::TimedOut => {
                report.problems.push(format!("timed out after {}: the VM was killed", minutes(boot.elapsed)))
            }
            End::Panicked => report.problems.push("kernel panic (see the console log)".into()),
            End::Exited if !finished => report
                .problems
                .push(format!("the guest stopped before it finished (qemu: {}; see the console log)", boot.status)),
            End::Exited => {}
        }
        if finished && report.passed + report.failed == 0 {
            report.problems.push("no test ran: check the test selection".into());
        }
        report
    }

    fn add_test(&mut self, run: TestRun, status: i32) {
        self.passed += run.passed;
        self.failed += run.failed;
        if status == 0 {
            return;
        }
        if run.failed == 0 {
            // The binary failed without a failing test: it crashed or could not start.
            self.failed += 1;
            self.problems.push(format!("{}: exit status {status} without a failed test (crashed?)", run.name));
        } else {
            self.problems.push(format!("{}: failed: {}", run.name, run.failures.join(", ")));
        }
    }

    fn add_verify(&mut self, status: i32, json: &str, stderr: &str) {
        let Ok(output) = serde_json::from_str::<Value>(json.trim()) else {
            let why = if stderr.is_empty() { "no JSON on stdout" } else { stderr };
            self.problems.push(format!("capacity verify: exit {status}: {why}"));
            return;
        };
        self.btf_struct_sizes = Some(output["btf_struct_sizes"].clone()).filter(|v| !v.is_null());
        let cases = output["cases"].as_array().map(Vec::as_slice).unwrap_or_default();
        let inexact: Vec<&Value> = cases.iter().filter(|c| c["model_error_pct"].as_f64() != Some(0.0)).collect();
        self.verify_cases = Some((cases.len() - inexact.len(), cases.len()));
        if cases.is_empty() {
            self.problems.push("capacity verify reported no cases".into());
        }
        for case in &inexact {
            let f = |key: &str| case[key].as_str().map_or_else(|| case[key].to_string(), str::to_string);
            self.problems.push(format!(
                "verify: {} entries={} key={} value={}: model {} B, memlock {} B, charged {} B ({}%)",
                f("type"),
                f("entries"),
                f("key_size"),
                f("value_size"),
                f("model_bytes"),
                f("memlock_bytes"),
                f("charged_bytes"),
                f("model_error_pct")
            ));
        }
        if status != 0 {
            self.problems.push(format!("capacity verify: exit {status} {stderr}").trim_end().to_string());
        }
    }
}

impl TestRun {
    /// libtest's `test NAME ... FAILED` and `test result: ... N passed; M failed; ...`.
    fn read_libtest_line(&mut self, line: &str) {
        if let Some(counts) = line.strip_prefix("test result: ") {
            self.passed += count(counts, "passed");
            self.failed += count(counts, "failed");
        } else if let Some(name) = line.strip_prefix("test ").and_then(|l| l.strip_suffix(" ... FAILED")) {
            self.failures.push(name.to_string());
        }
    }
}

/// `key=value` in a marker line.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// The number before `what` in "ok. 3 passed; 0 failed; ...".
fn count(text: &str, what: &str) -> u32 {
    text.split(';')
        .find_map(|part| {
            part.trim().trim_start_matches(|c: char| !c.is_ascii_digit()).strip_suffix(what)?.trim().parse().ok()
        })
        .unwrap_or(0)
}

fn minutes(d: Duration) -> String {
    format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
}

/// The table, then what failed on each kernel.
pub fn summary(reports: &[KernelReport]) -> String {
    let header = ["kernel", "release", "tests passed", "tests failed", "verify exact/total", "time", "result"];
    let rows: Vec<[String; 7]> = reports
        .iter()
        .map(|r| {
            [
                r.label.clone(),
                r.release.clone().unwrap_or_else(|| "?".into()),
                r.passed.to_string(),
                r.failed.to_string(),
                r.verify_cases.map_or_else(|| "-".into(), |(exact, total)| format!("{exact}/{total}")),
                minutes(r.elapsed),
                if r.passed() { "ok" } else { "FAILED" }.into(),
            ]
        })
        .collect();
    let mut out = format!("\n{}\n", table::plain(header, rows, &[]));
    // The plain closing line CI tools read as the test count.
    let (passed, failed) = reports.iter().fold((0, 0), |(p, f), r| (p + r.passed, f + r.failed));
    let _ = writeln!(out, "\nvm: {passed} passed, {failed} failed");
    for report in reports.iter().filter(|r| !r.passed()) {
        let _ = writeln!(out, "\n{} failed:", report.label);
        for problem in &report.problems {
            let _ = writeln!(out, "  - {problem}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::{os::unix::process::ExitStatusExt, process::ExitStatus};

    use super::*;

    fn boot(console: &str, end: End) -> Boot {
        Boot {
            console: console.lines().map(str::to_string).collect(),
            end,
            status: ExitStatus::from_raw(0),
            elapsed: Duration::from_secs(75),
        }
    }

    #[test]
    fn a_clean_run_passes_and_counts() {
        let console = "CAPACITY-VM-BEGIN release=6.1.0-56-cloud-amd64 cpus=2
CAPACITY-VM-TEST-BEGIN test=load
test invariant_holds ... ok
test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 5 filtered out; finished in 1.00s
CAPACITY-VM-RESULT test=load status=0
CAPACITY-VM-VERIFY-BEGIN
{\"cases\": [{\"type\": \"ringbuf\", \"model_error_pct\": 0.0},
 {\"type\": \"hash\", \"model_error_pct\": 0}]}
CAPACITY-VM-VERIFY-END status=0
CAPACITY-VM-END";
        let report = KernelReport::from_boot("6.1", &boot(console, End::Exited));
        assert!(report.passed(), "{:?}", report.problems);
        assert_eq!((report.passed, report.failed, report.verify_cases), (2, 0, Some((2, 2))));
        assert_eq!(report.release.as_deref(), Some("6.1.0-56-cloud-amd64"));
        assert!(summary(&[report]).contains("6.1     6.1.0-56-cloud-amd64  2             0             2/2"));
    }

    #[test]
    fn the_table_is_plain_columns_two_spaces_apart() {
        let mut report = KernelReport::from_boot("7.2", &boot("CAPACITY-VM-TEST-BEGIN test=load", End::TimedOut));
        report.release = Some("7.2.0".into());
        let lines: Vec<String> = summary(&[report]).lines().take(4).map(str::to_string).collect();
        assert_eq!(
            lines,
            [
                "",
                "kernel  release  tests passed  tests failed  verify exact/total  time   result",
                "7.2     7.2.0    0             1             -                   1m15s  FAILED",
                "",
            ]
        );
    }

    #[test]
    fn failures_missing_verify_and_timeouts_are_reported() {
        let console = "CAPACITY-VM-BEGIN release=6.12.1 cpus=2
CAPACITY-VM-TEST-BEGIN test=memory
test a ... ok
test b ... FAILED
test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s
CAPACITY-VM-RESULT test=memory status=101
CAPACITY-VM-VERIFY-BEGIN

CAPACITY-VM-VERIFY-END status=2
capacity: error: verify is not implemented yet
CAPACITY-VM-END";
        let report = KernelReport::from_boot("6.12", &boot(console, End::Exited));
        assert_eq!((report.passed, report.failed, report.verify_cases), (1, 1, None));
        assert_eq!(
            report.problems,
            ["memory: failed: b", "capacity verify: exit 2: capacity: error: verify is not implemented yet"]
        );
        let hung = KernelReport::from_boot("6.12", &boot("CAPACITY-VM-TEST-BEGIN test=load", End::TimedOut));
        assert_eq!(hung.problems, ["load: did not finish", "timed out after 1m15s: the VM was killed"]);
    }

    #[test]
    fn inexact_cases_fail() {
        let console = "CAPACITY-VM-VERIFY-BEGIN
{\"cases\": [{\"type\": \"hash\", \"entries\": 10, \"model_bytes\": 100, \"memlock_bytes\": 164, \"model_error_pct\": -39.0}]}
CAPACITY-VM-VERIFY-END status=1
CAPACITY-VM-END";
        let report = KernelReport::from_boot("6.12", &boot(console, End::Exited));
        assert_eq!(report.verify_cases, Some((0, 1)));
        assert!(report.problems[0].contains("model 100 B, memlock 164 B"), "{:?}", report.problems);
    }
}

//! docs/CLI.md stays complete: every subcommand of `capacity --help` has
//! its `## <subcommand>` section, and every long flag of that subcommand
//! appears in its section. The man pages and completions `cargo xtask docs`
//! writes cover every subcommand. No privileges needed.
use std::path::Path;

use clap::Command;

const CLI_MD: &str = include_str!("../../../docs/CLI.md");

/// Each runnable subcommand as its path (`["estimate", "map"]`) with its
/// visible long flags, walking clap's tree.
fn leaf_commands(cmd: &Command, path: &[String], out: &mut Vec<(Vec<String>, Vec<String>)>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        let mut sub_path = path.to_vec();
        sub_path.push(sub.get_name().to_string());
        if sub.has_subcommands() {
            leaf_commands(sub, &sub_path, out);
        } else {
            let flags = sub
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .filter_map(|a| a.get_long())
                .filter(|l| !matches!(*l, "help" | "version"))
                .map(|l| format!("--{l}"))
                .collect();
            out.push((sub_path, flags));
        }
    }
}

/// The text of the `## <title>` section, up to the next `## ` heading.
fn section<'a>(doc: &'a str, title: &str) -> Option<&'a str> {
    let heading = format!("## {title}\n");
    let start = doc.match_indices(&heading).find(|(i, _)| *i == 0 || doc[..*i].ends_with('\n'))?.0 + heading.len();
    let end = doc[start..].find("\n## ").map_or(doc.len(), |e| start + e);
    Some(&doc[start..end])
}

/// What `doc` lacks for `cmd`: missing sections and flags, one line each.
fn missing_from(doc: &str, cmd: &Command) -> Vec<String> {
    let mut leaves = Vec::new();
    leaf_commands(cmd, &[], &mut leaves);
    let mut missing = Vec::new();
    for (path, flags) in leaves {
        let title = path.join(" ");
        let Some(text) = section(doc, &title) else {
            missing.push(format!("no `## {title}` section"));
            continue;
        };
        for flag in flags {
            // A flag is documented when its name appears whole (not as the
            // prefix of a longer flag).
            let whole = text
                .match_indices(&flag)
                .any(|(i, _)| !text[i + flag.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-'));
            if !whole {
                missing.push(format!("`## {title}` does not mention {flag}"));
            }
        }
    }
    missing
}

#[test]
fn every_subcommand_and_flag_is_in_docs_cli_md() {
    let missing = missing_from(CLI_MD, &capacity::cli::command());
    assert!(missing.is_empty(), "docs/CLI.md is behind `capacity --help`:\n{}", missing.join("\n"));
}

#[test]
fn the_check_notices_a_missing_section_or_flag() {
    let cmd = capacity::cli::command();
    // Without the load section, and with --json gone from verify's.
    let without_load = CLI_MD.replace("## load\n", "## not load\n");
    assert!(missing_from(&without_load, &cmd).contains(&"no `## load` section".to_string()));
    let verify = section(CLI_MD, "verify").expect("a verify section");
    let without_json = CLI_MD.replace(verify, &verify.replace("--json", "--jsonx"));
    assert_eq!(missing_from(&without_json, &cmd), vec!["`## verify` does not mention --json".to_string()]);
}

#[test]
fn man_pages_and_completions_cover_every_subcommand() {
    let dir = std::env::temp_dir().join(format!("capacity-docs-test-{}", std::process::id()));
    let files = capacity::cli::docs::generate(&dir).expect("generate the docs");
    let mut leaves = Vec::new();
    leaf_commands(&capacity::cli::command(), &[], &mut leaves);
    let man = |name: &str| dir.join("man").join(format!("{name}.1"));
    assert!(files.contains(&man("capacity")), "{files:?}");
    for (path, flags) in &leaves {
        let page = man(&format!("capacity-{}", path.join("-")));
        assert!(files.contains(&page), "no man page {} in {files:?}", page.display());
        let text = std::fs::read_to_string(&page).unwrap();
        for flag in flags {
            // roff escapes the dashes: \-\-json.
            assert!(text.contains(&flag.replace('-', "\\-")), "{} lacks {flag}", page.display());
        }
    }
    for completion in ["capacity.bash", "_capacity", "capacity.fish"] {
        let path = dir.join("completions").join(completion);
        assert!(files.contains(&path), "no {completion} in {files:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        for (path, _) in &leaves {
            let last = path.last().unwrap();
            assert!(text.contains(last.as_str()), "{completion} does not complete `{}`", path.join(" "));
        }
        assert!(text.contains("ringbuf-size"), "{completion} does not complete flags");
    }
    std::fs::remove_dir_all(Path::new(&dir)).unwrap();
}

//! The shape of the code, checked: the rules ARCHITECTURE.md states hold in `src/`.
//!
//! - Every top-level module is listed in ARCHITECTURE.md as root, plumbing or a feature.
//! - Plumbing uses no feature; a feature uses only features listed below it (so feature folders
//!   never import each other in loops); nothing but the root uses another feature's `routes`.
//! - No two files import each other, directly or around a loop.
//! - Only `clock.rs` reads the wall clock.
//! - ARCHITECTURE.md's route table names every route and the file of its handler.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn architecture_md() -> String {
    std::fs::read_to_string(manifest_dir().join("../../ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md at the repository root")
}

/// A source file: its module path (`sessions::cache`) and its text without comments and strings.
struct SourceFile {
    module: Vec<String>,
    /// Path relative to `src/`.
    path: String,
    code: String,
    raw: String,
}

fn source_files() -> Vec<SourceFile> {
    let src = manifest_dir().join("src");
    let mut files = Vec::new();
    collect(&src, &src, &mut files);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<SourceFile>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let mut module: Vec<String> = relative
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_owned)
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            if relative == "main.rs" {
                module = vec!["main".to_owned()];
            }
            let raw = std::fs::read_to_string(&path).unwrap();
            out.push(SourceFile {
                module,
                path: relative,
                code: strip_comments_and_strings(&raw),
                raw,
            });
        }
    }
}

/// Removes `//` comments and the contents of string literals (SQL, messages), which may hold
/// `::` that is not a path.
fn strip_comments_and_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut previous = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_string {
                if c == '"' && previous != '\\' {
                    in_string = false;
                    out.push('"');
                }
                previous = if previous == '\\' && c == '\\' {
                    ' '
                } else {
                    c
                };
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && previous != '\'' {
                in_string = true;
            }
            out.push(c);
            previous = c;
        }
        out.push('\n');
    }
    out
}

/// Every path a file names through `crate::`, `super::` or `self::`, use-tree groups expanded.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let bytes: Vec<char> = code.chars().collect();
    let mut paths = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0
            || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        let rest: String = bytes[i..bytes.len().min(i + 8)].iter().collect();
        let start = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|p| rest.starts_with(p));
        if let (true, Some(prefix)) = (boundary, start) {
            let mut j = i + prefix.len();
            let head = vec![prefix.trim_end_matches("::").to_owned()];
            parse_tree(&bytes, &mut j, head, &mut paths);
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    paths
}

fn skip_space(chars: &[char], j: &mut usize) {
    while *j < chars.len() && chars[*j].is_whitespace() {
        *j += 1;
    }
}

fn parse_tree(chars: &[char], j: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        skip_space(chars, j);
        if *j < chars.len() && chars[*j] == '{' {
            *j += 1;
            loop {
                skip_space(chars, j);
                if *j >= chars.len() || chars[*j] == '}' {
                    *j += 1;
                    return;
                }
                parse_tree(chars, j, prefix.clone(), out);
                skip_space(chars, j);
                if *j < chars.len() && chars[*j] == ',' {
                    *j += 1;
                }
            }
        }
        let start = *j;
        while *j < chars.len()
            && (chars[*j].is_alphanumeric() || chars[*j] == '_' || chars[*j] == '*')
        {
            *j += 1;
        }
        let ident: String = chars[start..*j].iter().collect();
        if ident.is_empty() {
            out.push(prefix);
            return;
        }
        if ident != "self" && ident != "*" {
            prefix.push(ident);
        }
        skip_space(chars, j);
        if chars.get(*j) == Some(&':') && chars.get(*j + 1) == Some(&':') {
            *j += 2;
            continue;
        }
        // `as alias`, `;`, `,`, `}` and anything else end this path.
        out.push(prefix);
        return;
    }
}

/// The module a path names: its longest prefix that is a module of the crate.
fn resolve(
    from: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut absolute: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("super") => from[..from.len().saturating_sub(1)].to_vec(),
        Some("self") => from.to_vec(),
        _ => return None,
    };
    absolute.extend(path[1..].iter().filter(|p| p.as_str() != "super").cloned());
    (1..=absolute.len())
        .rev()
        .map(|n| absolute[..n].to_vec())
        .find(|candidate| modules.contains(candidate))
}

/// The three lists ARCHITECTURE.md declares: `Root:`, `Plumbing:` and `Features (lowest first):`.
fn declared_layers() -> (Vec<String>, Vec<String>, Vec<String>) {
    let text = architecture_md();
    let list = |label: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("ARCHITECTURE.md has no line starting with {label:?}"));
        line[label.len()..]
            .split([',', '→'])
            .map(|s| s.trim().trim_matches('`').trim_end_matches('.').to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    (
        list("Root:"),
        list("Plumbing:"),
        list("Features (lowest first):"),
    )
}

struct Graph {
    /// (importing module, imported module)
    edges: BTreeSet<(Vec<String>, Vec<String>)>,
}

fn graph() -> Graph {
    let files = source_files();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let mut edges = BTreeSet::new();
    for file in &files {
        for path in named_paths(&file.code) {
            if let Some(target) = resolve(&file.module, &path, &modules) {
                if target != file.module && !target.is_empty() {
                    edges.insert((file.module.clone(), target));
                }
            }
        }
    }
    Graph { edges }
}

fn top(module: &[String]) -> &str {
    module.first().map_or("", String::as_str)
}

#[test]
fn every_module_has_a_declared_place() {
    let (root, plumbing, features) = declared_layers();
    let declared: BTreeSet<&String> = root.iter().chain(&plumbing).chain(&features).collect();
    let tops: BTreeSet<String> = source_files()
        .iter()
        .map(|f| match f.module.first() {
            Some(top) => top.clone(),
            None => "lib".to_owned(),
        })
        .collect();
    for module in &tops {
        assert!(
            declared.contains(module),
            "src/{module} is not listed in ARCHITECTURE.md as root, plumbing or a feature"
        );
    }
    for module in declared {
        assert!(
            tops.contains(module),
            "ARCHITECTURE.md lists {module}, which does not exist"
        );
    }
}

#[test]
fn dependencies_point_down_the_layers() {
    let (root, plumbing, features) = declared_layers();
    let rank = |m: &str| features.iter().position(|f| f == m);
    let mut wrong = Vec::new();
    for (from, to) in &graph().edges {
        let (a, b) = (top(from), top(to));
        if a == b || root.iter().any(|r| r == a) {
            continue;
        }
        let allowed = if plumbing.iter().any(|p| p == a) {
            // Plumbing may reach the shared state and configuration, never a feature.
            plumbing.iter().any(|p| p == b) || b == "state" || b == "config"
        } else {
            match (rank(a), rank(b)) {
                (Some(x), Some(y)) => y < x,
                (Some(_), None) => plumbing.iter().any(|p| p == b) || b == "state" || b == "config",
                _ => false,
            }
        };
        if !allowed {
            wrong.push(format!("{} uses {}", from.join("::"), to.join("::")));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers of ARCHITECTURE.md:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_feature_uses_another_features_routes() {
    let (root, _, _) = declared_layers();
    let mut wrong = Vec::new();
    for (from, to) in &graph().edges {
        let into_routes = to.len() == 2 && to[1] == "routes";
        if into_routes && top(from) != top(to) && !root.iter().any(|r| r == top(from)) {
            wrong.push(format!("{} uses {}", from.join("::"), to.join("::")));
        }
    }
    assert!(
        wrong.is_empty(),
        "routes are reached only through the router:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_files_import_each_other_even_around_a_loop() {
    let (root, _, _) = declared_layers();
    let graph = graph();
    let mut next: BTreeMap<&Vec<String>, Vec<&Vec<String>>> = BTreeMap::new();
    for (from, to) in &graph.edges {
        let parent_to_child = to.starts_with(from);
        if parent_to_child || root.iter().any(|r| r == top(from) || r == top(to)) {
            continue;
        }
        next.entry(from).or_default().push(to);
    }
    // Depth-first search for a cycle, reporting one if found.
    fn visit<'a>(
        node: &'a Vec<String>,
        next: &BTreeMap<&'a Vec<String>, Vec<&'a Vec<String>>>,
        stack: &mut Vec<&'a Vec<String>>,
        done: &mut BTreeSet<&'a Vec<String>>,
    ) -> Option<String> {
        if let Some(at) = stack.iter().position(|n| *n == node) {
            let cycle: Vec<String> = stack[at..].iter().map(|m| m.join("::")).collect();
            return Some(format!("{} -> {}", cycle.join(" -> "), node.join("::")));
        }
        if !done.insert(node) {
            return None;
        }
        stack.push(node);
        for target in next.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(target, next, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in next.keys().copied().collect::<Vec<_>>() {
        if let Some(cycle) = visit(node, &next, &mut Vec::new(), &mut done) {
            panic!("an import loop: {cycle}");
        }
    }
}

#[test]
fn only_the_clock_reads_the_wall_clock() {
    for file in source_files() {
        if file.path == "clock.rs" {
            continue;
        }
        for forbidden in [
            "SystemTime::now",
            "UNIX_EPOCH",
            "OffsetDateTime::now",
            "Utc::now",
        ] {
            assert!(
                !file.code.contains(forbidden),
                "src/{} reads the wall clock ({forbidden}); use the Clock in AppState",
                file.path
            );
        }
    }
}

#[test]
fn the_route_table_names_every_route_and_its_handler_file() {
    let text = architecture_md();
    let documented: BTreeSet<(String, String, String)> = text
        .lines()
        .filter(|l| l.starts_with("| `GET") || l.starts_with("| `POST"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(|c| c.trim().trim_matches('`')).collect();
            let (method, path) = cells[1].split_once(' ').expect("`METHOD /path`");
            (method.to_owned(), path.to_owned(), cells[2].to_owned())
        })
        .collect();
    let mut in_code = BTreeSet::new();
    for file in source_files() {
        let mut rest = file.raw.as_str();
        while let Some(at) = rest.find("#[utoipa::path(") {
            rest = &rest[at + "#[utoipa::path(".len()..];
            let method = rest.split(',').next().unwrap().trim().to_uppercase();
            let path = rest
                .split("path = \"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            in_code.insert((method, path.to_owned(), format!("src/{}", file.path)));
        }
        let mut rest = file.raw.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = rest[at + ".route(".len()..].trim_start();
            let Some(quoted) = rest.strip_prefix('"') else {
                continue;
            };
            let path = quoted.split('"').next().unwrap();
            in_code.insert((
                "GET".to_owned(),
                path.to_owned(),
                format!("src/{}", file.path),
            ));
        }
    }
    let mut missing = Vec::new();
    for (method, path, file) in &in_code {
        let found = documented.iter().any(|(m, p, f)| {
            m == method && f == file && (p == path || *p == format!("/api/auth{path}"))
        });
        if !found {
            missing.push(format!("| `{method} {path}` | `{file}` |"));
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's route table lacks:\n{}",
        missing.join("\n")
    );
    for (method, path, file) in &documented {
        let exists = in_code.iter().any(|(m, p, f)| {
            m == method && f == file && (p == path || format!("/api/auth{p}") == *path)
        });
        assert!(
            exists,
            "ARCHITECTURE.md lists `{method} {path}` in {file}, which has no such route"
        );
    }
}

#[test]
fn the_path_parser_reads_use_trees() {
    let paths = named_paths("use crate::sign_in::{self, credentials::{check, set_password}, store};\nlet x = super::store::find(\"crate::not_a_path\");");
    let text: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert!(text.contains(&"crate::sign_in".to_owned()), "{text:?}");
    assert!(
        text.contains(&"crate::sign_in::credentials::check".to_owned()),
        "{text:?}"
    );
    assert!(
        text.contains(&"crate::sign_in::store".to_owned()),
        "{text:?}"
    );
    assert!(text.contains(&"super::store::find".to_owned()), "{text:?}");
    let stripped = strip_comments_and_strings("let a = \"crate::x\"; // crate::y\n");
    assert!(named_paths(&stripped).is_empty());
}

//! The layering of `src/`, read from the code's own `crate::` and `super::` paths: no import
//! cycle among modules, and no module importing a layer above it (the README's Development
//! section draws the layers).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module of `src/` (`a/b.rs` and `a/b/mod.rs` are `a::b`) with its text, test modules
/// left out.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, src, out);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().map(String::as_str) == Some("mod") {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let text = match text.find("#[cfg(test)]") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            out.insert(parts.join("::"), text);
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&src, &src, &mut out);
    out
}

/// The `crate::` paths a text names, with `use crate::{a, b::{c, d}}` groups expanded.
fn crate_paths(text: &str) -> Vec<String> {
    fn expand(prefix: &str, group: &str, out: &mut Vec<String>) {
        let mut depth = 0;
        let mut start = 0;
        let bytes = group.as_bytes();
        let mut parts = Vec::new();
        for (i, b) in bytes.iter().enumerate() {
            match b {
                b'{' => depth += 1,
                b'}' => depth -= 1,
                b',' if depth == 0 => {
                    parts.push(&group[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&group[start..]);
        for part in parts {
            let part: String = part.chars().filter(|c| !c.is_whitespace()).collect();
            if part.is_empty() {
                continue;
            }
            match part.split_once("::{") {
                Some((head, rest)) => expand(
                    &format!("{prefix}{head}::"),
                    rest.trim_end_matches('}'),
                    out,
                ),
                None => out.push(format!("{prefix}{part}")),
            }
        }
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find("};").unwrap_or(group.len());
            expand("", &group[..end], &mut out);
        } else {
            let path: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(path.trim_end_matches(':').to_owned());
        }
        rest = after;
    }
    out
}

/// Module → the modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, text)| {
            // `super::` in a::b (file a/b.rs or a/b/mod.rs) names a module below `a`.
            let parent = name.rsplit_once("::").map_or("", |(p, _)| p);
            let text = if parent.is_empty() {
                text.replace("super::", "crate::")
            } else {
                text.replace("super::", &format!("crate::{parent}::"))
            };
            let targets = crate_paths(&text)
                .into_iter()
                .filter_map(|path| {
                    let segments: Vec<&str> = path.split("::").collect();
                    (1..=segments.len())
                        .rev()
                        .map(|k| segments[..k].join("::"))
                        .find(|candidate| names.contains(candidate))
                })
                .filter(|target| target != name)
                .collect();
            (name.clone(), targets)
        })
        .collect()
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

#[test]
fn src_has_no_import_cycle() {
    let graph = graph();
    assert!(graph.len() > 30, "the walk found {} modules", graph.len());
    // A cycle exists if some module reaches itself.
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(&String, Vec<&String>)> = vec![(start, vec![start])];
        while let Some((module, path)) = stack.pop() {
            for next in graph.get(module).into_iter().flatten() {
                if next == start {
                    let mut cycle: Vec<&str> = path.iter().map(|m| m.as_str()).collect();
                    cycle.push(start);
                    panic!("import cycle: {}", cycle.join(" -> "));
                }
                if seen.insert(next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
}

#[test]
fn no_module_imports_a_layer_above_it() {
    // The HTTP layer and what sits above it; each may be named only by the layers listed.
    let allowed_importers: [(&str, &[&str]); 5] = [
        ("cli", &["main", "lib"]),
        ("app", &["cli", "lib"]),
        ("routes", &["app", "lib"]),
        ("middleware", &["app", "routes", "lib"]),
        ("state", &["app", "routes", "middleware", "lib"]),
    ];
    let mut violations = Vec::new();
    for (module, targets) in graph() {
        for target in targets {
            let (from, to) = (top(&module), top(&target));
            if from == to {
                continue;
            }
            if let Some((_, importers)) = allowed_importers.iter().find(|(t, _)| *t == to)
                && !importers.contains(&from)
            {
                violations.push(format!("{module} -> {target}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports of a layer above: {violations:?}"
    );
}

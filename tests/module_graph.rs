//! The device library's modules import each other in one direction (issue 13): no
//! circle among the top-level modules of `src/`. Read from the sources as text: every
//! `crate::NAME` outside comments and outside unit-test files (`tests.rs`, and what
//! follows `#[cfg(test)]` in a file) is an edge from the file's top-level module to
//! NAME. A new circle fails here with the modules and files that make it.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Top-level module -> (imported module -> files that import it).
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let top = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        if ["main", "lib", "bin"].contains(&top.as_str()) || rel.ends_with("/tests.rs") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in code.lines() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let name: String = line[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    graph
                        .entry(top.clone())
                        .or_default()
                        .entry(name)
                        .or_default()
                        .insert(rel.clone());
                }
            }
        }
    }
    graph
}

/// A circle through `start`, if any (depth-first).
fn circle_from(graph: &Graph, start: &str) -> Option<Vec<String>> {
    fn walk(graph: &Graph, path: &mut Vec<String>, seen: &mut BTreeSet<String>) -> bool {
        let here = path.last().unwrap().clone();
        for next in graph.get(&here).into_iter().flat_map(|m| m.keys()) {
            if *next == path[0] {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(graph, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn the_device_modules_import_each_other_in_one_direction() {
    let graph = graph();
    // The export path's spine must be there, or the parse above found nothing.
    assert!(graph["disk"].contains_key("device"), "{graph:#?}");
    assert!(graph["volume"].contains_key("device"), "{graph:#?}");
    for module in graph.keys() {
        if let Some(circle) = circle_from(&graph, module) {
            let files: Vec<String> = circle
                .windows(2)
                .map(|pair| {
                    format!(
                        "{} -> {}: {:?}",
                        pair[0], pair[1], graph[&pair[0]][&pair[1]]
                    )
                })
                .collect();
            panic!(
                "a circle of imports: {}\n{}",
                circle.join(" -> "),
                files.join("\n")
            );
        }
    }
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let mut graph = Graph::new();
    let edge = |graph: &mut Graph, from: &str, to: &str| {
        graph
            .entry(from.into())
            .or_default()
            .entry(to.into())
            .or_default()
            .insert("f.rs".into());
    };
    edge(&mut graph, "a", "b");
    edge(&mut graph, "b", "c");
    assert_eq!(circle_from(&graph, "a"), None);
    edge(&mut graph, "c", "a");
    assert_eq!(
        circle_from(&graph, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

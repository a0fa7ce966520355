//! No import loop between the crate's modules.
//!
//! It reads every `.rs` file under `src/`, finds each path that names an item of the crate
//! (`use crate::...`, `super::...`, `self::...`, a child module's name, and the same paths in
//! code), resolves it to the module that defines the item (following `use` re-exports), and
//! builds, for every module, the graph of its children: child `a` depends on child `b` when
//! anything inside `a` names anything inside `b`. A module and its own parent are not a loop
//! (a folder module re-exports its children, which use its items), so only siblings are
//! compared; at each level the test fails naming every loop, as `a -> b -> a`.
//!
//! This is a reading of the source text, not of the compiler's name resolution: a glob import
//! (`use x::*`) counts as a dependency on `x` itself, and a method call names no module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{blank, crate_source, module_of, read_sources, ModulePath};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other,
}

/// Splits blanked Rust source ([`super::blank`]) into the tokens that matter for paths.
fn tokenize(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let token = match c {
            ':' if chars.get(i + 1) == Some(&':') => {
                i += 1;
                Token::PathSep
            }
            '{' => Token::Open,
            '}' => Token::Close,
            ',' => Token::Comma,
            ';' => Token::Semi,
            '*' => Token::Star,
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i + 1 < chars.len() && (chars[i + 1].is_alphanumeric() || chars[i + 1] == '_')
                {
                    i += 1;
                }
                Token::Ident(chars[start..=i].iter().collect())
            }
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            _ => Token::Other,
        };
        tokens.push(token);
        i += 1;
    }
    tokens
}

/// One path as written, with the module it was written in.
#[derive(Debug)]
struct Reference {
    from: ModulePath,
    segments: Vec<String>,
    /// A `use` path: its last segment (or `as` alias) becomes a name in `from`.
    imported_as: Option<String>,
    /// Whether it was the start of a `use` tree (where a bare first segment may be a child).
    in_use: bool,
}

/// What one pass over the sources found.
#[derive(Debug, Default)]
struct Crate {
    modules: BTreeSet<ModulePath>,
    references: Vec<Reference>,
}

fn is_keyword_start(name: &str) -> bool {
    matches!(name, "crate" | "super" | "self")
}

/// Reads one use tree at `tokens[*at..]` below `prefix`, pushing each full path.
fn use_tree(
    tokens: &[Token],
    at: &mut usize,
    prefix: &[String],
    from: &ModulePath,
    out: &mut Vec<Reference>,
) {
    let mut path = prefix.to_vec();
    loop {
        match tokens.get(*at) {
            Some(Token::Ident(name)) if name == "as" => break,
            Some(Token::Ident(name)) => {
                // `self` inside braces names the prefix itself.
                if !(name == "self" && !path.is_empty() && path.len() == prefix.len()) {
                    path.push(name.clone());
                }
                *at += 1;
            }
            Some(Token::Open) => {
                *at += 1;
                while !matches!(tokens.get(*at), Some(Token::Close) | None) {
                    use_tree(tokens, at, &path, from, out);
                    if tokens.get(*at) == Some(&Token::Comma) {
                        *at += 1;
                    }
                }
                *at += 1;
                return;
            }
            Some(Token::Star) => {
                *at += 1;
                out.push(Reference {
                    from: from.clone(),
                    segments: path,
                    imported_as: None,
                    in_use: true,
                });
                return;
            }
            _ => break,
        }
        if tokens.get(*at) == Some(&Token::PathSep) {
            *at += 1;
        } else {
            break;
        }
    }
    let mut alias = path.last().cloned();
    if tokens.get(*at) == Some(&Token::Ident("as".to_owned())) {
        if let Some(Token::Ident(name)) = tokens.get(*at + 1) {
            alias = Some(name.clone());
        }
        *at += 2;
    }
    if !path.is_empty() {
        out.push(Reference {
            from: from.clone(),
            segments: path,
            imported_as: alias,
            in_use: true,
        });
    }
}

/// Walks one file's tokens: declared modules (`mod x;` and inline `mod x { ... }`), use trees,
/// and paths in code that start with `crate`, `super` or `self`.
fn read_file(module: &ModulePath, tokens: &[Token], found: &mut Crate) {
    found.modules.insert(module.clone());
    // The module each open brace belongs to; an inline `mod` opens a new one.
    let mut scopes: Vec<(usize, ModulePath)> = vec![(0, module.clone())];
    let mut depth = 0usize;
    let mut at = 0;
    while at < tokens.len() {
        let current = scopes.last().map(|(_, m)| m.clone()).unwrap_or_default();
        match &tokens[at] {
            Token::Open => {
                depth += 1;
                at += 1;
            }
            Token::Close => {
                if scopes.len() > 1 && scopes.last().is_some_and(|(d, _)| *d == depth) {
                    scopes.pop();
                }
                depth = depth.saturating_sub(1);
                at += 1;
            }
            Token::Ident(word) if word == "mod" => {
                let Some(Token::Ident(name)) = tokens.get(at + 1) else {
                    at += 1;
                    continue;
                };
                let mut child = current.clone();
                child.push(name.clone());
                found.modules.insert(child.clone());
                if tokens.get(at + 2) == Some(&Token::Open) {
                    depth += 1;
                    scopes.push((depth, child));
                    at += 3;
                } else {
                    at += 2;
                }
            }
            Token::Ident(word) if word == "use" => {
                at += 1;
                if tokens.get(at) == Some(&Token::PathSep) {
                    at += 1; // `use ::std::...`: an external crate
                    continue;
                }
                use_tree(tokens, &mut at, &[], &current, &mut found.references);
            }
            Token::Ident(word)
                if is_keyword_start(word)
                    && tokens.get(at + 1) == Some(&Token::PathSep)
                    && (at == 0 || tokens[at - 1] != Token::PathSep) =>
            {
                let mut segments = vec![word.clone()];
                at += 2;
                while let Some(Token::Ident(name)) = tokens.get(at) {
                    segments.push(name.clone());
                    at += 1;
                    if tokens.get(at) == Some(&Token::PathSep) {
                        at += 1;
                    } else {
                        break;
                    }
                }
                found.references.push(Reference {
                    from: current,
                    segments,
                    imported_as: None,
                    in_use: false,
                });
            }
            _ => at += 1,
        }
    }
}

fn read_crate(src: &Path) -> Crate {
    let mut found = Crate::default();
    for (relative, text) in read_sources(src) {
        read_file(&module_of(&relative), &tokenize(&blank(&text)), &mut found);
    }
    found
}

/// Which module each path refers to, with names imported into a module followed to where
/// they come from.
struct Resolver<'c> {
    modules: &'c BTreeSet<ModulePath>,
    /// Per module, each name a `use` brings in, as the absolute path it names.
    imports: BTreeMap<ModulePath, BTreeMap<String, Vec<String>>>,
}

impl<'c> Resolver<'c> {
    fn new(found: &'c Crate) -> Self {
        let mut resolver = Self {
            modules: &found.modules,
            imports: BTreeMap::new(),
        };
        for reference in &found.references {
            let (Some(name), Some(absolute)) =
                (reference.imported_as.as_ref(), resolver.absolute(reference))
            else {
                continue;
            };
            resolver
                .imports
                .entry(reference.from.clone())
                .or_default()
                .insert(name.clone(), absolute);
        }
        resolver
    }

    /// The absolute path a reference names; `None` for a path outside the crate.
    fn absolute(&self, reference: &Reference) -> Option<Vec<String>> {
        let mut segments = reference.segments.iter().peekable();
        let mut path = reference.from.clone();
        match segments.peek().map(|s| s.as_str()) {
            Some("crate") => {
                path.clear();
                segments.next();
            }
            Some("super") => {
                while segments.peek().map(|s| s.as_str()) == Some("super") {
                    path.pop()?;
                    segments.next();
                }
            }
            Some("self") => {
                segments.next();
            }
            Some(first) if reference.in_use => {
                // `use child::...` names a child module declared here; anything else is a crate.
                let mut child = path.clone();
                child.push(first.to_owned());
                if !self.modules.contains(&child) {
                    return None;
                }
            }
            _ => return None,
        }
        path.extend(segments.cloned());
        Some(path)
    }

    /// The module that defines what `path` names (`depth` bounds the re-export chain).
    fn module(&self, path: &[String], depth: usize) -> ModulePath {
        let mut module: ModulePath = Vec::new();
        let mut rest = path;
        while let Some((first, tail)) = rest.split_first() {
            let mut child = module.clone();
            child.push(first.clone());
            if !self.modules.contains(&child) {
                break;
            }
            module = child;
            rest = tail;
        }
        if let (Some(name), true) = (rest.first(), depth < 16) {
            if let Some(target) = self.imports.get(&module).and_then(|names| names.get(name)) {
                if target.as_slice() != path {
                    return self.module(target, depth + 1);
                }
            }
        }
        module
    }
}

/// For every module with children, the dependencies between its children.
fn sibling_graphs(found: &Crate) -> BTreeMap<ModulePath, BTreeMap<String, BTreeSet<String>>> {
    let resolver = Resolver::new(found);
    let mut graphs: BTreeMap<ModulePath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for reference in &found.references {
        let Some(absolute) = resolver.absolute(reference) else {
            continue;
        };
        let target = resolver.module(&absolute, 0);
        let from = &reference.from;
        let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
        // A module and its ancestors or descendants: not a dependency between siblings.
        if common == from.len() || common == target.len() {
            continue;
        }
        graphs
            .entry(from[..common].to_vec())
            .or_default()
            .entry(from[common].clone())
            .or_default()
            .insert(target[common].clone());
    }
    graphs
}

/// Every loop in `graph`, each written `a -> b -> a` from its smallest name, once.
fn loops(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        path: &mut Vec<String>,
        found: &mut BTreeSet<Vec<String>>,
    ) {
        let Some(last) = path.last().cloned() else {
            return;
        };
        for next in graph.get(&last).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_owned());
                found.insert(cycle);
            } else if next.as_str() > start && !path.contains(next) {
                path.push(next.clone());
                walk(graph, start, path, found);
                path.pop();
            }
        }
    }
    let mut found = BTreeSet::new();
    for start in graph.keys() {
        walk(graph, start, &mut vec![start.clone()], &mut found);
    }
    found.into_iter().collect()
}

/// Every import loop in the crate under `src`, one line each (`core: a -> b -> a`).
fn import_loops(src: &Path) -> Vec<String> {
    let found = read_crate(src);
    let mut described = Vec::new();
    for (parent, graph) in sibling_graphs(&found) {
        let parent = if parent.is_empty() {
            "crate".to_owned()
        } else {
            parent.join("::")
        };
        for cycle in loops(&graph) {
            described.push(format!("{parent}: {}", cycle.join(" -> ")));
        }
    }
    described
}

#[test]
fn the_crate_has_no_import_loops() {
    let found = import_loops(&crate_source());
    assert!(
        found.is_empty(),
        "import loops between modules (each `a -> b` means a names something in b):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_module_graph_sees_each_kind_of_path() {
    let dir = std::env::temp_dir().join(format!("module-graph-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod core;\n");
    write(
        "core/mod.rs",
        "pub mod a;\npub mod b;\npub mod c;\npub mod d;\npub mod e;\npub use e::Thing;\n",
    );
    // a -> b through a use tree, b -> c through a path in code, c -> a through `super`.
    write("core/a.rs", "use crate::core::{b::{self, B}, x};\n");
    write("core/b.rs", "fn f() { crate::core::c::g() }\n");
    write(
        "core/c.rs",
        "// use crate::core::d; (a comment)\nconst S: &str = \"crate::core::d::X\";\nuse super::a::A as Other;\n",
    );
    // d -> e through the parent's re-export; e -> d only inside its tests: still a loop.
    write("core/d.rs", "use super::Thing;\n");
    write(
        "core/e.rs",
        "pub struct Thing;\n#[cfg(test)]\nmod tests {\n    use super::super::d::*;\n}\n",
    );
    let found = import_loops(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found, vec!["core: a -> b -> c -> a", "core: d -> e -> d"]);
}

#[test]
fn a_module_and_its_parent_are_not_a_loop() {
    let dir = std::env::temp_dir().join(format!("module-graph-parent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("scan")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod scan;\n").unwrap();
    std::fs::write(
        dir.join("scan/mod.rs"),
        "mod walk;\nuse walk::list;\npub struct Record;\n",
    )
    .unwrap();
    std::fs::write(dir.join("scan/walk.rs"), "use super::Record;\n").unwrap();
    let found = import_loops(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(found.is_empty(), "{found:?}");
}

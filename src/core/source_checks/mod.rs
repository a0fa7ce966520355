//! Rules checked by reading the crate's own source: no import loop between modules
//! ([`imports`]), and no infallible allocation whose size nothing bounds ([`allocations`]).
//!
//! Both read every `.rs` file under `src/` as text, with comments and literals blanked out
//! ([`blank`]) so that a word in a comment or a string is never taken for code.

mod allocations;
mod imports;

use std::path::{Path, PathBuf};

/// The crate's `src/` folder.
fn crate_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `root`, sorted, as (path relative to `root`, text).
fn read_sources(root: &Path) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
            (
                file.strip_prefix(root).expect("under root").to_path_buf(),
                text,
            )
        })
        .collect()
}

/// A module's path from the crate root (`["core", "scan", "bundle"]`).
type ModulePath = Vec<String>;

/// The module path of a source file relative to `src/` (`lib.rs` and `mod.rs` name their
/// folder's module).
fn module_of(relative: &Path) -> ModulePath {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

/// `source` with every comment, string and character literal replaced by spaces (line breaks
/// kept, so positions and line numbers stay those of the source). Lifetimes are kept.
fn blank(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out: Vec<char> = chars.clone();
    let erase = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut out[from..to.min(chars.len())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let start = i;
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                erase(&mut out, start, i);
            }
            '/' if next == Some('*') => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                erase(&mut out, start, i);
            }
            '"' => {
                i = string_end(&chars, i + 1);
                erase(&mut out, start, i);
            }
            '\'' => {
                // A character literal ('a', '\n', '\'', '\u{1F600}'), or a lifetime ('a).
                if next == Some('\\') {
                    i += 3;
                    while i < chars.len() && chars[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                    erase(&mut out, start, i);
                } else if chars.get(i + 2) == Some(&'\'') {
                    i += 3;
                    erase(&mut out, start, i);
                } else {
                    i += 1;
                }
            }
            c if is_ident(c) => {
                if let Some((hashes, body)) = raw_string_start(&chars, i) {
                    i = raw_string_end(&chars, body, hashes);
                    erase(&mut out, start, i);
                } else if c == 'b' && next == Some('"') {
                    i = string_end(&chars, i + 2);
                    erase(&mut out, start, i);
                } else {
                    while i < chars.len() && is_ident(chars[i]) {
                        i += 1;
                    }
                }
            }
            _ => i += 1,
        }
    }
    out.into_iter().collect()
}

/// The index just past a string whose body starts at `i`.
fn string_end(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// For `r"`, `r#"`, `br"`, ... at `i` (the start of a word): the number of `#` and where the
/// body starts.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

fn raw_string_end(chars: &[char], mut i: usize, hashes: usize) -> usize {
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

#[test]
fn blanking_keeps_code_and_positions_only() {
    let source = "let a = \"vec![0; n]\"; // vec![0; n]\n/* a /* nested */ b */ let c = '\\'';\nlet d: &'static str = r#\"x\"#; f(b\"y\", 'z')";
    let blanked = blank(source);
    assert_eq!(blanked.len(), source.len());
    assert_eq!(
        blanked,
        "let a =             ;              \n                       let c =     ;\nlet d: &'static str =       ; f(    ,    )"
    );
}

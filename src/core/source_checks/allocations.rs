//! No infallible allocation in `src/core` or `src/py` whose size nothing bounds.
//!
//! Rust's allocating forms (`Vec::with_capacity`, `vec![x; n]`, `reserve`, `resize`, `to_vec`,
//! `extend_from_slice`, `repeat`, ndarray's and numpy's `zeros`/`new`/`from_slice`/`from_elem`)
//! abort the process when the allocator fails. A size that comes from a model file or a
//! caller's input must go through [`crate::core::alloc`] instead, which fails with a typed error.
//! Each of these forms left in the code either has a constant size (an integer literal or an
//! `ALL_CAPS` constant, accepted as is) or carries a comment starting `// alloc:` on its line or
//! in the comment lines just above it, saying what bounds the size. Test code is not checked.
//!
//! Growing a vector one item at a time (`push`, `extend`, `collect`) cannot be told apart from
//! harmless uses by reading the text, so it is not checked here: `SECURITY.md` says how those
//! are kept bounded.

use std::path::Path;

use super::{blank, crate_source, module_of, read_sources, ModulePath};

/// Files this check does not read, with why.
const SKIPPED: &[&str] = &[
    // The helper itself: the fallible forms are built from the infallible ones there.
    "core/alloc.rs",
];

/// Calls written `name(` after a `.` that allocate a size given to them.
const METHODS: &[&str] = &[
    "reserve",
    "reserve_exact",
    "resize",
    "resize_with",
    "to_vec",
    "extend_from_slice",
    "repeat",
];

/// Constructors written `Type::name(` that allocate a size given to them: any type for
/// `with_capacity`, array types (`PyArray`, ndarray's `Array`) for the rest.
const ARRAY_CONSTRUCTORS: &[&str] = &["zeros", "ones", "new", "from_elem", "from_slice", "uninit"];

/// One infallible allocation without a marker.
#[derive(Debug, PartialEq, Eq)]
struct Finding {
    /// `core/onnx/session/run.rs:42`.
    place: String,
    /// The form found, as written up to its first argument.
    form: String,
}

/// The first argument of a call whose `(` is at `open`, as written.
fn first_argument(code: &[char], open: usize) -> String {
    let mut depth = 0i32;
    let mut end = open + 1;
    while end < code.len() {
        match code[end] {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => break,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => break,
            _ => {}
        }
        end += 1;
    }
    code[open + 1..end.min(code.len())]
        .iter()
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Whether a size expression is a constant: integer literals, `ALL_CAPS` names and arithmetic.
fn is_constant(size: &str) -> bool {
    !size.is_empty()
        && size
            .split(|c: char| " +*<>()_".contains(c))
            .filter(|word| !word.is_empty())
            .all(|word| {
                word.chars().all(|c| c.is_ascii_digit())
                    || (word
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                        && word.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
                    || word
                        .trim_end_matches(char::is_alphabetic)
                        .parse::<u64>()
                        .is_ok()
            })
}

/// The identifier path that ends just before `at` (`PyArrayDyn::<f32>` before `::new(`).
fn path_before(code: &[char], at: usize) -> String {
    let mut start = at;
    let mut angle = 0i32;
    while start > 0 {
        let c = code[start - 1];
        match c {
            '>' => angle += 1,
            '<' if angle > 0 => angle -= 1,
            c if c.is_alphanumeric() || c == '_' || c == ':' || angle > 0 => {}
            _ => break,
        }
        start -= 1;
    }
    code[start..at].iter().collect()
}

/// Every infallible allocating form in blanked `code` whose size is not a constant, as
/// (character position, form).
fn infallible_forms(code: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = code.chars().collect();
    let text: String = chars.iter().collect();
    let mut found = Vec::new();
    let at = |needle: &str| -> Vec<usize> {
        let mut positions = Vec::new();
        let needle: Vec<char> = needle.chars().collect();
        for start in 0..chars.len().saturating_sub(needle.len() - 1) {
            if chars[start..start + needle.len()] == needle[..] {
                positions.push(start);
            }
        }
        positions
    };
    let word_before = |position: usize| {
        position > 0 && {
            let c = chars[position - 1];
            c.is_alphanumeric() || c == '_'
        }
    };
    // `vec![x; n]` and `smallvec![x; n]`: the repeat form, with `;` at the top level.
    for name in ["vec![", "smallvec!["] {
        for start in at(name) {
            if word_before(start) {
                continue;
            }
            let open = start + name.len() - 1;
            let mut depth = 0i32;
            let mut index = open + 1;
            let mut count = None;
            while index < chars.len() {
                match chars[index] {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' if depth == 0 => break,
                    ')' | ']' | '}' => depth -= 1,
                    ';' if depth == 0 => count = Some(index),
                    _ => {}
                }
                index += 1;
            }
            if let Some(semicolon) = count {
                let size: String = chars[semicolon + 1..index].iter().collect();
                if !is_constant(size.trim()) {
                    found.push((start, format!("{name}..; {}]", size.trim())));
                }
            }
        }
    }
    for method in METHODS {
        for start in at(&format!(".{method}(")) {
            let open = start + method.len() + 1;
            let size = first_argument(&chars, open);
            if !is_constant(&size) || *method == "to_vec" || *method == "extend_from_slice" {
                found.push((start, format!(".{method}({size})")));
            }
        }
    }
    for start in at("::with_capacity(") {
        let open = start + "::with_capacity".len();
        let size = first_argument(&chars, open);
        if !is_constant(&size) {
            let path = path_before(&chars, start);
            found.push((start, format!("{path}::with_capacity({size})")));
        }
    }
    for constructor in ARRAY_CONSTRUCTORS {
        for start in at(&format!("::{constructor}(")) {
            let path = path_before(&chars, start);
            let array = path
                .split("::")
                .any(|segment| segment.starts_with("PyArray") || segment.starts_with("Array"));
            if array {
                found.push((start, format!("{path}::{constructor}(")));
            }
        }
    }
    found.sort();
    debug_assert_eq!(text.chars().count(), chars.len());
    found
}

/// Whether the line `line` (0-based) of `lines`, or a comment line just above it, holds an
/// `// alloc:` marker with a reason.
fn marked(lines: &[&str], line: usize) -> bool {
    let has_marker = |text: &str| {
        text.split_once("// alloc:")
            .is_some_and(|(_, reason)| !reason.trim().is_empty())
    };
    if lines.get(line).is_some_and(|text| has_marker(text)) {
        return true;
    }
    lines[..line.min(lines.len())]
        .iter()
        .rev()
        .take_while(|text| text.trim_start().starts_with("//"))
        .any(|text| has_marker(text))
}

/// The length of a `#[cfg(...)]` attribute at `start` that enables its item only in tests
/// (`#[cfg(test)]`, `#[cfg(all(test, unix))]`); `None` for anything else.
fn test_attribute(chars: &[char], start: usize) -> Option<usize> {
    let opening: Vec<char> = "#[cfg(".chars().collect();
    if *chars.get(start..start + opening.len())? != opening[..] {
        return None;
    }
    let end = start + chars[start..].iter().position(|&c| c == ']')? + 1;
    let attribute: String = chars[start..end].iter().collect();
    let words: Vec<&str> = attribute
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect();
    (words.contains(&"test") && !attribute.contains("not(") && !attribute.contains("any("))
        .then_some(end - start)
}

/// `code` with every test-only inline module (`#[cfg(test)] mod name { ... }`) blanked, and the
/// test-only child modules it declares (`#[cfg(test)] mod name;`).
fn without_tests(code: &str) -> (String, Vec<String>) {
    let mut chars: Vec<char> = code.chars().collect();
    let mut test_children = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let Some(attribute) = test_attribute(&chars, start) else {
            start += 1;
            continue;
        };
        let rest: String = chars[start + attribute..].iter().collect();
        // Other attributes may stand between the `cfg` and the item.
        let mut item = rest.trim_start();
        while let Some(after) = item.strip_prefix("#[") {
            item = after[after.find(']').map_or(after.len(), |end| end + 1)..].trim_start();
        }
        let offset = start + attribute + (rest.chars().count() - item.chars().count());
        let Some(after_mod) = item
            .strip_prefix("mod ")
            .or_else(|| item.strip_prefix("pub(crate) mod "))
        else {
            start += 1;
            continue;
        };
        let name: String = after_mod
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let after_name = after_mod[name.len()..].trim_start();
        if after_name.starts_with(';') {
            test_children.push(name);
            start += 1;
            continue;
        }
        // Blank from the attribute to the brace that closes the module.
        let mut index = offset;
        while index < chars.len() && chars[index] != '{' {
            index += 1;
        }
        let mut depth = 0;
        while index < chars.len() {
            match chars[index] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            index += 1;
        }
        for c in &mut chars[start..(index + 1).min(code.chars().count())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
        start = index;
    }
    (chars.into_iter().collect(), test_children)
}

/// Every unmarked infallible allocation in `core/` and `py/` under `src`.
fn findings(src: &Path) -> Vec<Finding> {
    let sources = read_sources(src);
    let mut test_modules: Vec<ModulePath> = Vec::new();
    let mut prepared = Vec::new();
    for (relative, text) in &sources {
        let module = module_of(relative);
        let (code, test_children) = without_tests(&blank(text));
        test_modules.extend(test_children.into_iter().map(|child| {
            let mut path = module.clone();
            path.push(child);
            path
        }));
        prepared.push((relative, text, module, code));
    }
    let mut found = Vec::new();
    for (relative, text, module, code) in prepared {
        let name = relative.to_string_lossy().replace('\\', "/");
        let checked = (name.starts_with("core/") || name.starts_with("py/"))
            && !SKIPPED.contains(&name.as_str())
            && !test_modules
                .iter()
                .any(|test| module.starts_with(test.as_slice()));
        if !checked {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        for (position, form) in infallible_forms(&code) {
            let line = code.chars().take(position).filter(|&c| c == '\n').count();
            if !marked(&lines, line) {
                found.push(Finding {
                    place: format!("{name}:{}", line + 1),
                    form,
                });
            }
        }
    }
    found
}

#[test]
fn every_infallible_allocation_is_bounded_and_says_how() {
    let found = findings(&crate_source());
    assert!(
        found.is_empty(),
        "infallible allocations whose size is not a constant: allocate through \
         crate::core::alloc, or say what bounds the size in a `// alloc: <reason>` comment on or \
         just above the line\n{}",
        found
            .iter()
            .map(|f| format!("  {}: {}", f.place, f.form))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn each_form_is_found_unless_marked_constant_or_test_code() {
    let dir = std::env::temp_dir().join(format!("alloc-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("core")).unwrap();
    std::fs::create_dir_all(dir.join("py")).unwrap();
    let write = |path: &str, text: &str| std::fs::write(dir.join(path), text).unwrap();
    write("core/mod.rs", "mod a;\n#[cfg(test)]\nmod fixtures;\n");
    write(
        "core/a.rs",
        "fn f(n: usize, s: &[u8]) {
    let a = vec![0u8; n];
    let b = Vec::<u8>::with_capacity(n * 2);
    let mut c = Vec::new();
    c.reserve(n);
    c.resize(n, 0);
    let d = s.to_vec();
    // alloc: n is at most the header's 16 bytes.
    let e = vec![0u8; n];
    let f = Vec::<u8>::with_capacity(n); // alloc: bounded by the caller's slice
    let g = vec![0u8; 4 * MAX_LEN];
    let h = SmallVec::<[u8; 4]>::with_capacity(1 << 10);
    let i = vec![n, n];
    let j = \"vec![0; n]\"; // vec![0; n]
    let k = unsafe { PyArrayDyn::<f32>::new(py, dims, false) };
    let l = ndarray::Array2::<f64>::zeros((n, n));
    let m = TensorData::zeros(ty, n);
    // alloc:
    let o = vec![1u8; n];
}
#[cfg(test)]
mod tests {
    fn g(n: usize) { let _ = vec![0u8; n]; }
}
#[cfg(all(test, unix))]
#[allow(clippy::single_range_in_vec_init)]
mod unix_tests {
    fn g(n: usize) { let _ = vec![0u8; n]; }
}
#[cfg(not(test))]
mod shipped {
    fn g(n: usize) { let _ = vec![0u8; n]; }
}
",
    );
    write(
        "core/fixtures.rs",
        "fn f(n: usize) { let _ = vec![0; n]; }\n",
    );
    write(
        "py/b.rs",
        "fn f(n: usize) { let _ = PyArray1::<f64>::zeros(py, n, false); }\n",
    );
    let found = findings(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let found: Vec<String> = found
        .iter()
        .map(|f| format!("{} {}", f.place, f.form))
        .collect();
    assert_eq!(
        found,
        [
            "core/a.rs:2 vec![..; n]",
            "core/a.rs:3 Vec::<u8>::with_capacity(n * 2)",
            "core/a.rs:5 .reserve(n)",
            "core/a.rs:6 .resize(n)",
            "core/a.rs:7 .to_vec()",
            "core/a.rs:15 PyArrayDyn::<f32>::new(",
            "core/a.rs:16 ndarray::Array2::<f64>::zeros(",
            // A marker needs a reason.
            "core/a.rs:19 vec![..; n]",
            "core/a.rs:32 vec![..; n]",
            "py/b.rs:1 PyArray1::<f64>::zeros(",
        ]
    );
}

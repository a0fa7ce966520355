//! The registry's layout, in one place: `{root}/{SYMBOL}/{MODEL_TYPE}/{VERSION}/` and the names
//! its folders may have, the `latest` pointer and the version its target names, the version-id
//! grammar, and the keys `SYMBOL:TIMEFRAME:MODEL_TYPE[:VERSION]` that name models and versions.
//!
//! The scan, promotion, validation, the version resolver and the command line all ask here
//! (Python through `_core`), so a version the registry serves is one every command accepts, and
//! one it refuses is refused everywhere for the same reason.

use std::fs::FileType;
use std::path::{Component, Path, PathBuf};

/// The production pointer of a model-type folder; never the name of a folder of the registry.
pub const LATEST: &str = "latest";

/// What separates the parts of a key.
pub const KEY_SEPARATOR: char = ':';

// --- folders -------------------------------------------------------------------------------------

/// Whether `name` can name a SYMBOL, MODEL_TYPE or VERSION folder: one visible path component
/// (hidden names are promotion's lock, intent and temporaries), and not the pointer `latest`.
pub fn is_folder_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name != LATEST
}

/// What an entry of a registry folder is to the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderEntry {
    /// A folder, or a symlink to a folder inside the registry: served.
    Folder,
    /// A symlink that leaves the registry or leads nowhere: refused, for this reason.
    Refused(String),
    /// Anything else (a file, a symlink to a file): not part of the layout.
    Other,
}

/// Classifies the entry at `path` (of type `file_type`, as listed), following a symlink only to
/// see where it leads: a folder it leads to is served only inside `root_real`, the registry's
/// canonical root.
pub fn folder_entry(path: &Path, file_type: FileType, root_real: &Path) -> FolderEntry {
    if file_type.is_dir() {
        return FolderEntry::Folder;
    }
    if !file_type.is_symlink() {
        return FolderEntry::Other;
    }
    match std::fs::canonicalize(path) {
        Ok(real) if real.is_dir() && real.starts_with(root_real) => FolderEntry::Folder,
        Ok(real) if real.is_dir() => FolderEntry::Refused(format!(
            "symlink leaves the registry (points to {})",
            real.display()
        )),
        Ok(_) => FolderEntry::Other,
        Err(error) => FolderEntry::Refused(format!("broken symlink: {error}")),
    }
}

/// The folders of one registry folder, by the layout's rules.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Folders {
    /// Served folders as (name, path), sorted by name.
    pub found: Vec<(String, PathBuf)>,
    /// Refused entries as (path, reason), sorted by path.
    pub refused: Vec<(PathBuf, String)>,
}

/// Lists the folders of `dir` ([`folder_entry`] of every entry with a folder name; names that
/// are not UTF-8 or not [`is_folder_name`] are passed over).
pub fn list_folders(dir: &Path, root_real: &Path) -> std::io::Result<Folders> {
    let mut folders = Folders::default();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !is_folder_name(&name) {
            continue;
        }
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        match folder_entry(&path, file_type, root_real) {
            FolderEntry::Folder => folders.found.push((name, path)),
            FolderEntry::Refused(reason) => folders.refused.push((path, reason)),
            FolderEntry::Other => {}
        }
    }
    folders.found.sort();
    folders.refused.sort();
    Ok(folders)
}

/// The folder names of `path` below `root`: `[SYMBOL, MODEL_TYPE, NAME]` for a version folder or
/// a `latest` entry. Empty when `path` is not below `root`.
pub fn path_parts(root: &Path, path: &Path) -> Vec<String> {
    path.strip_prefix(root)
        .map(|relative| {
            relative
                .components()
                .filter_map(|part| match part {
                    Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The registry root of a version folder `{root}/{SYMBOL}/{MODEL_TYPE}/{VERSION}`.
pub fn registry_root(version_dir: &Path) -> Option<&Path> {
    version_dir.ancestors().nth(3)
}

// --- the latest pointer --------------------------------------------------------------------------

/// The version a `latest` symlink's `target` names when it names a folder beside it in
/// `type_dir`: a plain relative name (`v1`, `./v1`, `v1/`), or an absolute path whose parent is
/// `type_dir` itself. `None` for any other target, which only resolving it can place; a target
/// with `..` is one of those, as a symlinked folder on the way may lead anywhere.
pub fn pointer_version(target: &str, type_dir: &Path) -> Option<String> {
    let target = Path::new(target);
    let mut names = Vec::new();
    for part in target.components() {
        match part {
            Component::Normal(name) => names.push(name.to_str()?),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    let (&name, parents) = names.split_last()?;
    if target.is_relative() {
        return parents.is_empty().then(|| name.to_owned());
    }
    let parent: PathBuf = std::iter::once("/")
        .chain(parents.iter().copied())
        .collect();
    let type_real = std::fs::canonicalize(type_dir).ok()?;
    (parent == type_real).then(|| name.to_owned())
}

// --- version ids ---------------------------------------------------------------------------------

/// The `YYYY-MM-DD` a version id starts with, followed by `_` or nothing, as `(year, month, day)`
/// digits (not checked to be a calendar date).
fn date_prefix(version_id: &str) -> Option<(&str, &str, &str)> {
    let bytes = version_id.as_bytes();
    let shaped = bytes.len() >= 10
        && bytes[..10].iter().enumerate().all(|(i, byte)| {
            if i == 4 || i == 7 {
                *byte == b'-'
            } else {
                byte.is_ascii_digit()
            }
        })
        && !matches!(bytes.get(10), Some(&byte) if byte != b'_');
    // The first ten bytes are ASCII, so these slices fall on character boundaries.
    shaped.then(|| (&version_id[..4], &version_id[5..7], &version_id[8..10]))
}

/// The calendar date a dated version id starts with (`2025-10-30_1h_v1` -> 2025-10-30), when it
/// is a real date (years 1 to 9999, as Python's `datetime`).
pub fn version_date(version_id: &str) -> Option<(u16, u8, u8)> {
    let (year, month, day) = date_prefix(version_id)?;
    let (year, month, day): (u16, u8, u8) =
        (year.parse().ok()?, month.parse().ok()?, day.parse().ok()?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (year >= 1 && (1..=days).contains(&day)).then_some((year, month, day))
}

/// The timeframe of a `{YYYY-MM-DD}_{TIMEFRAME}_v{N}` version id (`2025-10-30_1h_v1` -> `1h`).
pub fn version_timeframe(version_id: &str) -> Option<&str> {
    date_prefix(version_id)?;
    let mut parts = version_id[10..].strip_prefix('_')?.split('_');
    let timeframe = parts.next().filter(|t| !t.is_empty())?;
    let version = parts.next()?;
    let numbered = version.len() > 1
        && version.starts_with('v')
        && version[1..].bytes().all(|b| b.is_ascii_digit());
    (numbered && parts.next().is_none()).then_some(timeframe)
}

// --- keys ----------------------------------------------------------------------------------------

/// `SYMBOL:TIMEFRAME:MODEL_TYPE`, the key of a model (what `select_bundle` looks up).
pub fn model_key(symbol: &str, timeframe: &str, model_type: &str) -> String {
    [symbol, timeframe, model_type].join(":")
}

/// `SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION`, the key of a version (what `get_bundle_by_key` takes).
pub fn version_key(symbol: &str, timeframe: &str, model_type: &str, version_id: &str) -> String {
    [symbol, timeframe, model_type, version_id].join(":")
}

/// A key or a prefix of one, as its parts: one to four non-empty parts, in the order
/// SYMBOL, TIMEFRAME, MODEL_TYPE, VERSION.
pub fn split_key(text: &str) -> Result<Vec<&str>, String> {
    let parts: Vec<&str> = text.split(KEY_SEPARATOR).collect();
    if parts.len() > 4 || parts.iter().any(|part| part.is_empty()) {
        return Err(format!(
            "key {text:?}: expected SYMBOL[:TIMEFRAME[:MODEL_TYPE[:VERSION]]]"
        ));
    }
    Ok(parts)
}

/// What a `KEY` argument names; a part it leaves out is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyParts<'a> {
    /// The symbol.
    pub symbol: &'a str,
    /// The timeframe (never given by the folder form).
    pub timeframe: Option<&'a str>,
    /// The model type.
    pub model_type: Option<&'a str>,
    /// The version.
    pub version: Option<&'a str>,
}

/// Parses a `KEY` argument: a key or a prefix of one ([`split_key`]), or a folder path
/// `SYMBOL/MODEL_TYPE[/VERSION]` (leading and trailing `/` ignored).
pub fn parse_key(text: &str) -> Result<KeyParts<'_>, String> {
    if text.contains('/') {
        let parts: Vec<&str> = text.trim_matches('/').split('/').collect();
        if parts.len() > 3 || parts.iter().any(|part| part.is_empty()) {
            return Err(format!(
                "key {text:?}: expected SYMBOL/MODEL_TYPE[/VERSION]"
            ));
        }
        return Ok(KeyParts {
            symbol: parts[0],
            timeframe: None,
            model_type: parts.get(1).copied(),
            version: parts.get(2).copied(),
        });
    }
    let parts = split_key(text)?;
    Ok(KeyParts {
        symbol: parts[0],
        timeframe: parts.get(1).copied(),
        model_type: parts.get(2).copied(),
        version: parts.get(3).copied(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_visible_single_components_other_than_latest() {
        for name in ["BTCUSDT", "basic", "2025-10-30_12h_v1", "latest2", "a.b"] {
            assert!(is_folder_name(name), "{name}");
        }
        for name in ["", ".", "..", ".hidden", "latest", "a/b", "a\\b", "a\0b"] {
            assert!(!is_folder_name(name), "{name:?}");
        }
    }

    #[test]
    fn version_dates_are_calendar_dates_at_the_start() {
        assert_eq!(version_date("2025-10-30_12h_v1"), Some((2025, 10, 30)));
        assert_eq!(version_date("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(version_date("2025-02-29_x"), None);
        assert_eq!(version_date("2000-02-29_x"), Some((2000, 2, 29)));
        assert_eq!(version_date("1900-02-29_x"), None);
        assert_eq!(version_date("0000-01-01"), None);
        assert_eq!(version_date("2025-13-01"), None);
        assert_eq!(version_date("2025-10-30x"), None);
        assert_eq!(version_date("2025-1-030_x"), None);
        assert_eq!(version_date("v1"), None);
        assert_eq!(version_date("２０２５-10-30"), None);
    }

    #[test]
    fn timeframes_come_from_dated_numbered_ids() {
        assert_eq!(version_timeframe("2025-10-30_12h_v1"), Some("12h"));
        assert_eq!(version_timeframe("2025-13-45_1h_v2"), Some("1h"));
        assert_eq!(version_timeframe("2025-09-16_legacy"), None);
        assert_eq!(version_timeframe("2025-10-30__v1"), None);
        assert_eq!(version_timeframe("2025-10-30_1h_v"), None);
        assert_eq!(version_timeframe("2025-10-30_1h_v1_x"), None);
        assert_eq!(version_timeframe("v1"), None);
    }

    #[test]
    fn keys_format_and_parse() {
        assert_eq!(model_key("BTCUSDT", "1h", "basic"), "BTCUSDT:1h:basic");
        assert_eq!(version_key("B", "1h", "t", "v1"), "B:1h:t:v1");
        assert_eq!(split_key("B:1h").unwrap(), ["B", "1h"]);
        for bad in ["", ":", "a::b", "a:b:c:d:e", "a:"] {
            assert!(
                split_key(bad).unwrap_err().contains("expected SYMBOL"),
                "{bad}"
            );
        }
        let key = parse_key("B:1h:t:v1").unwrap();
        assert_eq!(
            key,
            KeyParts {
                symbol: "B",
                timeframe: Some("1h"),
                model_type: Some("t"),
                version: Some("v1")
            }
        );
        let path = parse_key("/B/t/").unwrap();
        assert_eq!(
            (path.symbol, path.timeframe, path.model_type, path.version),
            ("B", None, Some("t"), None)
        );
        for bad in ["a//b", "a/b/c/d", "/"] {
            assert!(
                parse_key(bad).unwrap_err().contains("SYMBOL/MODEL_TYPE"),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths_split_below_the_root() {
        let root = Path::new("/r/models");
        assert_eq!(
            path_parts(root, Path::new("/r/models/B/t/v1")),
            ["B", "t", "v1"]
        );
        assert!(path_parts(root, Path::new("/elsewhere/B")).is_empty());
        assert_eq!(registry_root(Path::new("/r/models/B/t/v1")), Some(root));
    }

    #[test]
    fn relative_pointer_targets_name_a_sibling() {
        let here = Path::new("/nonexistent-type-dir");
        assert_eq!(pointer_version("v1", here).as_deref(), Some("v1"));
        assert_eq!(pointer_version("./v1/", here).as_deref(), Some("v1"));
        assert_eq!(pointer_version("../t/v1", here), None);
        assert_eq!(pointer_version("a/v1", here), None);
        assert_eq!(pointer_version(".", here), None);
        // An absolute target needs the folder's real path; here there is none.
        assert_eq!(pointer_version("/nonexistent-type-dir/v1", here), None);
    }

    #[cfg(unix)]
    #[test]
    fn absolute_targets_name_a_sibling_of_the_real_folder() {
        let dir = std::env::temp_dir().join(format!("atb-layout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("t")).unwrap();
        let real = std::fs::canonicalize(dir.join("t")).unwrap();
        let target = real.join("v1");
        assert_eq!(
            pointer_version(target.to_str().unwrap(), &dir.join("t")).as_deref(),
            Some("v1")
        );
        let other = real.parent().unwrap().join("v1");
        assert_eq!(
            pointer_version(other.to_str().unwrap(), &dir.join("t")),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn listing_serves_folders_and_symlinks_inside_and_refuses_those_leaving() {
        let base = std::env::temp_dir().join(format!("atb-layout-list-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (root, outside) = (base.join("root"), base.join("outside"));
        for dir in [
            root.join("t/v1"),
            outside.join("v9"),
            root.join("t/.hidden"),
            root.join("t/latest"),
        ] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(root.join("t/file"), "x").unwrap();
        std::os::unix::fs::symlink("v1", root.join("t/v2")).unwrap();
        std::os::unix::fs::symlink(outside.join("v9"), root.join("t/v3")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join("t/v4")).unwrap();
        std::os::unix::fs::symlink("file", root.join("t/v5")).unwrap();
        let root_real = std::fs::canonicalize(&root).unwrap();

        let folders = list_folders(&root.join("t"), &root_real).unwrap();
        let names: Vec<&str> = folders
            .found
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(names, ["v1", "v2"]);
        assert_eq!(folders.refused.len(), 2);
        assert_eq!(folders.refused[0].0, root.join("t/v3"));
        assert_eq!(
            folders.refused[0].1,
            format!(
                "symlink leaves the registry (points to {})",
                std::fs::canonicalize(outside.join("v9")).unwrap().display()
            )
        );
        assert!(folders.refused[1].1.starts_with("broken symlink: "));
        std::fs::remove_dir_all(&base).unwrap();
    }
}

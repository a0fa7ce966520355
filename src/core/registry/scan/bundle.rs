//! Loading one version folder: its JSON documents, parsed and validated, and its model file,
//! chosen and checked cheaply, into a [`BundleRecord`].

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::fingerprint::Fingerprint;
use super::BundleRecord;
use crate::core::error::Error;
use crate::core::registry::files::{confine, open_regular};
use crate::core::registry::json::{read_object, JsonDocument};
use crate::core::registry::layout;
use crate::core::registry::schema::{BundleSchemas, DocumentKind};

/// Reads, parses and validates one version folder.
pub(super) fn load_version(
    symbol: String,
    model_type: String,
    version_id: String,
    directory: &Path,
    root_real: &Path,
    schemas: &BundleSchemas,
    fingerprint: &mut Fingerprint,
) -> std::result::Result<BundleRecord, String> {
    let mut documents: [Option<JsonDocument>; 3] = [None, None, None];
    for (slot, kind) in documents.iter_mut().zip(DocumentKind::ALL) {
        let path = directory.join(kind.file_name());
        // `symlink_metadata`: a dangling symlink or a FIFO is reported, not taken for absent.
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let document =
            read_object(&path, root_real).map_err(|error| describe_document_error(kind, error))?;
        let violations = schemas.violations(kind, &document.value);
        if !violations.is_empty() {
            return Err(format!(
                "{} does not match its schema: {}",
                kind.file_name(),
                summarize(&violations)
            ));
        }
        *slot = Some(document);
    }
    let [metadata, feature_schema, metrics] = documents;

    let model_name = choose_model_file(directory, metadata.as_ref().map(|d| &d.value))?;
    fingerprint.add(directory, &model_name);
    let model_path = directory.join(&model_name);
    check_model_header(&model_path, root_real)
        .map_err(|reason| format!("{model_name}: {reason}"))?;

    let timeframe = metadata
        .as_ref()
        .and_then(|d| d.value.get("timeframe"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| layout::version_timeframe(&version_id).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());

    Ok(BundleRecord {
        symbol,
        model_type,
        version_id,
        timeframe,
        directory: directory.to_path_buf(),
        model_path,
        metadata,
        feature_schema,
        metrics,
    })
}

fn describe_document_error(kind: DocumentKind, error: Error) -> String {
    match error {
        Error::InvalidDocument { reason, .. } => format!("{}: {reason}", kind.file_name()),
        Error::Io { source, .. } => format!("{}: cannot be read: {source}", kind.file_name()),
        other => format!("{}: {other}", kind.file_name()),
    }
}

fn summarize(violations: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = violations
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if violations.len() > SHOWN {
        text.push_str(&format!("; and {} more", violations.len() - SHOWN));
    }
    text
}

/// `metadata.model_file`, else `model.onnx`, else the only `*.onnx` in the folder.
fn choose_model_file(
    directory: &Path,
    metadata: Option<&Value>,
) -> std::result::Result<String, String> {
    if let Some(named) = metadata
        .and_then(|m| m.get("model_file"))
        .and_then(Value::as_str)
    {
        if named.is_empty() || named.contains(['/', '\\']) || named == "." || named == ".." {
            return Err(format!(
                "metadata.json: model_file {named:?} must be a file name inside the bundle"
            ));
        }
        if std::fs::symlink_metadata(directory.join(named)).is_err() {
            return Err(format!(
                "the model file {named:?} named by metadata.json's model_file does not exist"
            ));
        }
        return Ok(named.to_owned());
    }
    if std::fs::symlink_metadata(directory.join("model.onnx")).is_ok() {
        return Ok("model.onnx".to_owned());
    }
    let mut onnx: Vec<String> = std::fs::read_dir(directory)
        .map_err(|e| format!("cannot list the folder: {e}"))?
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".onnx") && !name.starts_with('.'))
        .filter(|name| directory.join(name).is_file())
        .collect();
    onnx.sort();
    match onnx.len() {
        0 => Err(
            "no model file: no model_file in metadata.json, no model.onnx and no other *.onnx"
                .to_owned(),
        ),
        1 => Ok(onnx.remove(0)),
        _ => Err(format!(
            "several model files ({}) and no model_file in metadata.json to choose one",
            onnx.join(", ")
        )),
    }
}

/// Refuses empty files and files whose first bytes cannot start an ONNX protobuf message, without
/// reading the whole model. A model corrupt further in is caught when its session opens. The file
/// must be a regular file inside the registry, like every bundle file.
fn check_model_header(path: &Path, root_real: &Path) -> std::result::Result<(), String> {
    confine(path, root_real).map_err(|e| format!("the file {e}"))?;
    let mut file = open_regular(path).map_err(|e| format!("the file {e}"))?;
    let mut header = [0u8; 2];
    let read = file
        .read(&mut header)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if read == 0 {
        return Err("the model file is empty".to_owned());
    }
    if !is_plausible_model_tag(header[0]) {
        return Err(
            "not an ONNX model (the file does not start like a serialized ModelProto)".to_owned(),
        );
    }
    Ok(())
}

/// Whether `byte` can be the first tag of a `ModelProto`: a known field (1 to 20) with a wire type
/// that field can have (varint or length-delimited).
fn is_plausible_model_tag(byte: u8) -> bool {
    if byte & 0x80 != 0 {
        return false;
    }
    let field = byte >> 3;
    let wire_type = byte & 0x07;
    (1..=20).contains(&field) && (wire_type == 0 || wire_type == 2)
}

/// Whether the model file was chosen without listing the folder (`model_file` or `model.onnx`).
pub(super) fn model_named_explicitly(record: &BundleRecord) -> bool {
    let name = record.model_path.file_name().and_then(|n| n.to_str());
    name == Some("model.onnx") || name.is_some() && record.metadata_str("model_file") == name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_headers_are_checked_cheaply() {
        assert!(is_plausible_model_tag(0x08)); // ir_version, varint
        assert!(is_plausible_model_tag(0x3a)); // graph, length-delimited
        assert!(!is_plausible_model_tag(b'g'));
        assert!(!is_plausible_model_tag(b'{'));
    }
}
